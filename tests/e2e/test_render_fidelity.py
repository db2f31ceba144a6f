"""aerender failure modes and progress, each through a real controller and a real agent.

Every simulator fault is selected per job by the comment of the rendered composition. All
fault jobs go to one farm at once, and each parametrized test checks the final state of one.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import py_aep
import pytest

from protos import common_pb2, jobs_pb2
from tests.e2e.farm import TOP, Farm, simulator_processes

pytestmark = pytest.mark.e2e

FINISHED = common_pb2.JOB_STATE_FINISHED
FAILED = common_pb2.JOB_STATE_FAILED
# Hang timeout of the hanging jobs, in seconds: short, so the test is quick.
HANG_TIMEOUT = 2
# Frames 0 to 9 of the 25 fps lower third.
FRAMES = 10
# Root folder of the farm that ran the fault jobs.
FAULT_FARM_ROOTS: list[Path] = []


@dataclass(frozen=True)
class Case:
    """One job: the simulator faults of its composition and the final job it must reach."""

    faults: str
    state: int
    code: str = ""
    retryable: bool | None = None
    settings: dict[str, object] = field(default_factory=dict)
    # Text the error message must contain.
    message_part: str = ""


CASES = {
    "comp_not_found": Case("comp_not_found", FAILED, "comp_not_found", retryable=False),
    "missing_footage": Case("missing_footage", FAILED, "missing_footage"),
    "missing_fonts": Case(
        "missing_fonts", FAILED, "missing_fonts", retryable=False, message_part="MyriadPro-Regular"
    ),
    "missing_fonts_allowed": Case("missing_fonts", FINISHED, settings={"allowMissingFonts": True}),
    "crash": Case("crash", FAILED, "render_error", retryable=True),
    "exit_no_output": Case("exit_no_output", FAILED, "silent_exit", retryable=True),
    "hang_launch": Case(
        "hang_launch", FAILED, "render_hang", True, settings={"hangTimeout": HANG_TIMEOUT}
    ),
    "hang_mid_render": Case(
        "hang_mid_render", FAILED, "render_hang", True, settings={"hangTimeout": HANG_TIMEOUT}
    ),
    "max_render_time": Case(
        "slow:1", FAILED, "render_timeout", True, settings={"maxRenderTime": 2}
    ),
    "never_exits": Case("never_exits", FINISHED),
    "out_of_order": Case("out_of_order", FINISHED),
    "drop_frame": Case("drop_frame", FINISHED),
    "fields": Case("fields", FINISHED),
    "german": Case("german", FINISHED),
    "non_utf8": Case("non_utf8", FINISHED),
    "frames_display": Case("frames_display", FINISHED),
}


def make_templates(out: Path) -> Path:
    subprocess.run(
        [sys.executable, str(TOP / "examples" / "make_templates.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def template_with_faults(templates: Path, faults: str, target: Path) -> Path:
    """Copy a template with the faults in the comment of its rendered composition.

    missing_footage needs file footage, so it uses comp Main with logo.png on its Logo layer.
    """
    if "missing_footage" in faults:
        project = py_aep.parse(templates / "main.aep").project
        comp = next(c for c in project.compositions if c.name == "Main")
        logo = next(layer for layer in comp.layers if layer.name == "Logo")
        options = py_aep.ImportOptions(str(templates / "logo.png"))
        logo.replace_source(project.import_file(options), False)
        logo.name = "Logo"
    else:
        project = py_aep.parse(templates / "lower-third.aep").project
        comp = next(c for c in project.compositions if c.name == "LowerThird")
    comp.comment = f"Test template\naefarm-sim: {faults}"
    target.unlink(missing_ok=True)
    project.save(target)
    return target


def fault_job(template: Path, case: Case) -> dict[str, object]:
    composition = "Main" if "missing_footage" in case.faults else "LowerThird"
    return {
        "template": {"src": template.as_uri(), "composition": composition},
        "settings": {"engine": "ae2026", "frames": [0, FRAMES - 1], **case.settings},
    }


def start_farm(root: Path, slots: int, files: Path, extra: tuple[str, ...] = ()) -> Farm:
    """Start a controller that gives each job one attempt, and one agent that reads files."""
    farm = Farm(root)
    farm.start_controller(["--max-attempts", "1"])
    flags = ["--slots", str(slots), "--stuck-exit-grace", "1", "--file-root", str(files)]
    flags += extra
    farm.start_agent("agent-1", flags)
    farm.wait_for_agents(1)
    return farm


@pytest.fixture(scope="module")
def fault_jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, jobs_pb2.Job]]:
    root = tmp_path_factory.mktemp("faults")
    templates = make_templates(root / "templates")
    farm = start_farm(root / "farm", len(CASES), root)
    try:
        ids = {}
        for name, case in CASES.items():
            template = template_with_faults(templates, case.faults, root / f"{name}.aep")
            ids[name] = farm.submit(fault_job(template, case)).job.id
        final = {name: farm.wait_final(job_id, timeout=90) for name, job_id in ids.items()}
        FAULT_FARM_ROOTS.append(root)
        yield final
    finally:
        farm.stop()


@pytest.mark.parametrize("name", list(CASES))
def test_fault_ends_in_state(fault_jobs: dict[str, jobs_pb2.Job], name: str) -> None:
    case = CASES[name]
    job = fault_jobs[name]

    assert job.state == case.state, f"{common_pb2.JobState.Name(job.state)}: {job.error}"
    assert job.error.code == case.code
    if case.retryable is not None:
        assert job.error.retryable is case.retryable
    assert case.message_part in job.error.message
    if case.state == FINISHED:
        assert job.outputs
        assert job.frames_done == FRAMES
        assert job.frames_total == FRAMES


def test_fault_runs_leave_no_simulator(fault_jobs: dict[str, jobs_pb2.Job]) -> None:
    assert len(fault_jobs) == len(CASES)
    left = simulator_processes(FAULT_FARM_ROOTS[-1])
    assert left == []


def watch_progress(farm: Farm, job_id: str) -> tuple[jobs_pb2.Job, list[float]]:
    """Poll the job until it is final; return it and the percents seen while it rendered."""
    seen: list[float] = []
    while True:
        job = farm.get(job_id)
        if job.state == common_pb2.JOB_STATE_RENDERING and job.stage == common_pb2.STAGE_RENDER:
            seen.append(job.progress)
        if job.state in (FINISHED, FAILED, common_pb2.JOB_STATE_CANCELLED):
            return job, seen
        time.sleep(0.02)


def test_movie_without_frame_lines_reports_unknown(tmp_path: Path) -> None:
    templates = make_templates(tmp_path / "templates")
    template = template_with_faults(templates, "no_frame_lines, slow:0.2", tmp_path / "t.aep")
    farm = start_farm(tmp_path / "farm", 1, tmp_path)
    try:
        job_id = farm.submit(fault_job(template, Case("no_frame_lines", FINISHED))).job.id
        job, seen = watch_progress(farm, job_id)
    finally:
        farm.stop()

    assert job.state == FINISHED, job.error
    assert job.frames_done == FRAMES
    # A movie's size gives no frame count, so its progress is unknown until the render ends.
    assert seen
    assert 0.0 not in seen
    assert set(seen) <= {-1.0, 100.0}


def test_sequence_without_frame_lines_counts_files(tmp_path: Path) -> None:
    templates = make_templates(tmp_path / "templates")
    template = template_with_faults(templates, "no_frame_lines, slow:0.2", tmp_path / "t.aep")
    # The nexrender shape names the PNG Sequence output module, so After Effects writes frames.
    job: dict[str, object] = {
        "template": {
            "src": template.as_uri(),
            "composition": "LowerThird",
            "frameStart": 0,
            "frameEnd": FRAMES - 1,
            "outputModule": "PNG Sequence",
            "outputExt": "png",
        },
    }
    farm = start_farm(tmp_path / "farm", 1, tmp_path)
    try:
        final, seen = watch_progress(farm, farm.submit(job).job.id)
    finally:
        farm.stop()

    assert final.state == FINISHED, final.error
    assert len(final.outputs) == FRAMES
    assert any(0.0 < percent < 100.0 for percent in seen), seen
    assert 0.0 not in seen
