"""systemd's notification protocol (sd_notify(3)) for the agent, without a library.

Under a unit with Type=notify, systemd sets NOTIFY_SOCKET to a Unix datagram socket; the
service sends READY=1 once it serves, STOPPING=1 when it begins to stop, and, when the unit
sets WatchdogSec=, WATCHDOG=1 at least every WATCHDOG_USEC microseconds or systemd restarts it.
Outside systemd NOTIFY_SOCKET is unset and every call does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

logger = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send state (such as READY=1) to systemd; return False when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        # A leading @ names a socket in the abstract namespace.
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as error:
        logger.warning("sending %s to systemd at %s failed: %s", state, address, error)
        return False
    return True


def watchdog_interval() -> float | None:
    """Return the seconds between WATCHDOG=1 pings (half of WatchdogSec), or None."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000 / 2


async def ping_watchdog() -> None:
    """Send WATCHDOG=1 at half the watchdog interval until cancelled.

    The pings come from the event loop, so a blocked loop misses them and systemd restarts
    the service.
    """
    interval = watchdog_interval()
    if interval is None:
        return
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)
