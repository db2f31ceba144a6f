"""The standard gRPC health service and server reflection on the controller's port."""

from __future__ import annotations

import importlib
import logging
import pkgutil

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

import protos

logger = logging.getLogger(__name__)


def service_names() -> tuple[str, ...]:
    """Return the full name of every service defined in protos/*.proto."""
    names = []
    for module_info in pkgutil.iter_modules(protos.__path__):
        if module_info.name.endswith("_pb2"):
            module = importlib.import_module(f"protos.{module_info.name}")
            names += [service.full_name for service in module.DESCRIPTOR.services_by_name.values()]
    return tuple(sorted(names))


async def add_probes(server: grpc.aio.Server) -> HealthServicer:
    """Register health (overall and per service: SERVING) and reflection on server."""
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    services = service_names()
    for name in ("", *services):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    names = (*services, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
    reflection.enable_server_reflection((*names, reflection.SERVICE_NAME), server)
    return health
