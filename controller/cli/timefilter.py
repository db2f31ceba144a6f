"""Times of the `jobs --since/--until` filters: ISO 8601, or an age such as 30m, 2h or 7d."""

from __future__ import annotations

import argparse
import logging
import re
import time
from datetime import UTC, datetime

logger = logging.getLogger(__name__)

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, now: float | None = None) -> float:
    """Return seconds since the epoch; an age counts back from now. Naive times are UTC."""
    age = _AGE.match(text.strip())
    if age:
        current = time.time() if now is None else now
        return current - float(age.group(1)) * _UNIT_SECONDS[age.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time; give ISO 8601 (2026-12-04T09:30) or an age (30m, 2h, 7d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
