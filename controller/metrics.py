"""Prometheus metrics of the controller, served over HTTP on 127.0.0.1 by default.

Gauges (jobs by state, queue depth, oldest queued job, agents by state) are read from the
scheduler at scrape time. Counters and histograms are updated by a write hook of the
coordinator, which receives every effect the scheduler returns.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from controller.coordinator import Coordinator
from controller.scheduler_types import (
    FINAL_STATES,
    GrantLease,
    JobRecord,
    JobState,
    LeaseState,
    StoreLease,
    StoreTransition,
)

logger = logging.getLogger(__name__)

# Seconds; dispatch is event-driven, so most grants take milliseconds.
DISPATCH_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600)
# Seconds; renders take from seconds to hours.
RENDER_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600)


class _SchedulerCollector(Collector):
    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    def collect(self) -> Iterator[GaugeMetricFamily]:
        scheduler = self.coordinator.scheduler
        now = self.coordinator.clock()
        states = Tally(job.state.value for job in scheduler.jobs.values())
        jobs = GaugeMetricFamily(
            "aefarm_jobs", "Jobs the scheduler holds, by state", labels=["state"]
        )
        for state in JobState:
            jobs.add_metric([state.value], states.get(state.value, 0))
        yield jobs

        queued = [job for job in scheduler.jobs.values() if job.state is JobState.QUEUED]
        yield GaugeMetricFamily("aefarm_queue_depth", "Jobs waiting for an agent", len(queued))
        oldest = max((now - job.updated_at for job in queued), default=0.0)
        yield GaugeMetricFamily(
            "aefarm_oldest_queued_job_age_seconds",
            "Seconds the longest-waiting queued job has waited, 0 when none waits",
            oldest,
        )

        agents = GaugeMetricFamily("aefarm_agents", "Known agents, by state", labels=["state"])
        tally = Tally(_agent_state(agent) for agent in scheduler.agents.values())
        for agent_state in ("connected", "draining", "disconnected"):
            agents.add_metric([agent_state], tally.get(agent_state, 0))
        yield agents


def _agent_state(agent: Any) -> str:
    if not agent.connected:
        return "disconnected"
    return "draining" if agent.draining else "connected"


class ControllerMetrics:
    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.registry = CollectorRegistry()
        self.registry.register(_SchedulerCollector(coordinator))
        self.lease_grants = Counter(
            "aefarm_lease_grants", "Leases granted to agents", registry=self.registry
        )
        self.lease_expiries = Counter(
            "aefarm_lease_expiries",
            "Leases that expired without a heartbeat",
            registry=self.registry,
        )
        self.dispatch_latency = Histogram(
            "aefarm_dispatch_latency_seconds",
            "Seconds from a job becoming queued to its lease grant",
            buckets=DISPATCH_BUCKETS,
            registry=self.registry,
        )
        self.render_duration = Histogram(
            "aefarm_render_duration_seconds",
            "Seconds from a lease grant to the job's final state, by engine and outcome",
            ["engine", "outcome", "error_code"],
            buckets=RENDER_BUCKETS,
            registry=self.registry,
        )
        self._queued_at: dict[str, float] = {}
        # job id -> (lease grant time, engine) of its current lease
        self._granted: dict[str, tuple[float, str]] = {}
        coordinator.write_hooks.append(self.observe)
        self._http: Any = None

    def observe(self, effects: list[Any], published: list[JobRecord]) -> None:
        """Update the counters from one batch of scheduler effects."""
        now = self.coordinator.clock()
        jobs = self.coordinator.scheduler.jobs
        transitions = [effect for effect in effects if isinstance(effect, StoreTransition)]
        # One batch can queue a job and grant its lease, in either order of effects.
        for effect in transitions:
            if effect.transition.state is JobState.QUEUED:
                self._queued_at[effect.job_id] = effect.transition.at
        for effect in effects:
            if isinstance(effect, GrantLease):
                self.lease_grants.inc()
                job = jobs.get(effect.job_id)
                self._granted[effect.job_id] = (now, job.engine if job is not None else "")
                queued_at = self._queued_at.pop(effect.job_id, None)
                if queued_at is None and job is not None:
                    # A job submitted queued is stored with no transition effect.
                    queued_at = job.created_at
                if queued_at is not None:
                    self.dispatch_latency.observe(max(now - queued_at, 0.0))
            elif isinstance(effect, StoreLease) and effect.lease.state is LeaseState.EXPIRED:
                self.lease_expiries.inc()
        for effect in transitions:
            if effect.transition.state in FINAL_STATES:
                self._on_final(effect, jobs.get(effect.job_id), now)

    def _on_final(self, effect: StoreTransition, job: JobRecord | None, now: float) -> None:
        self._queued_at.pop(effect.job_id, None)
        granted = self._granted.pop(effect.job_id, None)
        if granted is None:
            return
        granted_at, engine = granted
        code = job.error.code if job is not None and job.error is not None else ""
        labels = (engine, effect.transition.state.value, code)
        self.render_duration.labels(*labels).observe(max(now - granted_at, 0.0))

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve /metrics on host:port (0 picks a free port) and return the port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._http = server
        bound = int(server.server_port)
        logger.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
