"""The CLI's tables, job trees, job details and progress lines."""

from __future__ import annotations

import io
from typing import Any

from controller.cli import format as text
from controller.cli.display import LiveDisplay, TreeState
from protos import common_pb2, jobs_pb2


def job(job_id: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": job_id,
        "state": "queued",
        "stage": None,
        "progress": None,
        "parent": None,
        "children": [],
        "attempts": 0,
        "outputs": [],
        "error": None,
        "history": [],
        "kind": "render",
        "layer_name": None,
        "priority": 0,
        "composition": None,
        "engine": "ae2026",
        "agent": None,
        "created_at": None,
        "updated_at": None,
        "frames_done": 0,
        "frames_total": None,
        "uid": None,
        "tags": [],
    }
    base.update(fields)
    return base


def test_table_aligns_columns() -> None:
    table = text.render_table(("id", "state"), [("a", "queued"), ("bbbb", "failed")])

    assert table.splitlines() == ["ID    STATE", "a     queued", "bbbb  failed"]


def test_table_has_no_trailing_spaces() -> None:
    table = text.render_table(("id", "parent"), [("a", ""), ("b", "x")])

    for line in table.splitlines():
        assert line == line.rstrip()


def test_progress_format() -> None:
    assert text.format_progress(None) == "-"
    assert text.format_progress(41.6) == "42%"


def test_size_format() -> None:
    assert text.format_size(512) == "512 B"
    assert text.format_size(1536) == "1.5 KiB"
    assert text.format_size(20 * 1024 * 1024) == "20.0 MiB"


def test_time_format_cuts_fraction() -> None:
    assert text.format_time("2026-03-01T09:30:00.250Z") == "2026-03-01T09:30:00Z"
    assert text.format_time(None) == "-"


def test_job_table_columns() -> None:
    rows = [
        job(
            "root1",
            state="rendering",
            stage="render",
            progress=50.0,
            attempts=1,
            composition="main",
            created_at="2026-03-01T09:30:00.000Z",
        ),
        job("child1", parent="root1"),
    ]

    lines = text.job_table(rows).splitlines()

    assert lines[0].split() == [
        "ID",
        "STATE",
        "STAGE",
        "PROGRESS",
        "ATTEMPTS",
        "KIND",
        "COMPOSITION",
        "CREATED",
        "PARENT",
    ]
    assert lines[1].split() == [
        "root1",
        "rendering",
        "render",
        "50%",
        "1",
        "render",
        "main",
        "2026-03-01T09:30:00Z",
        "-",
    ]
    assert lines[2].split()[-1] == "root1"


def test_agent_table_lists_engines_with_versions() -> None:
    agent = {
        "id": "agent-1",
        "host": "render01",
        "state": "connected",
        "engines": [
            {"name": "ae2026", "version": "26.0x55", "available": True},
            {"name": "ae2025", "version": "", "available": False},
        ],
        "slots": 2,
        "running": [{"lease_id": "l1", "job_id": "j1", "attempt": 1}],
        "pools": ["gpu", "fast"],
        "last_seen": "2026-03-01T09:31:00.000Z",
    }

    lines = text.agent_table([agent]).splitlines()

    assert lines[0].startswith("ID")
    assert "ae2026 26.0x55, ae2025 (unavailable)" in lines[1]
    assert "gpu,fast" in lines[1]
    assert lines[1].split()[0] == "agent-1"


def test_submit_tree_indents_children() -> None:
    root = job("root1", composition="main", state="pending", children=["child1", "child2"])
    children = [
        job("child2", parent="root1", layer_name="Clip B"),
        job("child1", parent="root1", layer_name="Clip A", children=["grand1"]),
        job("grand1", parent="child1", layer_name="Inner"),
    ]

    lines = text.submit_tree(root, children).splitlines()

    assert lines == [
        'root1  composition "main"  pending',
        '  child1  layer "Clip A"  queued',
        '    grand1  layer "Inner"  queued',
        '  child2  layer "Clip B"  queued',
    ]


def test_tree_order_keeps_jobs_missing_from_child_lists() -> None:
    root = job("root1", children=["child1"])
    stray = job("stray", parent="elsewhere")

    ordered = text.tree_order(root, [job("child1", parent="root1"), stray])

    assert [(depth, item["id"]) for depth, item in ordered] == [
        (0, "root1"),
        (1, "child1"),
        (1, "stray"),
    ]


def test_progress_line_shows_stage_frames_and_agent() -> None:
    line = text.progress_line(
        job(
            "child1",
            state="rendering",
            stage="render",
            progress=25.0,
            layer_name="Clip A",
            frames_done=6,
            frames_total=24,
            agent="agent-2",
        ),
        depth=1,
    )

    assert line == '  child1  layer "Clip A"  rendering/render  25%  frames 6/24  on agent-2'


def test_progress_line_shows_error() -> None:
    failed = job(
        "root1",
        state="failed",
        error={"code": "render_error", "message": "aerender exited with 1", "retryable": True},
    )

    line = text.progress_line(failed, depth=0)

    assert line.endswith("render_error: aerender exited with 1 (retryable)")


def test_job_detail_lists_outputs_and_history() -> None:
    detail = text.job_detail(
        job(
            "root1",
            state="finished",
            progress=100.0,
            children=["child1"],
            outputs=[
                {"url": "artifact://ab/out.mp4", "size": 2048, "sha256": "ab", "name": "out.mp4"}
            ],
            history=[
                {"state": "queued", "stage": None, "at": "2026-03-01T09:30:00.000Z", "cause": "x"},
                {
                    "state": "rendering",
                    "stage": "encode",
                    "at": "2026-03-01T09:30:05.000Z",
                    "cause": "encode started",
                },
            ],
        )
    )
    lines = detail.splitlines()

    assert lines[0].split() == ["job", "root1"]
    assert "children     child1" in detail
    assert "  artifact://ab/out.mp4  2.0 KiB" in lines
    assert "    sha256 ab" in lines
    assert any("rendering/encode" in line and "encode started" in line for line in lines)
    assert lines.index("history") > lines.index("outputs")


def test_job_detail_without_outputs() -> None:
    detail = text.job_detail(job("root1"))

    assert "outputs      -" in detail
    assert "history      -" in detail
    assert "error        -" in detail


def test_tree_state_depth_follows_parents() -> None:
    state = TreeState("root1")
    for message in (
        jobs_pb2.Job(id="root1", state=common_pb2.JOB_STATE_PENDING),
        jobs_pb2.Job(id="child1", parent_id="root1"),
        jobs_pb2.Job(id="grand1", parent_id="child1"),
        jobs_pb2.Job(id="orphan", parent_id="unknown"),
    ):
        state.apply(jobs_pb2.JobEvent(sequence=1, job=message))

    assert state.depth(state.jobs["root1"]) == 0
    assert state.depth(state.jobs["child1"]) == 1
    assert state.depth(state.jobs["grand1"]) == 2
    assert state.depth(state.jobs["orphan"]) == 1
    assert not state.root_is_final()


def test_live_display_redraws_in_place() -> None:
    stream = io.StringIO()
    display = LiveDisplay(stream)
    state = TreeState("root1")
    root = jobs_pb2.Job(id="root1", state=common_pb2.JOB_STATE_PENDING, child_ids=["child1"])
    child = jobs_pb2.Job(id="child1", parent_id="root1", state=common_pb2.JOB_STATE_QUEUED)

    for sequence, message in enumerate((root, child), start=1):
        event = jobs_pb2.JobEvent(sequence=sequence, job=message)
        display.show(state, event, state.apply(event))
    display.note("watch stream broke (reset); reconnecting in 0.5 s")

    frames = stream.getvalue().split("\x1b[")
    # The first frame draws two lines: tree progress and the root. The second moves up over
    # them and adds the child. The note moves up over those three lines.
    assert frames[0].splitlines()[1].startswith("root1")
    assert frames[1].startswith("2F")
    assert frames[2].startswith("J")
    assert frames[3].startswith("3F")
    assert frames[4].splitlines()[-1] == "watch stream broke (reset); reconnecting in 0.5 s"
    assert frames[4].splitlines()[-2].strip().startswith("child1")
