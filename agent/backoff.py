"""Capped, jittered exponential backoff for reconnects and retries."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackoffSettings:
    # Seconds before the first retry; each failure multiplies it, up to maximum.
    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0
    # Each delay is drawn from [delay * (1 - jitter), delay], so agents that lost the same
    # controller do not all reconnect at once.
    jitter: float = 0.5


@dataclass
class Backoff:
    settings: BackoffSettings = field(default_factory=BackoffSettings)
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        """Return the delay before the next try and count one more failure."""
        # The exponent is capped so that a long outage cannot overflow the float.
        exponent = min(self.failures, 64)
        base = min(
            self.settings.maximum, self.settings.initial * self.settings.multiplier**exponent
        )
        self.failures += 1
        return base * (1.0 - self.settings.jitter * self.rng.random())

    def maximum_delay(self) -> float:
        self.failures += 1
        return self.settings.maximum * (1.0 - self.settings.jitter * self.rng.random())

    def reset(self) -> None:
        self.failures = 0


async def sleep_unless(event: asyncio.Event, seconds: float) -> bool:
    """Sleep for seconds or until event is set; return True when the event cut it short."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
