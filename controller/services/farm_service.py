"""FarmService: the agents of the farm."""

from __future__ import annotations

import logging
from typing import Any

import grpc

from controller.coordinator import Coordinator
from controller.errors import InvalidRequest
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

    @unary_errors
    async def DrainAgent(
        self, request: jobs_pb2.DrainAgentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> jobs_pb2.AgentInfo:
        """The agent finishes its leases and gets no new ones until ResumeAgent."""
        _check_agent_id(request.agent_id)
        logger.info("agent=%s: drain requested", request.agent_id)
        return self.coordinator.set_draining(request.agent_id, True)

    @unary_errors
    async def ResumeAgent(
        self, request: jobs_pb2.ResumeAgentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> jobs_pb2.AgentInfo:
        """End a drain and a quarantine of the agent."""
        _check_agent_id(request.agent_id)
        logger.info("agent=%s: resume requested", request.agent_id)
        return self.coordinator.set_draining(request.agent_id, False)


def _check_agent_id(agent_id: str) -> None:
    if not agent_id:
        raise InvalidRequest("agent_id", "is empty; name an agent id as `aefarm agents` lists it")
