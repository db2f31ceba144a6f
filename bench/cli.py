"""scripts/bench: run the benchmarks, print a table, and with --json one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from bench import agent_bench, artifacts_bench, measures, peer, scale
from bench.figures import Section
from bench.report import run_object, table
from bench.swarm_worker import raise_open_file_limit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does; --quick picks the small set."""

    dispatch_samples: int
    promotion_samples: int
    throughput_jobs: int
    throughput_agents: int
    drain_jobs: int
    batch_parents: int
    efficiency_jobs: int
    efficiency_render_seconds: float
    agent_levels: tuple[int, ...]
    scale_samples: int
    rest_seconds: float
    stored_levels: tuple[int, ...]
    artifact_sizes_mib: tuple[int, ...]
    agent_jobs: int
    peer_pickups: int
    peer_zero_jobs: int
    peer_slow_jobs: int


FULL = Sizes(
    dispatch_samples=1000,
    promotion_samples=300,
    throughput_jobs=10_000,
    throughput_agents=50,
    drain_jobs=5000,
    batch_parents=2500,
    efficiency_jobs=200,
    efficiency_render_seconds=2.0,
    agent_levels=(10, 100, 1000, 5000),
    scale_samples=200,
    rest_seconds=10.0,
    stored_levels=(1000, 10_000, 100_000),
    artifact_sizes_mib=(64, 512),
    agent_jobs=8,
    peer_pickups=10,
    peer_zero_jobs=24,
    peer_slow_jobs=16,
)
QUICK = Sizes(
    dispatch_samples=100,
    promotion_samples=30,
    throughput_jobs=1000,
    throughput_agents=20,
    drain_jobs=1000,
    batch_parents=250,
    efficiency_jobs=40,
    efficiency_render_seconds=0.5,
    agent_levels=(10, 100),
    scale_samples=50,
    rest_seconds=2.0,
    stored_levels=(1000,),
    artifact_sizes_mib=(8, 32),
    agent_jobs=3,
    peer_pickups=2,
    peer_zero_jobs=4,
    peer_slow_jobs=4,
)

Benchmark = Callable[[Path, Sizes], Awaitable[Section]]
BENCHMARKS: dict[str, Benchmark] = {
    "dispatch": lambda root, s: measures.dispatch_latency(root, s.dispatch_samples),
    "promotion": lambda root, s: measures.parent_promotion(root, s.promotion_samples),
    "throughput": lambda root, s: measures.throughput(root, s.throughput_jobs, s.throughput_agents),
    "drain": lambda root, s: measures.queue_drain(root, s.drain_jobs, s.throughput_agents),
    "batch": lambda root, s: measures.batch_submit(root, s.batch_parents),
    "efficiency": lambda root, s: measures.farm_efficiency(
        root, s.efficiency_jobs, s.efficiency_render_seconds
    ),
    "agents": lambda root, s: scale.scale_agents(
        root, list(s.agent_levels), s.scale_samples, s.rest_seconds
    ),
    "stored": lambda root, s: scale.stored_jobs(
        root, list(s.stored_levels), s.scale_samples, s.rest_seconds
    ),
    "artifacts": lambda root, s: artifacts_bench.artifact_transfer(
        root, list(s.artifact_sizes_mib)
    ),
    "agent": lambda root, s: agent_bench.agent_overhead(root, s.agent_jobs),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmark aefarm against real controller processes on 127.0.0.1.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes; under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object, no table")
    parser.add_argument(
        "--only",
        default="",
        metavar="NAMES",
        help=f"comma-separated benchmarks to run, of: {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument(
        "--peer",
        choices=["nexrender"],
        help="also run nexrender from npm side by side with aefarm, in a temporary folder",
    )
    parser.add_argument(
        "--plots", type=Path, metavar="DIR", help="write benchmarks-*.png plots into DIR"
    )
    parser.add_argument(
        "--work-dir", type=Path, help="folder for data dirs and logs (default: a temporary one)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder with the logs"
    )
    return parser


async def run(names: list[str], sizes: Sizes, root: Path, peer_name: str | None) -> list[Section]:
    sections = []
    for name in names:
        started = time.monotonic()
        logger.info("running %s", name)
        try:
            section = await BENCHMARKS[name](root, sizes)
        except (grpc.RpcError, OSError, RuntimeError, TimeoutError) as error:
            # One broken benchmark must not cost the figures of the others.
            logger.exception("benchmark %s failed", name)
            section = Section(name, notes=[f"failed: {type(error).__name__}: {error}"])
        section.parameters["wall_seconds"] = round(time.monotonic() - started, 1)
        sections.append(section)
    if peer_name == "nexrender":
        started = time.monotonic()
        section = await asyncio.to_thread(
            peer.peer_nexrender,
            root / "peer",
            sizes.peer_pickups,
            sizes.peer_zero_jobs,
            sizes.peer_slow_jobs,
        )
        section.parameters["wall_seconds"] = round(time.monotonic() - started, 1)
        sections.append(section)
    return sections


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING if args.json else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
    )
    names = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(
            f"scripts/bench: unknown benchmark {', '.join(unknown)} in --only; "
            f"pick from {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    raise_open_file_limit()
    sizes = QUICK if args.quick else FULL
    root = args.work_dir or Path(tempfile.mkdtemp(prefix="aefarm-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    load_before = [round(value, 2) for value in os.getloadavg()]
    try:
        sections = asyncio.run(run(names, sizes, root, args.peer))
    finally:
        if args.work_dir is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        elif args.keep or args.work_dir:
            print(f"logs and data dirs are in {root}", file=sys.stderr)
    arguments = {
        "quick": args.quick,
        "only": names,
        "peer": args.peer,
        "argv": sys.argv[1:],
        "load_average_before": load_before,
    }
    result = run_object(sections, arguments)
    if args.plots is not None:
        from bench.plots import draw

        args.plots.mkdir(parents=True, exist_ok=True)
        for path in draw(result, args.plots):
            logger.info("wrote %s", path)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        machine = result["machine"]
        print(
            f"{machine['date']}, {machine['cores']} cores, {machine['cpu_model']}, "
            f"{machine['ram_gib']} GiB, load {machine['load_average']}"
        )
        print(table(sections))
    return 0
