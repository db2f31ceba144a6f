"""The normalized job spec that both accepted job shapes parse into.

The parsers in this package turn a Nexrender Cloud job or a nexrender job into a JobSpec. The
controller stores the spec as JSON, builds each lease's RenderTask from it, and never looks at the
submitted JSON again.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ENGINES = ("ae2025", "ae2026")
DEFAULT_ENGINE = "ae2026"

# Codec ids of Nexrender Cloud; the agent's codec catalog maps each to an output module.
CODECS = (
    "video_h264_vbr_1mbps",
    "video_h264_vbr_5mbps",
    "video_h264_vbr_15mbps",
    "video_h264_vbr_40mbps",
    "video_h264_cbr_1mbps",
    "video_h264_cbr_5mbps",
    "video_h264_cbr_15mbps",
    "video_h264_cbr_40mbps",
    "video_prores_422",
    "video_prores_4444",
    "image_png",
    "image_jpeg",
)
DEFAULT_CODEC = "video_h264_vbr_15mbps"


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LayerTarget(Spec):
    """A layer addressed by name or by 1-based index, in one composition or in every one."""

    layer_name: str | None = None
    layer_index: int | None = None
    # None means every composition that has the layer; "outer->inner" addresses a nested comp.
    composition: str | None = None
    # Patch every layer with layer_name in a composition, instead of requiring a unique name.
    every_match: bool = False


class FootageAsset(LayerTarget):
    type: Literal["image", "video", "audio"]
    src: str
    sequence: bool = False
    # File name in the workspace; None means the name taken from src.
    name: str | None = None
    sha256: str | None = None
    # Remove the replaced source item when no other layer uses it (nexrender's removeOld).
    remove_old: bool = False


class DataAsset(LayerTarget):
    type: Literal["data"] = "data"
    # Property path, already split: ["Source Text"] or ["Effects", "Skin_Color", "Color"].
    property: list[str]
    value: Any = None
    expression: str | None = None


class EssentialAsset(LayerTarget):
    """A value set through an Essential Graphics controller, named as in the panel.

    Without a layer it sets a controller of composition (None means the template's
    composition). With a layer it sets that precomposition layer's own value of a controller of
    the composition the layer shows, and composition is the one that contains the layer.
    """

    type: Literal["essential"] = "essential"
    property: str
    value: Any

    def has_layer(self) -> bool:
        return self.layer_name is not None or self.layer_index is not None


class StaticAsset(Spec):
    type: Literal["static"] = "static"
    src: str
    name: str | None = None
    sha256: str | None = None


class ScriptAsset(Spec):
    type: Literal["script"] = "script"
    src: str
    keyword: str = "NX"
    parameters: dict[str, Any] = Field(default_factory=dict)


class FunctionAsset(Spec):
    """ExtendScript source given in the job (Nexrender Cloud), run like a script asset."""

    type: Literal["function"] = "function"
    code: str
    keyword: str = "NX"
    parameters: dict[str, Any] = Field(default_factory=dict)


class FontAsset(Spec):
    type: Literal["font"] = "font"
    src: str
    name: str | None = None


Asset = Annotated[
    FootageAsset
    | DataAsset
    | StaticAsset
    | ScriptAsset
    | FontAsset
    | EssentialAsset
    | FunctionAsset,
    Field(discriminator="type"),
]


class TemplateRef(Spec):
    # A template stored on the controller, or a URI; at least one of the two is set.
    id: str | None = None
    src: str | None = None
    composition: str
    # Set by the controller for a template it knows (controller/templates.py): the stored
    # file's sha256 and the PostScript names of the fonts the project uses.
    sha256: str | None = None
    fonts: list[str] = Field(default_factory=list)


class RenderSettings(Spec):
    engine: str = DEFAULT_ENGINE
    # None means the output module (or the engine's default) decides.
    codec: str | None = None
    quality: Literal["draft", "full"] = "full"
    preview: bool = False
    output_type: Literal["video", "image", "aep"] = "video"
    # Frame range in the composition's displayed frame numbers, end inclusive; None means the
    # composition's work area as aerender renders it without -s and -e.
    frame_start: int | None = None
    frame_end: int | None = None
    frame_increment: int = 1
    output_module: str | None = None
    render_settings_template: str | None = None
    output_ext: str | None = None
    # Per-key overrides for aerender -renderSettings and -outputSettings ("key: value; ..."),
    # which AE 2023 and later accept.
    render_settings_overrides: dict[str, str] = Field(default_factory=dict)
    output_settings_overrides: dict[str, str] = Field(default_factory=dict)
    continue_on_missing_footage: bool = False
    hang_timeout_seconds: int | None = None
    max_render_seconds: int | None = None
    allow_missing_fonts: bool = False


class Webhook(Spec):
    url: str
    method: str = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    data: Any = None


class NestedJob(Spec):
    """A child render whose output becomes the footage of layer_name in the parent."""

    layer_name: str
    # The parent's composition that contains the layer; None means every composition that has it.
    composition: str | None = None
    job: JobSpec


class JoinInput(Spec):
    """One clip of a join job: a video URL, or a nested job whose output is the clip."""

    src: str | None = None
    job: JobSpec | None = None


class JobSpec(Spec):
    kind: Literal["render", "join"] = "render"
    # Which shape the job was submitted in: "cloud" (Nexrender Cloud) or "nexrender".
    shape: Literal["cloud", "nexrender"] = "cloud"
    uid: str | None = None
    # None for a join job.
    template: TemplateRef | None = None
    assets: list[Asset] = Field(default_factory=list)
    children: list[NestedJob] = Field(default_factory=list)
    join_inputs: list[JoinInput] = Field(default_factory=list)
    settings: RenderSettings = Field(default_factory=RenderSettings)
    priority: int = 0
    tags: list[str] = Field(default_factory=list)
    pools: list[str] = Field(default_factory=list)
    fonts: list[str] = Field(default_factory=list)
    webhook: Webhook | None = None
    # Nexrender Cloud upload {provider, params}, kept as submitted.
    upload: dict[str, Any] | None = None
    # nexrender actions, kept as submitted: {"postrender": [{"module": ..., ...}], ...}.
    actions: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)


NestedJob.model_rebuild()
JoinInput.model_rebuild()
