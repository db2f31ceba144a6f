"""FarmService: the agents of the farm."""

from __future__ import annotations

import logging
from typing import Any

import grpc

from controller.coordinator import Coordinator
from controller.status import unary_errors
from protos import jobs_pb2, jobs_pb2_grpc

logger = logging.getLogger(__name__)


class FarmService(jobs_pb2_grpc.FarmServiceServicer):
    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    @unary_errors
    async def ListAgents(
        self, request: jobs_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> jobs_pb2.ListAgentsResponse:
        """Return connected agents and those seen within the last hour, by agent id."""
        return jobs_pb2.ListAgentsResponse(agents=self.coordinator.agent_messages())
