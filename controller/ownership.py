"""Jobs belong to the token that submitted them: the submit role reads only its own.

The interceptor records the submitting token of each job (and each child the response names)
and of each batch, and checks a submit-role caller's reads against that record. The operator
and admin roles read every job.
"""

from __future__ import annotations

import logging
from typing import Any

from controller.tokens import TokenStore

logger = logging.getLogger(__name__)

# Methods whose request names one job or batch in its id field.
OWNED_BY_REQUEST_ID = frozenset(
    {
        "/aefarm.v1.JobService/GetJob",
        "/aefarm.v1.JobService/WatchJob",
        "/aefarm.v1.JobService/GetJobLogs",
        "/aefarm.v1.BatchService/GetBatch",
    }
)
SUBMIT_METHODS = frozenset({"/aefarm.v1.JobService/Submit", "/aefarm.v1.BatchService/SubmitBatch"})
LIST_JOBS = "/aefarm.v1.JobService/ListJobs"


class OwnershipDenied(Exception):
    pass


class Ownership:
    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens

    def check_request(self, method: str, request: Any, token_id: str, role: str) -> None:
        """Raise OwnershipDenied when a submit-role caller reads an object it did not submit."""
        if role != "submit" or method not in OWNED_BY_REQUEST_ID:
            return
        owner = self.tokens.owner(request.id)
        if owner != token_id:
            raise OwnershipDenied(
                f"{request.id!r} was not submitted with this token; the submit role reads only "
                "its own jobs, and the operator role reads every job"
            )

    def after_response(self, method: str, response: Any, token_id: str, role: str) -> Any:
        """Record the owner of submitted jobs, and trim ListJobs to the caller's own jobs."""
        if method == "/aefarm.v1.JobService/Submit" and token_id:
            ids = [response.job.id, *(child.id for child in response.children)]
            self.tokens.set_owner(ids, token_id)
        elif method == "/aefarm.v1.BatchService/SubmitBatch" and token_id:
            # NOTE: only the batch and its root jobs are recorded, so the submit role cannot
            # read a batch job's children by id.
            self.tokens.set_owner([response.id, *response.job_ids], token_id)
        elif method == LIST_JOBS and role == "submit":
            # NOTE: filtering after the store's paging can return fewer jobs than the limit
            # on a page, although more of the caller's jobs follow.
            kept = [job for job in response.jobs if self.tokens.owner(job.id) == token_id]
            del response.jobs[:]
            response.jobs.extend(kept)
        return response
