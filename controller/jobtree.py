"""Turn a submitted JobSpec into job records: the job and one child job per nested job input."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from controller.jobspec.models import JobSpec
from controller.scheduler_types import ChildInput, JobRecord, JobState, Stage, Transition

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildLink:
    """The place in the parent that receives a child job's output."""

    input_index: int
    layer_name: str
    target_composition: str


@dataclass(frozen=True)
class SubmittedTree:
    """Records of a new job tree, parent before children, with each job's first transition."""

    jobs: tuple[JobRecord, ...]
    transitions: tuple[tuple[str, Transition], ...]


def child_specs(spec: JobSpec) -> list[tuple[ChildLink, JobSpec]]:
    """Return the specs of the jobs that must finish before this job can render.

    A render job waits for its nested jobs (spec.children). A join job waits for the job
    inputs among its join_inputs, whose input_index is the position in join_inputs.
    """
    if spec.kind == "join":
        return [
            (ChildLink(index, "", ""), join_input.job)
            for index, join_input in enumerate(spec.join_inputs)
            if join_input.job is not None
        ]
    return [
        (ChildLink(index, nested.layer_name, nested.composition or ""), nested.job)
        for index, nested in enumerate(spec.children)
    ]


def build_job_tree(
    spec: JobSpec, now: float, new_id: Callable[[], str], source: str = ""
) -> SubmittedTree:
    """Create the records of a job and all its descendants, children of children included.

    A job with children starts pending and a leaf starts queued. A child's priority is at least
    its parent's, so the parts of an urgent job are not starved by other work.
    """
    jobs: list[JobRecord] = []
    transitions: list[tuple[str, Transition]] = []
    root_id = new_id()

    def add(
        job_spec: JobSpec, job_id: str, parent: JobRecord | None, link: ChildLink | None
    ) -> JobRecord:
        children = child_specs(job_spec)
        state = JobState.PENDING if children else JobState.QUEUED
        priority = job_spec.priority if parent is None else max(job_spec.priority, parent.priority)
        record = JobRecord(
            id=job_id,
            spec=job_spec,
            kind=job_spec.kind,
            parent_id=parent.id if parent else None,
            root_id=root_id,
            input_index=link.input_index if link else 0,
            layer_name=link.layer_name if link else "",
            target_composition=link.target_composition if link else "",
            composition=job_spec.template.composition if job_spec.template else "",
            priority=priority,
            engine=job_spec.settings.engine,
            pools=tuple(job_spec.pools),
            state=state,
            created_at=now,
            updated_at=now,
            source=source,
        )
        jobs.append(record)
        first = Transition(state, Stage.NONE, now, _cause(record, children), 0, "")
        transitions.append((job_id, first))
        for child_link, child_spec in children:
            child = add(child_spec, new_id(), record, child_link)
            record.child_ids.append(child.id)
        return record

    add(spec, root_id, None, None)
    return SubmittedTree(tuple(jobs), tuple(transitions))


def _cause(record: JobRecord, children: list[tuple[ChildLink, JobSpec]]) -> str:
    origin = f" from {record.source}" if record.source else ""
    if record.parent_id:
        origin = f" as a child of job {record.parent_id}"
    if children:
        count = f"{len(children)} child job" + ("s" if len(children) > 1 else "")
        return f"submitted{origin}; waiting for {count}"
    return f"submitted{origin}"


def collect_child_inputs(children: list[JobRecord]) -> list[ChildInput]:
    """Return the first output of each finished child, in input_index order."""
    inputs = []
    for child in sorted(children, key=lambda job: job.input_index):
        output = child.outputs[0]
        inputs.append(
            ChildInput(
                input_index=child.input_index,
                src=output.url,
                sha256=output.sha256,
                name=output.name,
                layer_name=child.layer_name,
                composition=child.target_composition,
            )
        )
    return inputs
