"""Following a job tree through the WatchJob stream until its root job is final.

A broken stream is opened again with after_sequence set to the last event seen, so no event
is shown twice and none is lost while the controller keeps its event log.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from controller.cli import convert
from controller.cli.client import Controller, resolve_address
from controller.cli.console import print_error
from controller.cli.display import Display, TreeState, choose_display
from controller.cli.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    TRANSPORT_CODES,
    CliError,
    ControllerUnreachable,
    error_from_rpc,
    status_code,
    status_details,
)
from controller.cli.format import format_error
from protos import jobs_pb2

logger = logging.getLogger(__name__)

# Seconds a broken watch stream is retried before the CLI exits with 3.
RECONNECT_WINDOW_SECONDS = 60.0
INITIAL_RETRY_DELAY_SECONDS = 0.5
MAX_RETRY_DELAY_SECONDS = 5.0
# INTERNAL and UNKNOWN can be a passing fault or a controller bug, so they are retried a few
# times only.
MAX_SERVER_ERRORS = 3
SERVER_ERROR_CODES = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})


@dataclass
class RetryPolicy:
    """How long and how often a broken watch stream is opened again."""

    window_seconds: float = RECONNECT_WINDOW_SECONDS
    initial_delay_seconds: float = INITIAL_RETRY_DELAY_SECONDS
    max_delay_seconds: float = MAX_RETRY_DELAY_SECONDS
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


class JobFollower:
    """Streams the events of one job tree into a display until the root job is final."""

    def __init__(
        self,
        controller: Controller,
        root_id: str,
        display: Display,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.controller = controller
        self.state = TreeState(root_id)
        self.display = display
        self.retry = retry or RetryPolicy()
        self.broken_since: float | None = None
        self.delay = self.retry.initial_delay_seconds
        self.server_errors = 0

    def follow(self, connected: bool = False) -> dict[str, Any]:
        """Return the root job once it is final.

        connected is true when the controller was reached before, as after a submit. Until a
        stream has delivered an event or connected is true, a connection failure raises
        ControllerUnreachable at once instead of being retried.
        """
        while True:
            try:
                root = self.stream_until_final()
                if root is not None:
                    return root
                connected = True
                reason = "the stream ended before the job was final"
            except grpc.RpcError as error:
                connected = connected or self.state.last_sequence > 0
                reason = self.reason_to_retry(error, connected)
            except ControllerUnreachable as error:
                if not (connected or self.state.last_sequence > 0):
                    raise
                reason = error.reason
            self.wait_before_retry(reason)

    def stream_until_final(self) -> dict[str, Any] | None:
        """Open one stream and return the final root, or None when the stream ends early."""
        request = jobs_pb2.WatchJobRequest(
            id=self.state.root_id, after_sequence=self.state.last_sequence
        )
        events = self.controller.jobs.WatchJob(request)
        try:
            for event in events:
                self.reset_retry()
                if self.state.last_sequence and event.sequence <= self.state.last_sequence:
                    continue
                job = self.state.apply(event)
                self.display.show(self.state, event, job)
                if self.state.root_is_final():
                    return self.state.root
        finally:
            cancel = getattr(events, "cancel", None)
            if cancel is not None:
                cancel()

        # The stream ends after the root is final, so an earlier end means that the controller
        # stopped it. GetJob shows whether there is more to wait for.
        root = convert.job_to_dict(
            self.controller.unary(
                self.controller.jobs.GetJob,
                jobs_pb2.GetJobRequest(id=self.state.root_id),
                f"get job {self.state.root_id}",
            )
        )
        self.state.jobs[root["id"]] = root
        return root if self.state.root_is_final() else None

    def reason_to_retry(self, error: grpc.RpcError, connected: bool) -> str:
        """Return why the stream is opened again, or raise the CliError that ends the watch."""
        code = status_code(error)
        action = f"watch job {self.state.root_id}"
        if code in TRANSPORT_CODES and connected:
            return status_details(error) or (code.name if code else "the stream broke")
        if code in SERVER_ERROR_CODES and self.server_errors < MAX_SERVER_ERRORS:
            self.server_errors += 1
            return f"{code.name if code else 'error'}: {status_details(error)}"
        raise error_from_rpc(error, self.controller.address, action) from error

    def wait_before_retry(self, reason: str) -> None:
        now = self.retry.clock()
        if self.broken_since is None:
            self.broken_since = now
        if now - self.broken_since >= self.retry.window_seconds:
            raise ControllerUnreachable(
                self.controller.address,
                f"the watch stream broke ({reason}) and did not come back within "
                f"{self.retry.window_seconds:g} s",
            )
        logger.info("watch of job %s broke: %s", self.state.root_id, reason)
        self.display.note(f"watch stream broke ({reason}); reconnecting in {self.delay:g} s")
        self.retry.sleep(self.delay)
        self.delay = min(self.delay * 2, self.retry.max_delay_seconds)

    def reset_retry(self) -> None:
        self.broken_since = None
        self.delay = self.retry.initial_delay_seconds
        self.server_errors = 0


def exit_code_for(job: dict[str, Any]) -> int:
    """Return 0 for a finished job, else 1, and print why a failed or cancelled job ended."""
    if job["state"] == "finished":
        return EXIT_OK
    if job["error"]:
        reason = format_error(job["error"])
    elif job["history"]:
        # A cancel can come without an error; its transition stores the reason.
        reason = job["history"][-1]["cause"]
    else:
        reason = "the controller recorded no reason"
    print_error(f"job {job['id']} {job['state']}: {reason}")
    return EXIT_FAILED


def print_finished(job: dict[str, Any]) -> None:
    if job["state"] != "finished":
        return
    print(f"job {job['id']} finished")
    for output in job["outputs"]:
        print(output["url"])


def follow_job(
    controller: Controller,
    root_id: str,
    display: Display,
    retry: RetryPolicy,
    connected: bool = False,
) -> dict[str, Any]:
    """Follow a job tree and return the final root; Ctrl-C ends the watch, not the job."""
    try:
        return JobFollower(controller, root_id, display, retry).follow(connected)
    except KeyboardInterrupt:
        raise CliError(
            f"stopped watching job {root_id}; the job keeps running. "
            f"Watch it again with `aefarm watch {root_id}`",
            EXIT_INTERRUPTED,
        ) from None


def run_watch(args: argparse.Namespace) -> int:
    display = choose_display(json_lines=args.json)
    retry = RetryPolicy(window_seconds=args.reconnect_timeout)
    with Controller(resolve_address(args.controller)) as controller:
        root = follow_job(controller, args.id, display, retry)
    if not args.json:
        print_finished(root)
    return exit_code_for(root)
