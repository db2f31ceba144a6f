"""The TCP proxy of the fault tests; it lives in controller/ so scripts/soak can use it too."""

from __future__ import annotations

from controller.tcp_proxy import TcpProxy

__all__ = ["TcpProxy"]
