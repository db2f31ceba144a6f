"""Sending webhook deliveries: at least once, retried with exponential backoff.

One asyncio task sends the pending rows of the outbox in order of their due time, each request
in a worker thread with urllib. A 2xx response delivers the call. Any other status, a
connection error or a timeout schedules another attempt after retry_seconds * 2^(attempt - 1),
until max_attempts.
Pending deliveries are read from the store, so they resume after a controller restart.

Headers of every call: Content-Type, Idempotency-Key (the same on every attempt of one job and
event), X-Aefarm-Event, X-Aefarm-Attempt, X-Aefarm-Signature (sha256=<hex HMAC-SHA256 of the
body>, when the controller has a webhook secret), then the job's own webhook headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from controller.coordinator import Coordinator
from controller.webhooks import Delivery, Tables, WebhookConfig, WebhookOutbox

logger = logging.getLogger(__name__)

# Bytes of a receiver's response body kept in an attempt's error text.
ANSWER_EXCERPT_BYTES = 200


@dataclass(frozen=True)
class Answer:
    status_code: int
    error: str

    @property
    def delivered(self) -> bool:
        return 200 <= self.status_code < 300


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def request_headers(delivery: Delivery, config: WebhookConfig) -> dict[str, str]:
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": delivery.idempotency_key,
        "X-Aefarm-Event": delivery.event,
        "X-Aefarm-Attempt": str(delivery.attempts + 1),
    }
    if config.secret is not None:
        headers["X-Aefarm-Signature"] = signature(config.secret, body)
    headers.update(delivery.headers)
    return headers


# No proxy: a webhook goes straight to its host, whatever the environment's proxy variables contain.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def send(delivery: Delivery, config: WebhookConfig) -> Answer:
    """Make one call; blocking, so it runs in a worker thread."""
    body = None if delivery.method == "GET" else delivery.body.encode()
    request = urllib.request.Request(
        delivery.url,
        data=body,
        method=delivery.method,
        headers=request_headers(delivery, config),
    )
    try:
        with _OPENER.open(request, timeout=config.timeout_seconds) as response:
            return Answer(response.status, "")
    except urllib.error.HTTPError as error:
        excerpt = error.read(ANSWER_EXCERPT_BYTES).decode(errors="replace").strip()
        return Answer(error.code, f"the receiver answered {error.code}: {excerpt}".rstrip(": "))
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Answer(0, f"no answer from {delivery.url}: {reason}")


class WebhookSender:
    """The task that sends due deliveries; wake() makes it look at the outbox at once."""

    def __init__(
        self, outbox: WebhookOutbox, config: WebhookConfig, clock: Callable[[], float]
    ) -> None:
        self.outbox = outbox
        self.config = config
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            for delivery in self.outbox.due(self.clock()):
                await self._attempt(delivery)
            due = self.outbox.next_due()
            delay = None if due is None else max(0.0, due - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _attempt(self, delivery: Delivery) -> None:
        answer = await asyncio.to_thread(send, delivery, self.config)
        attempt = delivery.attempts + 1
        if answer.delivered:
            state, next_at = "delivered", 0.0
        elif attempt >= self.config.max_attempts:
            state, next_at = "failed", 0.0
        else:
            state = "pending"
            next_at = self.clock() + self.config.retry_seconds * 2 ** (attempt - 1)
        self.outbox.record(delivery, answer.status_code, answer.error, state, next_at)
        log = logger.info if answer.delivered else logger.warning
        log(
            "job=%s: webhook %s attempt %d/%d to %s: %s; %s",
            delivery.job_id,
            delivery.event,
            attempt,
            self.config.max_attempts,
            delivery.url,
            answer.error or f"answered {answer.status_code}",
            state,
        )


def start_webhooks(
    coordinator: Coordinator, store: Tables, config: WebhookConfig, clock: Callable[[], float]
) -> WebhookSender:
    """Hook the outbox into the coordinator's writes and start sending; pending rows resume."""
    outbox = WebhookOutbox(store, clock)
    sender = WebhookSender(outbox, config, clock)
    outbox.on_new = sender.wake
    coordinator.write_hooks.append(outbox.write_hook)
    sender.start()
    return sender
