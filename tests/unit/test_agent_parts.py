"""Parts of the agent: backoff, the status table, progress batching, workspaces, verification."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import grpc
import pytest

from agent.aerender_log import AerenderLog
from agent.backoff import Backoff, BackoffSettings, sleep_unless
from agent.codecs import Encode
from agent.encode import encode_args
from agent.errors import LeaseFailure
from agent.grpc_status import STATUS_ACTIONS, Action, action_for, is_retryable
from agent.lease_context import LeaseContext, LeaseContextFilter, LeaseLogger, current_lease
from agent.media import parse_probe_output
from agent.progress import LeaseReporter
from agent.render_process import RenderOutcome
from agent.verify import check_outcome, find_outputs, verify_outputs
from agent.workspace import Workspaces
from protos import agent_pb2, common_pb2

CONTEXT = LeaseContext(lease_id="l" * 32, job_id="job1", attempt=2, agent_id="box1")


def test_backoff_doubles_to_cap_with_jitter() -> None:
    backoff = Backoff(BackoffSettings(initial=0.5, maximum=30, jitter=0.5), random.Random(7))
    delays = [backoff.next_delay() for _ in range(12)]
    bases = [min(30.0, 0.5 * 2**n) for n in range(12)]
    for delay, base in zip(delays, bases, strict=True):
        assert base * 0.5 <= delay <= base
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_backoff_survives_long_outage() -> None:
    backoff = Backoff(BackoffSettings(maximum=30))
    backoff.failures = 10_000
    assert backoff.next_delay() <= 30


def test_sleep_cut_short_by_event() -> None:
    async def scenario() -> tuple[bool, bool]:
        event = asyncio.Event()
        timed_out = await sleep_unless(event, 0.01)
        event.set()
        cut = await sleep_unless(event, 3600)
        return timed_out, cut

    assert asyncio.run(scenario()) == (False, True)


def test_status_table_covers_every_code() -> None:
    assert set(STATUS_ACTIONS) == set(grpc.StatusCode)
    assert action_for(grpc.StatusCode.UNAVAILABLE) is Action.RETRY
    assert action_for(grpc.StatusCode.DEADLINE_EXCEEDED) is Action.RETRY
    assert action_for(grpc.StatusCode.UNAUTHENTICATED) is Action.RETRY_SLOWLY
    assert action_for(grpc.StatusCode.PERMISSION_DENIED) is Action.RETRY_SLOWLY
    assert not is_retryable(grpc.StatusCode.NOT_FOUND)
    assert is_retryable(None)


def sent_messages() -> tuple[list[agent_pb2.AgentMessage], object]:
    sent: list[agent_pb2.AgentMessage] = []

    def send(message: agent_pb2.AgentMessage) -> bool:
        sent.append(message)
        return True

    return sent, send


def test_progress_throttled_and_flushed() -> None:
    async def scenario() -> list[agent_pb2.AgentMessage]:
        sent, send = sent_messages()
        reporter = LeaseReporter(CONTEXT, send, progress_interval=3600)  # type: ignore[arg-type]
        reporter.set_stage(common_pb2.STAGE_RENDER)
        for frame in range(1, 11):
            reporter.progress(frame * 10.0, frame, 10)
        reporter.set_stage(common_pb2.STAGE_UPLOAD)
        reporter.close()
        return sent

    progress = [m.progress for m in asyncio.run(scenario())]
    # The stage message starts the interval, so the updates wait, and only the last one goes
    # out, when the next stage begins. The frame counts carry over into the next stage.
    assert [(p.stage, p.frames_done) for p in progress] == [
        (common_pb2.STAGE_RENDER, 0),
        (common_pb2.STAGE_RENDER, 10),
        (common_pb2.STAGE_UPLOAD, 10),
    ]
    assert progress[0].percent == -1
    assert progress[1].percent == 100
    assert all(p.lease_id == CONTEXT.lease_id and p.attempt == 2 for p in progress)


def test_log_batched_with_offsets(tmp_path: Path) -> None:
    async def scenario() -> list[agent_pb2.AgentMessage]:
        sent, send = sent_messages()
        reporter = LeaseReporter(
            CONTEXT,
            send,  # type: ignore[arg-type]
            log_file=tmp_path / "aerender.log",
            log_interval=3600,
            log_batch_bytes=10,
        )
        for piece in (b"abc", b"defghij", b"klmnopqrstuvwxyz", b"!"):
            reporter.log(piece)
        reporter.close()
        return sent

    chunks = [m.log for m in asyncio.run(scenario())]
    assert all(len(c.data) <= 10 for c in chunks)
    assert [c.offset for c in chunks] == [0, 10, 20, 26]
    assert b"".join(c.data for c in chunks) == b"abcdefghijklmnopqrstuvwxyz!"
    assert (tmp_path / "aerender.log").read_bytes() == b"abcdefghijklmnopqrstuvwxyz!"


def test_log_capped_in_file_and_stream(tmp_path: Path) -> None:
    async def scenario() -> list[agent_pb2.AgentMessage]:
        sent, send = sent_messages()
        reporter = LeaseReporter(
            CONTEXT,
            send,  # type: ignore[arg-type]
            log_file=tmp_path / "aerender.log",
            log_interval=3600,
            max_log_bytes=100,
        )
        for _ in range(50):
            reporter.log(b"PROGRESS: looping\n")
        reporter.close()
        return sent

    streamed = b"".join(m.log.data for m in asyncio.run(scenario()))
    kept = (tmp_path / "aerender.log").read_bytes()
    assert streamed == kept
    # The first 100 bytes are kept whole, then one marker line, then nothing.
    assert kept.startswith((b"PROGRESS: looping\n" * 6)[:100] + b"\n[aefarm: the log reached")
    assert kept.endswith(b"later output of this lease is not kept]\n")
    assert kept.count(b"looping") == 5


def test_log_sent_after_interval() -> None:
    async def scenario() -> list[agent_pb2.AgentMessage]:
        sent, send = sent_messages()
        reporter = LeaseReporter(CONTEXT, send, log_interval=0.01)  # type: ignore[arg-type]
        reporter.log(b"PROGRESS: start\n")
        while not sent:
            await asyncio.sleep(0.01)
        reporter.close()
        return sent

    assert asyncio.run(scenario())[0].log.data == b"PROGRESS: start\n"


def test_dropped_messages_counted() -> None:
    async def scenario() -> int:
        reporter = LeaseReporter(CONTEXT, lambda message: False)
        reporter.set_stage(common_pb2.STAGE_DOWNLOAD)
        reporter.log(b"x")
        reporter.close()
        return reporter.dropped_messages

    assert asyncio.run(scenario()) == 2


def test_log_lines_carry_lease_ids(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("agent.test")
    caplog.handler.addFilter(LeaseContextFilter())
    token = current_lease.set(CONTEXT)
    try:
        logger.warning("inside")
    finally:
        current_lease.reset(token)
    LeaseLogger(logger, CONTEXT).warning("outside")
    logger.warning("unrelated")
    inside, outside, unrelated = caplog.records
    for record in (inside, outside):
        assert record.lease_id == CONTEXT.lease_id  # type: ignore[attr-defined]
        assert record.job_id == "job1"  # type: ignore[attr-defined]
        assert record.attempt == 2  # type: ignore[attr-defined]
        assert record.agent_id == "box1"  # type: ignore[attr-defined]
        assert record.lease_prefix.startswith("job=job1 lease=l")  # type: ignore[attr-defined]
    assert unrelated.lease_prefix == ""  # type: ignore[attr-defined]


def test_workspaces_keep_last_failed(tmp_path: Path) -> None:
    workspaces = Workspaces(tmp_path / "leases", keep_failed=2)
    done = workspaces.create("a" * 32)
    assert done.name == "a" * 8
    workspaces.release("a" * 32)
    assert not done.exists()

    failed = []
    for letter in "bcd":
        path = workspaces.create(letter * 32)
        workspaces.mark_failed(path)
        failed.append(path)
        workspaces.release(letter * 32)
    assert [path.exists() for path in failed] == [False, True, True]


def test_workspace_short_name_collision(tmp_path: Path) -> None:
    workspaces = Workspaces(tmp_path / "leases")
    first = workspaces.create("12345678" + "a" * 24)
    second = workspaces.create("12345678" + "b" * 24)
    assert first != second
    assert workspaces.find("12345678" + "b" * 24) == second


def test_workspaces_cleaned_at_start(tmp_path: Path) -> None:
    workspaces = Workspaces(tmp_path / "leases")
    stale = workspaces.create("e" * 32)
    failed = workspaces.create("f" * 32)
    workspaces.mark_failed(failed)
    Workspaces(tmp_path / "leases").clean_at_start()
    assert not stale.exists()
    assert failed.exists()


def test_find_outputs_changed_extension(tmp_path: Path) -> None:
    (tmp_path / "result.mov").write_bytes(b"x")
    assert find_outputs(tmp_path / "result.mp4", sequence=False) == [tmp_path / "result.mov"]


def test_find_outputs_sequence(tmp_path: Path) -> None:
    for frame in (12, 10, 11):
        (tmp_path / f"result_{frame:05d}.png").write_bytes(b"x")
    (tmp_path / "result_notes.png").write_bytes(b"x")
    found = find_outputs(tmp_path / "result_[#####].png", sequence=True)
    assert [p.name for p in found] == ["result_00010.png", "result_00011.png", "result_00012.png"]


def test_find_outputs_none(tmp_path: Path) -> None:
    assert find_outputs(tmp_path / "missing" / "result.mp4", sequence=False) == []


def outcome(exit_code: int | None = 0, reason: str | None = None) -> RenderOutcome:
    return RenderOutcome(exit_code=exit_code, stopped_reason=reason, elapsed=1.0, log_bytes=10)


def failure(run_outcome: RenderOutcome, log_text: bytes = b"", **kwargs: bool) -> LeaseFailure:
    log = AerenderLog(10)
    log.feed(log_text)
    log.close()
    with pytest.raises(LeaseFailure) as caught:
        check_outcome(run_outcome, log, allow_missing_fonts=kwargs.get("allow", False))
    return caught.value


@pytest.mark.parametrize(
    ("reason", "code", "retryable"),
    [("hang", "render_hang", True), ("max_render_time", "render_timeout", True)],
)
def test_stopped_reasons(reason: str, code: str, retryable: bool) -> None:
    error = failure(outcome(None, reason))
    assert error.code == code
    assert error.retryable == retryable


@pytest.mark.parametrize(("exit_code", "retryable"), [(3, False), (7, False), (9, True), (1, True)])
def test_exit_codes(exit_code: int, retryable: bool) -> None:
    error = failure(outcome(exit_code))
    assert error.code == "render_error"
    assert f"code {exit_code}" in error.message
    assert error.retryable == retryable


def test_stuck_exit_is_not_a_failure() -> None:
    log = AerenderLog(10)
    check_outcome(outcome(None, "stuck_exit"), log, allow_missing_fonts=False)


def test_fatal_finding_code_wins() -> None:
    error = failure(outcome(7), b"aerender ERROR: No comp was found with the given name.\n")
    assert error.code != "render_error"


def test_missing_fonts_fail_unless_allowed() -> None:
    text = b"WARNING:After Effects warning: Project has missing fonts.\n"
    assert failure(outcome(0), text).code == "missing_fonts"
    log = AerenderLog(10)
    log.feed(text)
    log.close()
    check_outcome(outcome(0), log, allow_missing_fonts=True)


def test_silent_exit_and_missing_output(tmp_path: Path) -> None:
    silent = AerenderLog(10)
    silent.feed(b"aerender version 26.0x55\nPROGRESS: Launching After Effects...\n")
    silent.close()
    with pytest.raises(LeaseFailure) as caught:
        asyncio.run(verify_outputs([], silent, expected_frames=10, sequence=False))
    assert caught.value.code == "silent_exit"

    rendered = AerenderLog(10)
    rendered.feed(b"PROGRESS:  0:00:00:00 (1): 0 Seconds\n")
    rendered.close()
    with pytest.raises(LeaseFailure) as caught:
        asyncio.run(verify_outputs([], rendered, expected_frames=10, sequence=False))
    assert caught.value.code == "output_missing"


def test_empty_output_incomplete(tmp_path: Path) -> None:
    empty = tmp_path / "result.mp4"
    empty.write_bytes(b"")
    with pytest.raises(LeaseFailure) as caught:
        asyncio.run(verify_outputs([empty], AerenderLog(), expected_frames=1, sequence=False))
    assert caught.value.code == "output_incomplete"


def test_probe_output_parsed() -> None:
    text = (
        "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'result.mp4':\n"
        "  Duration: 00:00:02.00, start: 0.000000, bitrate: 36 kb/s\n"
        "  Stream #0:0(und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), "
        "320x180 [SAR 1:1 DAR 16:9], 36 kb/s, 25 fps, 25 tbr, 12800 tbn (default)\n"
        "  Stream #0:1(und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo\n"
        "Output #0, null, to 'pipe:':\n"
        "  Stream #0:0(und): Video: h264, 320x180, q=2-31, 25 fps\n"
        "frame=   24 fps=0.0 q=-1.0 size=N/A\n"
        "frame=   50 fps=0.0 q=-1.0 Lsize=N/A time=00:00:01.96\n"
    )
    info = parse_probe_output(text)
    assert info.frames == 50
    assert info.duration == 2.0
    assert (info.width, info.height) == (320, 180)
    assert info.frame_rate == 25.0
    assert info.has_audio


def test_encode_rate_control_flags(tmp_path: Path) -> None:
    cbr = encode_args(
        tmp_path / "i.mov", Encode("h264", 5_000, "cbr"), tmp_path, stem="result", first_frame=0
    )
    assert cbr[cbr.index("-b:v") + 1] == "5000k"
    assert cbr[cbr.index("-minrate") + 1] == "5000k"
    assert cbr[cbr.index("-maxrate") + 1] == "5000k"
    assert cbr[cbr.index("-bufsize") + 1] == "5000k"
    vbr = encode_args(
        tmp_path / "i.mov", Encode("h264", 1_000, "vbr"), tmp_path, stem="result", first_frame=0
    )
    assert vbr[vbr.index("-maxrate") + 1] == "2000k"
    assert "-minrate" not in vbr
    png = encode_args(tmp_path / "i.mov", Encode("png"), tmp_path, stem="result", first_frame=7)
    assert png[png.index("-start_number") + 1] == "7"
    assert png[-1] == str(tmp_path / "result_%05d.png")
