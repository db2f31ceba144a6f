"""Errors the controller raises for a request; status.py maps each to a gRPC status code."""

from __future__ import annotations


class ControllerError(Exception):
    """A request the controller cannot serve. The message names the value and what to do."""


class JobNotFound(ControllerError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found; list jobs with `aefarm jobs --all` (ListJobs)")
        self.job_id = job_id


class JobAlreadyFinal(ControllerError):
    def __init__(self, job_id: str, state: str) -> None:
        super().__init__(f"job {job_id} is already {state}, so it cannot be cancelled")
        self.job_id = job_id
        self.state = state


class AttemptNotFound(ControllerError):
    pass


class ArtifactNotFound(ControllerError):
    def __init__(self, sha256: str) -> None:
        super().__init__(f"artifact {sha256} not found in the artifact store")
        self.sha256 = sha256


class AgentNotFound(ControllerError):
    def __init__(self, agent_id: str) -> None:
        super().__init__(f"agent {agent_id!r} not found; list agents with `aefarm agents`")
        self.agent_id = agent_id


class InvalidRequest(ControllerError):
    """A request field is invalid; field names it, as in header.name."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ChecksumMismatch(ControllerError):
    """An upload's bytes differ from the size or sha256 its header announced."""


class OffsetOutOfRange(ControllerError):
    pass


class WatcherBehind(ControllerError):
    """A watcher read events slower than they were published and was dropped."""


class ControllerStopping(ControllerError):
    pass


class StoreFailure(ControllerError):
    """A store write failed; the controller stops, because memory and store may differ."""
