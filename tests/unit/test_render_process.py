"""Tests for agent.render_process with fake aerender scripts run as real processes."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from agent.render_process import RenderLimits, RenderOutcome, RenderProcess, StuckExitWatch

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process trees tested on Linux")

# Upper bound for a fake aerender to write its pid file; only a broken test waits this long.
PID_FILE_TIMEOUT = 20.0

# Prepended to every fake aerender: record(role) appends "role pid" to $PID_FILE.
PRELUDE = """
import os, signal, sys, time

def record(role):
    with open(os.environ["PID_FILE"], "a") as pid_file:
        pid_file.write(f"{role} {os.getpid()}\\n")

def detach(role):
    # Leave the session like AfterFX outliving aerender; the child keeps the output pipe.
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            record(role)
            time.sleep(120)
            os._exit(0)
        os._exit(0)

record("root")
"""


@pytest.fixture
def pid_file(tmp_path: Path) -> Iterator[Path]:
    """File the fake aerender writes its pids to; processes still running at the end fail."""
    path = tmp_path / "pids"
    yield path
    leftovers = [pid for pid in read_pids(path).values() if is_running(pid)]
    for pid in leftovers:
        psutil.Process(pid).kill()
    assert leftovers == [], f"processes {leftovers} were left running"


def read_pids(pid_file: Path) -> dict[str, int]:
    text = pid_file.read_text() if pid_file.exists() else ""
    return {line.split()[0]: int(line.split()[1]) for line in text.splitlines() if line}


def is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def fake_aerender(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "aerender"
    script.write_text(f"#!{sys.executable}\n{PRELUDE}\n{body}")
    script.chmod(0o755)
    return script


class Collector:
    """on_output callback that keeps every chunk."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.arrived = asyncio.Event()

    def __call__(self, chunk: bytes) -> None:
        self.data += chunk
        self.arrived.set()


def make_process(
    script: Path,
    pid_file: Path,
    limits: RenderLimits,
    collector: Collector,
    args: tuple[str, ...] = (),
    output_probe: Callable[[], tuple[bool, int]] | None = None,
    finished_probe: Callable[[], bool] | None = None,
) -> RenderProcess:
    env = dict(os.environ, PID_FILE=str(pid_file))
    return RenderProcess(
        [str(script), *args],
        script.parent,
        env,
        limits,
        collector,
        output_probe=output_probe,
        finished_probe=finished_probe,
    )


def run_render(script: Path, pid_file: Path, limits: RenderLimits) -> tuple[RenderOutcome, bytes]:
    async def main() -> tuple[RenderOutcome, bytes]:
        collector = Collector()
        render = make_process(script, pid_file, limits, collector)
        return await render.run(), bytes(collector.data)

    return asyncio.run(main())


def test_normal_exit_returns_exit_code(tmp_path: Path, pid_file: Path) -> None:
    script = fake_aerender(tmp_path, 'print("aerender version 25.6x101")\nsys.exit(7)')

    outcome, output = run_render(script, pid_file, RenderLimits(hang_timeout=30))

    assert outcome.exit_code == 7
    assert outcome.stopped_reason is None
    assert output == b"aerender version 25.6x101\n"
    assert outcome.log_bytes == len(output)
    assert outcome.elapsed > 0


def test_normal_exit_stops_detached_child(tmp_path: Path, pid_file: Path) -> None:
    body = """
detach("afterfx")
deadline = time.monotonic() + 20
while "afterfx" not in open(os.environ["PID_FILE"]).read() and time.monotonic() < deadline:
    time.sleep(0.01)
print("done", flush=True)
"""
    script = fake_aerender(tmp_path, body)

    outcome, output = run_render(
        script, pid_file, RenderLimits(hang_timeout=30, terminate_grace=0.2)
    )

    assert outcome.exit_code == 0
    assert outcome.stopped_reason is None
    assert output == b"done\n"
    assert "afterfx" in read_pids(pid_file)
    assert not is_running(read_pids(pid_file)["afterfx"])


def test_on_output_receives_all_bytes(tmp_path: Path, pid_file: Path) -> None:
    # Every byte value, to stdout and stderr in turn, in writes of varying size.
    body = """
block = bytes(range(256)) * 64
for index in range(64):
    stream = sys.stdout.buffer if index % 2 == 0 else sys.stderr.buffer
    stream.write(block[: 1000 + index * 200])
    stream.flush()
"""
    script = fake_aerender(tmp_path, body)
    block = bytes(range(256)) * 64
    expected = b"".join(block[: 1000 + index * 200] for index in range(64))

    outcome, output = run_render(script, pid_file, RenderLimits(hang_timeout=30))

    assert output == expected
    assert outcome.log_bytes == len(expected)
    assert outcome.exit_code == 0


def test_hang_from_start(tmp_path: Path, pid_file: Path) -> None:
    script = fake_aerender(tmp_path, "time.sleep(120)")

    outcome, output = run_render(
        script, pid_file, RenderLimits(hang_timeout=0.3, terminate_grace=0.2)
    )

    assert outcome.stopped_reason == "hang"
    assert outcome.exit_code is None
    assert output == b""
    assert not is_running(read_pids(pid_file)["root"])


def test_hang_mid_output(tmp_path: Path, pid_file: Path) -> None:
    body = """
for frame in range(1, 4):
    print(f"PROGRESS:  0:00:00:0{frame} ({frame}): 0 Seconds", flush=True)
time.sleep(120)
"""
    script = fake_aerender(tmp_path, body)

    outcome, output = run_render(
        script, pid_file, RenderLimits(hang_timeout=0.3, terminate_grace=0.2)
    )

    assert outcome.stopped_reason == "hang"
    assert outcome.exit_code is None
    assert output.count(b"PROGRESS:") == 3


def test_steady_output_does_not_count_as_hang(tmp_path: Path, pid_file: Path) -> None:
    # 20 lines 0.1 s apart run for 2 s, twice the hang timeout, with no gap near it.
    body = """
for frame in range(20):
    print(f"frame {frame}", flush=True)
    time.sleep(0.1)
"""
    script = fake_aerender(tmp_path, body)

    outcome, output = run_render(script, pid_file, RenderLimits(hang_timeout=1.0))

    assert outcome.stopped_reason is None
    assert outcome.exit_code == 0
    assert output.count(b"frame") == 20


def test_hang_kills_process_ignoring_sigterm(tmp_path: Path, pid_file: Path) -> None:
    body = "signal.signal(signal.SIGTERM, signal.SIG_IGN)\ndetach('afterfx')\ntime.sleep(120)"
    script = fake_aerender(tmp_path, body)

    outcome, _ = run_render(script, pid_file, RenderLimits(hang_timeout=0.5, terminate_grace=0.1))

    assert outcome.stopped_reason == "hang"
    pids = read_pids(pid_file)
    assert not is_running(pids["root"])
    assert not is_running(pids["afterfx"])


def test_max_render_time(tmp_path: Path, pid_file: Path) -> None:
    body = """
while True:
    print("PROGRESS:  still rendering", flush=True)
    time.sleep(0.02)
"""
    script = fake_aerender(tmp_path, body)
    limits = RenderLimits(hang_timeout=30, max_render_time=0.5, terminate_grace=0.2)

    outcome, output = run_render(script, pid_file, limits)

    assert outcome.stopped_reason == "max_render_time"
    assert outcome.exit_code is None
    assert b"still rendering" in output


STUCK_BODY = """
output = sys.argv[1]
print("PROGRESS:  0:00:00:00 (1): 0 Seconds", flush=True)
with open(output, "wb") as movie:
    movie.write(b"x" * 1000)
print("PROGRESS:  3/2/2026 9:41:07 AM: Finished composition Main.", flush=True)
detach("afterfx")
"""


def run_with_probes(
    script: Path, pid_file: Path, limits: RenderLimits, output: Path
) -> tuple[RenderOutcome, bytes]:
    """Run with probes that read the log for the finished line and stat the output file."""

    async def main() -> tuple[RenderOutcome, bytes]:
        collector = Collector()

        def output_probe() -> tuple[bool, int]:
            return (True, output.stat().st_size) if output.exists() else (False, 0)

        def finished_probe() -> bool:
            return b"Finished composition" in collector.data

        render = make_process(
            script, pid_file, limits, collector, (str(output),), output_probe, finished_probe
        )
        return await render.run(), bytes(collector.data)

    return asyncio.run(main())


def test_stuck_exit_completes_after_grace(tmp_path: Path, pid_file: Path) -> None:
    script = fake_aerender(tmp_path, STUCK_BODY + "time.sleep(120)")
    limits = RenderLimits(hang_timeout=30, stuck_exit_grace=0.2, terminate_grace=0.2)

    outcome, output = run_with_probes(script, pid_file, limits, tmp_path / "out.mp4")

    assert outcome.stopped_reason == "stuck_exit"
    assert outcome.exit_code is None
    assert b"Finished composition" in output
    pids = read_pids(pid_file)
    assert not is_running(pids["root"])
    assert not is_running(pids["afterfx"])


def test_stuck_exit_waits_for_growing_output(tmp_path: Path, pid_file: Path) -> None:
    body = """
while True:
    with open(output, "ab") as movie:
        movie.write(b"y")
    time.sleep(0.005)
"""
    script = fake_aerender(tmp_path, STUCK_BODY + body)
    limits = RenderLimits(
        hang_timeout=30, max_render_time=1.5, stuck_exit_grace=0.5, terminate_grace=0.2
    )

    outcome, _ = run_with_probes(script, pid_file, limits, tmp_path / "out.mp4")

    assert outcome.stopped_reason == "max_render_time"


def test_stuck_exit_needs_complete_output(tmp_path: Path, pid_file: Path) -> None:
    script = fake_aerender(tmp_path, STUCK_BODY + "time.sleep(120)")
    limits = RenderLimits(
        hang_timeout=30, max_render_time=1.0, stuck_exit_grace=0.1, terminate_grace=0.2
    )

    async def main() -> RenderOutcome:
        collector = Collector()
        render = make_process(
            script,
            pid_file,
            limits,
            collector,
            (str(tmp_path / "out.mp4"),),
            output_probe=lambda: (False, 1000),
            finished_probe=lambda: True,
        )
        return await render.run()

    outcome = asyncio.run(main())

    assert outcome.stopped_reason == "max_render_time"


def test_growing_output_does_not_count_as_hang(tmp_path: Path, pid_file: Path) -> None:
    # No log lines at all, but the output grows every 0.05 s for three hang timeouts.
    body = """
deadline = time.monotonic() + 1.5
while time.monotonic() < deadline:
    with open(sys.argv[1], "ab") as movie:
        movie.write(b"frame")
    time.sleep(0.05)
"""
    script = fake_aerender(tmp_path, body)
    limits = RenderLimits(hang_timeout=0.5, terminate_grace=0.2)

    outcome, output = run_with_probes(script, pid_file, limits, tmp_path / "out.mov")

    assert outcome.stopped_reason is None
    assert outcome.exit_code == 0
    assert output == b""


def test_unchanged_output_counts_as_hang(tmp_path: Path, pid_file: Path) -> None:
    body = """
with open(sys.argv[1], "wb") as movie:
    movie.write(b"header")
time.sleep(120)
"""
    script = fake_aerender(tmp_path, body)
    limits = RenderLimits(hang_timeout=0.3, terminate_grace=0.2)

    outcome, _ = run_with_probes(script, pid_file, limits, tmp_path / "out.mov")

    assert outcome.stopped_reason == "hang"


def test_cancel_stops_tree(tmp_path: Path, pid_file: Path) -> None:
    body = 'detach("afterfx")\nprint("rendering", flush=True)\ntime.sleep(120)'
    script = fake_aerender(tmp_path, body)

    async def main() -> tuple[RenderOutcome, dict[str, int], list[int]]:
        collector = Collector()
        render = make_process(
            script, pid_file, RenderLimits(hang_timeout=30, terminate_grace=0.2), collector
        )
        task = asyncio.create_task(render.run())
        await collector.arrived.wait()
        deadline = time.monotonic() + PID_FILE_TIMEOUT
        while "afterfx" not in read_pids(pid_file) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        pids = read_pids(pid_file)

        await render.cancel()
        running_after_cancel = [pid for pid in pids.values() if is_running(pid)]
        return await task, pids, running_after_cancel

    outcome, pids, running_after_cancel = asyncio.run(main())

    assert outcome.stopped_reason == "cancelled"
    assert outcome.exit_code is None
    assert set(pids) == {"root", "afterfx"}
    assert running_after_cancel == []


def test_cancel_before_run(tmp_path: Path, pid_file: Path) -> None:
    script = fake_aerender(tmp_path, "time.sleep(120)")

    async def main() -> RenderOutcome:
        render = make_process(script, pid_file, RenderLimits(), Collector())
        await render.cancel()
        return await render.run()

    outcome = asyncio.run(main())

    assert outcome.stopped_reason == "cancelled"
    assert outcome.exit_code is None
    assert read_pids(pid_file) == {}


def test_cancelled_task_stops_tree(tmp_path: Path, pid_file: Path) -> None:
    script = fake_aerender(tmp_path, 'print("rendering", flush=True)\ntime.sleep(120)')

    async def main() -> None:
        collector = Collector()
        render = make_process(
            script, pid_file, RenderLimits(hang_timeout=30, terminate_grace=0.2), collector
        )
        task = asyncio.create_task(render.run())
        await collector.arrived.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())

    assert not is_running(read_pids(pid_file)["root"])


def test_on_output_error_stops_tree(tmp_path: Path, pid_file: Path) -> None:
    script = fake_aerender(tmp_path, 'print("rendering", flush=True)\ntime.sleep(120)')

    def failing_parser(chunk: bytes) -> None:
        raise RuntimeError("parser failed")

    async def main() -> None:
        env = dict(os.environ, PID_FILE=str(pid_file))
        render = RenderProcess(
            [str(script)], tmp_path, env, RenderLimits(hang_timeout=30), failing_parser
        )
        await render.run()

    with pytest.raises(RuntimeError, match="parser failed"):
        asyncio.run(main())

    assert not is_running(read_pids(pid_file)["root"])


def test_missing_binary_raises(tmp_path: Path) -> None:
    render = RenderProcess(
        [str(tmp_path / "missing-aerender")], tmp_path, {}, RenderLimits(), lambda chunk: None
    )

    with pytest.raises(FileNotFoundError):
        asyncio.run(render.run())


def test_logs_name_pid_and_reason(
    tmp_path: Path, pid_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = fake_aerender(tmp_path, "time.sleep(120)")
    caplog.set_level(logging.INFO, logger="agent.render_process")

    async def main() -> None:
        env = dict(os.environ, PID_FILE=str(pid_file))
        render = RenderProcess(
            [str(script)],
            tmp_path,
            env,
            RenderLimits(hang_timeout=0.2, terminate_grace=0.1),
            lambda chunk: None,
            log_context="job=j1 lease=l1 attempt=1 agent=a1",
        )
        await render.run()

    asyncio.run(main())

    root = read_pids(pid_file)["root"]
    messages = [record.getMessage() for record in caplog.records]
    started = [m for m in messages if m.startswith("started")]
    stopping = [m for m in messages if m.startswith("stopping")]
    assert len(started) == 1
    assert str(script) in started[0]
    assert f"pid {root}" in started[0]
    assert "job=j1 lease=l1 attempt=1 agent=a1" in started[0]
    assert len(stopping) == 1
    assert f"pid {root}: hang" in stopping[0]
    assert str(script) in stopping[0]


def test_run_twice_raises(tmp_path: Path, pid_file: Path) -> None:
    script = fake_aerender(tmp_path, "pass")

    async def main() -> None:
        render = make_process(script, pid_file, RenderLimits(hang_timeout=30), Collector())
        await render.run()
        await render.run()

    with pytest.raises(RuntimeError, match="already called"):
        asyncio.run(main())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hang_timeout", 0.0),
        ("max_render_time", -1.0),
        ("stuck_exit_grace", -1.0),
        ("terminate_grace", -0.5),
    ],
)
def test_limits_reject_invalid_values(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RenderLimits(**{field: value})


def test_stuck_exit_watch_needs_two_equal_probes() -> None:
    watch = StuckExitWatch(grace=10.0)

    assert watch.observe(0.0, True, (True, 500)) is False
    assert watch.observe(1.0, True, (True, 500)) is False
    assert watch.observe(10.5, True, (True, 500)) is False
    assert watch.observe(11.0, True, (True, 500)) is True


def test_stuck_exit_watch_restarts_on_change() -> None:
    watch = StuckExitWatch(grace=10.0)
    watch.observe(0.0, True, (True, 500))
    watch.observe(1.0, True, (True, 500))

    assert watch.observe(5.0, True, (True, 600)) is False
    assert watch.observe(6.0, True, (True, 600)) is False
    assert watch.observe(12.0, True, (True, 600)) is False
    assert watch.observe(16.0, True, (True, 600)) is True


def test_stuck_exit_watch_restarts_when_not_ready() -> None:
    watch = StuckExitWatch(grace=10.0)
    watch.observe(0.0, True, (True, 500))
    watch.observe(1.0, True, (True, 500))

    assert watch.observe(2.0, True, (False, 500)) is False
    assert watch.observe(20.0, True, (True, 500)) is False
    assert watch.observe(21.0, False, (True, 500)) is False
    assert watch.observe(40.0, True, (True, 500)) is False
