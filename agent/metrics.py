"""Prometheus metrics of one agent, served over HTTP on 127.0.0.1 by default.

The counters follow the messages the agent exchanges with the controller: each Lease names
the job's engine, and each Result carries its outcome, error code, render seconds and the
bytes fetched from the network and from the cache. A lease re-adopted after a restart of
the agent is not counted.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from protos import agent_pb2

logger = logging.getLogger(__name__)

# Seconds; renders take from seconds to hours.
RENDER_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600)


class AgentMetrics:
    """Counts leases, results and fetched bytes of a RenderAgent; serve() starts /metrics."""

    def __init__(self, render_agent: Any) -> None:
        self.registry = CollectorRegistry()
        self.leases = Counter(
            "aefarm_agent_leases", "Leases received from the controller", registry=self.registry
        )
        self.running = Gauge(
            "aefarm_agent_running_leases",
            "Leases received and not yet reported",
            registry=self.registry,
        )
        self.renders = Histogram(
            "aefarm_agent_render_duration_seconds",
            "Seconds aerender ran for a lease, by engine, outcome and error code",
            ["engine", "outcome", "error_code"],
            buckets=RENDER_BUCKETS,
            registry=self.registry,
        )
        self.fetch_bytes = Counter(
            "aefarm_agent_fetch_bytes",
            "Bytes of templates and assets fetched, by source (network or cache)",
            ["source"],
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "aefarm_agent_cache_hit_leases",
            "Results whose fetch stage took some bytes from the cache",
            registry=self.registry,
        )
        self._engines: dict[str, str] = {}
        self._http: Any = None
        self._observe(render_agent)

    def _observe(self, render_agent: Any) -> None:
        # The connection looks on_message up on the agent for each message, and the lease
        # runner calls put on this same outbox for each result, so these wrappers see every
        # lease received and every result stored for sending.
        outbox = render_agent.outbox
        put = outbox.put
        on_message = render_agent.on_message

        def observed_put(result: agent_pb2.Result) -> Any:
            self.on_result(result)
            return put(result)

        async def observed_on_message(message: agent_pb2.ControllerMessage) -> None:
            if message.WhichOneof("body") == "lease":
                self.on_lease(message.lease)
            await on_message(message)

        outbox.put = observed_put
        render_agent.on_message = observed_on_message

    def on_lease(self, lease: agent_pb2.Lease) -> None:
        if lease.lease_id in self._engines:
            return
        self.leases.inc()
        self._engines[lease.lease_id] = lease.task.settings.engine
        self.running.set(len(self._engines))

    def on_result(self, result: agent_pb2.Result) -> None:
        # Only a result of a lease this process received counts, once.
        engine = self._engines.pop(result.lease_id, None)
        if engine is None:
            return
        self.running.set(len(self._engines))
        outcome = "success" if result.success else "failure"
        self.renders.labels(engine, outcome, result.error.code).observe(result.render_seconds)
        self.fetch_bytes.labels("network").inc(result.bytes_fetched)
        self.fetch_bytes.labels("cache").inc(result.bytes_from_cache)
        if result.bytes_from_cache:
            self.cache_hits.inc()

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._http = server
        bound = int(server.server_port)
        logger.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
