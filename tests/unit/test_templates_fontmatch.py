"""Font matching: a job whose template uses fonts goes only to agents that have them."""

from __future__ import annotations

from collections.abc import Sequence

from controller import fontmatch
from controller.jobspec.models import FontAsset, JobSpec, RenderSettings, TemplateRef
from controller.scheduler_types import AgentConnected, AgentRecord, EngineInfo, GrantLease
from tests.unit.test_scheduler import Harness, of_type

FONTS = ["MyriadPro-Regular", "Montserrat-Bold"]


def font_spec(template_fonts: Sequence[str] = FONTS, **fields: object) -> JobSpec:
    template = TemplateRef(
        src="artifact://x/promo.aep", composition="Main", fonts=list(template_fonts)
    )
    return JobSpec(template=template, **fields)  # type: ignore[arg-type]


def agent(agent_id: str, fonts: Sequence[str], now: float) -> AgentRecord:
    return AgentRecord(
        agent_id=agent_id,
        host=f"{agent_id}.local",
        version="0.1.0",
        engines=(EngineInfo("ae2026", "26.0x55", "/opt/ae/aerender", True),),
        slots=1,
        pools=frozenset(),
        fonts=tuple(fonts),
        connected=True,
        connected_at=now,
        last_seen=now,
    )


def connect(farm: Harness, agent_id: str, fonts: Sequence[str]) -> list[GrantLease]:
    effects = farm.handle(AgentConnected(agent(agent_id, fonts, farm.now), (), ()))
    return of_type(effects, GrantLease)


def test_dispatch_waits_for_agent_fonts() -> None:
    farm = Harness()
    assert connect(farm, "plain", ["Arial", "Myriad Pro"]) == []
    (job,), effects = farm.submit(font_spec())
    assert of_type(effects, GrantLease) == []
    assert "Montserrat-Bold" in fontmatch.waiting_reason(job, farm.scheduler.agents.values())
    assert "MyriadPro-Regular" not in fontmatch.waiting_reason(job, farm.scheduler.agents.values())

    grants = connect(farm, "studio", ["Myriad Pro", "Montserrat"])
    assert [(grant.agent_id, grant.job_id) for grant in grants] == [("studio", job.id)]
    assert fontmatch.waiting_reason(farm.job(job.id), farm.scheduler.agents.values()) == ""


def test_fonts_the_job_brings_need_no_agent_font() -> None:
    farm = Harness()
    connect(farm, "plain", ["Myriad Pro"])
    font = FontAsset(src="https://127.0.0.1/fonts/Montserrat-Bold.ttf")
    _, effects = farm.submit(font_spec(assets=[font]))
    assert [grant.agent_id for grant in of_type(effects, GrantLease)] == ["plain"]

    # The agent is busy with the first job; the second would fit it all the same.
    (cloud,), _ = farm.submit(font_spec(fonts=["Montserrat-Bold.otf"]))
    assert fontmatch.missing_fonts(cloud.spec, ["Myriad Pro"]) == []
    assert fontmatch.missing_fonts(font_spec(), ["Myriad Pro"]) == ["Montserrat-Bold"]


def test_allow_missing_fonts_skips_the_match() -> None:
    farm = Harness()
    connect(farm, "plain", [])
    settings = RenderSettings(allow_missing_fonts=True)
    (job,), effects = farm.submit(font_spec(settings=settings))
    assert [grant.job_id for grant in of_type(effects, GrantLease)] == [job.id]


def test_names_compare_by_letters_and_digits() -> None:
    spec = font_spec(["HelveticaNeue-BoldItalic", "Roboto"])
    assert fontmatch.missing_fonts(spec, ["helvetica neue", "ROBOTO"]) == []
    assert fontmatch.missing_fonts(spec, ["Helvetica", "Roboto Mono"]) == [
        "HelveticaNeue-BoldItalic",
        "Roboto",
    ]


def test_no_waiting_reason_without_connected_agents() -> None:
    farm = Harness()
    (job,), _ = farm.submit(font_spec())
    assert fontmatch.waiting_reason(job, farm.scheduler.agents.values()) == ""
