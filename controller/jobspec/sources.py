"""Source URIs of templates and assets: checking them, and turning local paths into file URIs.

A bare Windows path such as C:\\x\\t.aep looks like a URI with the scheme "c". Here a single
letter before the colon always means a drive letter, because no URI scheme in use is one letter.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
from pathlib import Path, PureWindowsPath
from typing import Any
from urllib.parse import urlsplit

from controller.jobspec.fields import Fields
from controller.jobspec.problems import Problems, quoted_list

logger = logging.getLogger(__name__)

# Schemes that the agent's fetcher reads.
SUPPORTED_SCHEMES = ("artifact", "data", "file", "http", "https")

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_WINDOWS_ABSOLUTE = re.compile(r"[A-Za-z]:[\\/]")
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")
_ARTIFACT = re.compile(r"artifact://([0-9a-f]{64})/([^/].*)\Z")
_URI_HINT = (
    'give a URI such as "file:///mnt/share/logo.png", "https://example.com/logo.png" or '
    '"artifact://<sha256>/logo.png"'
)


def uri_scheme(value: str) -> str | None:
    """Return the lowercase URI scheme of value, or None for a local path such as C:\\x."""
    match = _SCHEME.match(value)
    if match is None or len(match.group(1)) == 1:
        return None
    return match.group(1).lower()


def windows_path_uri(value: str) -> str | None:
    """Return the file URI of an absolute Windows path (C:\\x\\t.aep, \\\\host\\share\\t.aep)."""
    if not (_WINDOWS_ABSOLUTE.match(value) or value.startswith("\\\\")):
        return None
    try:
        return PureWindowsPath(value).as_uri()
    except ValueError:
        # A UNC path without a share, such as \\host, names no file.
        return None


def local_source_uri(value: str, base_dir: Path) -> str | None:
    """Return the file URI of a local path resolved against base_dir, or None if no path.

    A URI (any scheme) and a drive-relative Windows path such as C:t.aep are not paths here.
    Symbolic links are kept, so a path under a mounted share keeps its prefix.
    """
    if not value.strip() or uri_scheme(value) is not None:
        return None
    windows_uri = windows_path_uri(value)
    if windows_uri is not None:
        return windows_uri
    if _WINDOWS_DRIVE.match(value):
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base_dir.absolute() / path
    return Path(os.path.normpath(path)).as_uri()


def resolve_local_sources(obj: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Return a copy of a raw job whose local source paths are file URIs.

    Covers template.src and the src of every asset, also inside nested jobs (inline or in a job
    field) and the job inputs of a join job. Relative paths are resolved against base_dir, the
    job file's folder. URIs and values of the wrong type are left as they are for the parser to
    check.
    """
    resolved = copy.deepcopy(obj)
    _resolve_job(resolved, base_dir)
    return resolved


def _resolve_job(job: dict[str, Any], base_dir: Path) -> None:
    template = job.get("template")
    if isinstance(template, dict):
        _resolve_src(template, base_dir)
    assets = job.get("assets")
    if not isinstance(assets, list):
        return
    for asset in assets:
        if not isinstance(asset, dict):
            continue
        _resolve_src(asset, base_dir)
        if asset.get("type") == "job":
            # A nested job is written inline in the asset, or as a complete job in its job field.
            job_field = asset.get("job")
            _resolve_job(job_field if isinstance(job_field, dict) else asset, base_dir)


def _resolve_src(holder: dict[str, Any], base_dir: Path) -> None:
    value = holder.get("src")
    if not isinstance(value, str):
        return
    uri = local_source_uri(value, base_dir)
    if uri is not None:
        logger.debug("resolved local source %s to %s", value, uri)
        holder["src"] = uri


def normalize_source(value: str, path: str, problems: Problems) -> str:
    """Return src as a URI, turning an absolute local path into a file URI.

    A relative path is reported, because the controller cannot know which folder it is
    relative to. The aefarm CLI resolves such paths against the job file's folder first.
    """
    shown = json.dumps(value, ensure_ascii=False)
    if not value.strip():
        problems.add(path, f"src is empty; {_URI_HINT}")
        return value
    if value != value.strip():
        problems.add(path, f"src {shown} starts or ends with whitespace; remove it")
        return value
    windows_uri = windows_path_uri(value)
    if windows_uri is not None:
        return windows_uri
    if _WINDOWS_DRIVE.match(value):
        problems.add(path, f"src {shown} is a drive-relative Windows path; give the full path")
        return value
    scheme = uri_scheme(value)
    if scheme is None:
        return _normalize_path(value, shown, path, problems)
    reason = _uri_reason(value, scheme)
    if reason is not None:
        problems.add(path, f"src {shown} {reason}")
    return value


def _normalize_path(value: str, shown: str, path: str, problems: Problems) -> str:
    if value.startswith("/"):
        return Path(os.path.normpath(value)).as_uri()
    problems.add(
        path,
        f"src {shown} is a relative path, which the controller cannot resolve; {_URI_HINT}, "
        "or submit the job file with the aefarm CLI, which resolves paths against its folder",
    )
    return value


def _uri_reason(value: str, scheme: str) -> str | None:
    if scheme not in SUPPORTED_SCHEMES:
        supported = quoted_list(SUPPORTED_SCHEMES)
        return f"uses the unsupported scheme {json.dumps(scheme)}; supported: {supported}"
    parts = urlsplit(value)
    if scheme in ("http", "https") and not parts.netloc:
        return f"has no host; write it as {scheme}://host/path"
    if scheme == "file" and not parts.path.startswith("/"):
        return "is not an absolute file URI; write it as file:///absolute/path"
    if scheme == "data" and "," not in value:
        return "is not a data URI; write it as data:[<media type>][;base64],<data>"
    if scheme == "artifact" and _ARTIFACT.match(value) is None:
        return "is not an artifact URL; write it as artifact://<sha256 in lowercase hex>/<name>"
    return None


def artifact_sha256(uri: str) -> str | None:
    """Return the sha256 that an artifact:// URL names, or None for any other URI."""
    match = _ARTIFACT.match(uri)
    return match.group(1) if match else None


def take_src(fields: Fields, problems: Problems) -> str | None:
    """Copy src into fields as a URI, and report it when missing. Return the URI, if a string."""
    value = fields.raw.get("src")
    path = fields.path("src")
    if not isinstance(value, str):
        if value is None:
            problems.add(path, "missing: give src, the URI of the file to fetch")
        fields.copy("src", "src")
        return None
    uri = normalize_source(value, path, problems)
    fields.put("src", uri, "src")
    return uri
