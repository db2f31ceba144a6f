"""JobService: submit, validate, read, watch and cancel jobs, and read their logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from controller import fontmatch, messages
from controller.coordinator import Coordinator
from controller.errors import AttemptNotFound, InvalidRequest, JobNotFound
from controller.job_filters import list_filtered
from controller.jobspec.models import JobSpec
from controller.jobspec.parse import JobRejected, load_json
from controller.priorities import set_priority
from controller.services.watch import watch_job
from controller.status import Context, stream_errors, unary_errors
from controller.templates import TemplateCatalog
from controller.validation import validate_document
from controller.webhooks import Tables, WebhookConfig, stored_attempts, url_problems
from protos import jobs_pb2, jobs_pb2_grpc

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
DEFAULT_CANCEL_REASON = "requested by a client"


class JobService(jobs_pb2_grpc.JobServiceServicer):
    def __init__(
        self,
        coordinator: Coordinator,
        webhooks: WebhookConfig | None = None,
        templates: TemplateCatalog | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.webhooks = webhooks or WebhookConfig()
        self.templates = templates

    def validate_text(self, text: str) -> JobSpec:
        """Run every check of Submit and return the spec; raise JobRejected on a problem."""
        raw = load_json(text)
        spec = validate_document(raw, self.templates)
        problems = url_problems(spec, self.webhooks, raw)
        if problems:
            raise JobRejected(problems)
        return spec

    @unary_errors
    async def Submit(
        self, request: jobs_pb2.SubmitRequest, context: Context
    ) -> jobs_pb2.SubmitResponse:
        try:
            spec = self.validate_text(request.job_json)
        except JobRejected as error:
            logger.info("rejected a job from %r: %s", request.source or "a client", error)
            raise
        jobs = self.coordinator.submit(spec, request.source, durable=False)
        # One sync for many Submit calls at once; the job is acknowledged only after it.
        await self.coordinator.outgoing.wait_durable()
        store = self.coordinator.store
        job, *children = (messages.job_message(job, store.history(job.id)) for job in jobs)
        return jobs_pb2.SubmitResponse(job=job, children=children)

    @unary_errors
    async def Validate(
        self, request: jobs_pb2.SubmitRequest, context: Context
    ) -> jobs_pb2.ValidateResponse:
        try:
            spec = self.validate_text(request.job_json)
        except JobRejected as error:
            problems = [
                jobs_pb2.ValidationProblem(path=problem.path, reason=problem.reason)
                for problem in error.problems
            ]
            return jobs_pb2.ValidateResponse(valid=False, problems=problems)
        return jobs_pb2.ValidateResponse(valid=True, spec_json=spec.model_dump_json())

    @unary_errors
    async def GetJob(self, request: jobs_pb2.GetJobRequest, context: Context) -> jobs_pb2.Job:
        job = self.coordinator.job_message(request.id)
        job.waiting_reason = fontmatch.waiting_reason(
            self.coordinator.store.get_job(request.id), self.coordinator.scheduler.agents.values()
        )
        store = self.coordinator.store
        if isinstance(store, Tables):
            job.webhook_attempts.extend(stored_attempts(store, request.id))
        return job

    @unary_errors
    async def ListJobs(
        self, request: jobs_pb2.ListJobsRequest, context: Context
    ) -> jobs_pb2.ListJobsResponse:
        if request.limit < 0:
            raise InvalidRequest("limit", f"{request.limit} is negative; give 1 to 1000, or 0")
        limit = min(request.limit or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        states = []
        for index, state in enumerate(request.states):
            if state not in messages.STATES_BY_PROTO:
                raise InvalidRequest(f"states[{index}]", f"{state} is not a job state")
            states.append(messages.STATES_BY_PROTO[state])
        store = self.coordinator.store
        filtered = request.tags or request.HasField("since") or request.HasField("until")
        if filtered and isinstance(store, Tables):
            page = list_filtered(
                store,
                states,
                request.roots_only,
                list(request.tags),
                request.since.ToNanoseconds() / 1e9 if request.HasField("since") else None,
                request.until.ToNanoseconds() / 1e9 if request.HasField("until") else None,
                limit,
                request.page_token,
            )
        else:
            page = store.list_jobs(states, request.roots_only, limit, request.page_token)
        return jobs_pb2.ListJobsResponse(
            jobs=[messages.job_message(job, store.history(job.id)) for job in page.jobs],
            next_page_token=page.next_page_token,
        )

    @stream_errors
    async def WatchJob(
        self, request: jobs_pb2.WatchJobRequest, context: Context
    ) -> AsyncIterator[jobs_pb2.JobEvent]:
        async for event in watch_job(self.coordinator, request):
            yield event

    @unary_errors
    async def CancelJob(self, request: jobs_pb2.CancelJobRequest, context: Context) -> jobs_pb2.Job:
        reason = request.reason.strip() or DEFAULT_CANCEL_REASON
        logger.info("job=%s: cancel requested: %s", request.id, reason)
        self.coordinator.cancel(request.id, reason)
        return self.coordinator.job_message(request.id)

    @unary_errors
    async def SetPriority(
        self, request: jobs_pb2.SetPriorityRequest, context: Context
    ) -> jobs_pb2.Job:
        set_priority(self.coordinator, request.id, request.priority)
        return self.coordinator.job_message(request.id)

    @stream_errors
    async def GetJobLogs(
        self, request: jobs_pb2.GetJobLogsRequest, context: Context
    ) -> AsyncIterator[jobs_pb2.JobLogChunk]:
        job = self.coordinator.store.get_job(request.id)
        if job is None:
            raise JobNotFound(request.id)
        attempt = request.attempt or job.attempts
        if job.attempts == 0:
            raise AttemptNotFound(f"job {job.id} has no attempts yet, so it has no log")
        if not 1 <= attempt <= job.attempts:
            raise AttemptNotFound(
                f"job {job.id} has no attempt {attempt}; its attempts are 1 to {job.attempts}"
            )
        logs = self.coordinator.logs
        truncated = logs.is_truncated(job.id, attempt)
        for data in logs.read(job.id, attempt):
            yield jobs_pb2.JobLogChunk(attempt=attempt, data=data, truncated=truncated)
