"""nexrender tags pick the agents whose pools contain every tag."""

from __future__ import annotations

from controller.scheduler_types import GrantLease
from tests.unit.test_scheduler import Harness, of_type, render_spec


def test_tagged_job_waits_for_pool_agent() -> None:
    farm = Harness()
    farm.submit(render_spec(tags=["gpu"]))
    assert of_type(farm.connect("plain"), GrantLease) == []
    grants = of_type(farm.connect("gpu-box", pools=["gpu"]), GrantLease)
    assert [grant.agent_id for grant in grants] == ["gpu-box"]


def test_untagged_job_goes_to_any_agent() -> None:
    farm = Harness()
    farm.submit(render_spec())
    grants = of_type(farm.connect("plain"), GrantLease)
    assert [grant.agent_id for grant in grants] == ["plain"]
