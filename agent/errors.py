"""The failure of one lease, as the controller receives it in a Result."""

from __future__ import annotations

from protos import common_pb2

# Characters of a message sent to the controller. Messages quote the job's own values (layer
# names, a script's error text), and the controller returns the message in every listing of
# the job, so a huge value would make those listings too large to receive.
MAX_MESSAGE_CHARS = 8000


class LeaseFailure(Exception):
    """A lease failed with a fixed error code such as fetch_failed or output_missing.

    Every stage of the render pipeline raises this for failures that belong to the job (a
    missing layer, a failed download, a hung render). The pipeline turns it into the Result's
    JobError, so the message must name the value that failed and what to do.
    """

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable

    def to_proto(self) -> common_pb2.JobError:
        message = self.message
        if len(message) > MAX_MESSAGE_CHARS:
            cut = len(message) - MAX_MESSAGE_CHARS
            message = f"{message[:MAX_MESSAGE_CHARS]}... ({cut} more characters)"
        return common_pb2.JobError(code=self.code, message=message, retryable=self.retryable)
