"""Parsing where a Nexrender Cloud job reports and sends its result: webhook and upload."""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit

from controller.jobspec.fields import (
    Fields,
    build,
    check_choice,
    check_known_fields,
    check_not_empty,
    object_at,
)
from controller.jobspec.models import Webhook
from controller.jobspec.problems import Problems, describe, member

logger = logging.getLogger(__name__)

WEBHOOK_FIELDS = ("url", "method", "headers", "data")
WEBHOOK_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")
UPLOAD_FIELDS = ("provider", "params")
# An HTTP header name is a token (RFC 9110, section 5.1).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


def parse_webhook(value: Any, at: str, problems: Problems) -> Webhook | None:
    """Parse webhook {url, method, headers, data}. The method is stored in upper case."""
    raw = object_at(value, at, problems, "webhook")
    if raw is None:
        return None
    check_known_fields(raw, WEBHOOK_FIELDS, at, problems)
    fields = Fields(raw, at)
    url = raw.get("url")
    if url is None:
        problems.add(fields.path("url"), "missing: a webhook needs url, an http(s) URL")
    elif isinstance(url, str):
        _check_url(url, fields.path("url"), problems)
    fields.copy("url", "url")
    method = raw.get("method")
    if isinstance(method, str):
        method = method.upper()
        check_choice(method, WEBHOOK_METHODS, "webhook method", fields.path("method"), problems)
    if method is not None:
        fields.put("method", method, "method")
    headers = raw.get("headers")
    if isinstance(headers, dict):
        _check_headers(headers, fields.path("headers"), problems)
    fields.copy("headers", "headers")
    fields.copy("data", "data")
    return build(Webhook, fields, problems)


def _check_url(url: str, path: str, problems: Problems) -> None:
    shown = json.dumps(url, ensure_ascii=False)
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        problems.add(path, f"webhook url {shown} is not a valid URL ({exc}); give an http(s) URL")
        return
    if parts.scheme.lower() not in ("http", "https"):
        problems.add(
            path,
            f"webhook url {shown} is not an http(s) URL; give one such as "
            '"https://example.com/hooks/render"',
        )
    elif not host:
        problems.add(path, f"webhook url {shown} has no host; write it as https://host/path")


def _check_headers(headers: dict[str, Any], at: str, problems: Problems) -> None:
    for name, value in headers.items():
        path = member(at, str(name))
        if not _HEADER_NAME.match(str(name)):
            problems.add(
                path, f"header name {json.dumps(str(name))} is not a valid HTTP header name"
            )
        elif isinstance(value, str) and ("\r" in value or "\n" in value):
            problems.add(path, f"header {name} contains a line break; remove it")


def parse_upload(value: Any, at: str, problems: Problems) -> dict[str, Any] | None:
    """Parse upload {provider, params} and return it as submitted."""
    raw = object_at(value, at, problems, "upload")
    if raw is None:
        return None
    check_known_fields(raw, UPLOAD_FIELDS, at, problems)
    provider = raw.get("provider")
    params = raw.get("params", {})
    valid = True
    if not isinstance(provider, str):
        reason = "missing: " if provider is None else f"invalid value {describe(provider)}: "
        problems.add(member(at, "provider"), reason + 'give the provider name, such as "s3"')
        valid = False
    elif not check_not_empty(provider, member(at, "provider"), problems, "provider"):
        valid = False
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        problems.add(member(at, "params"), f"params must be an object, not {describe(params)}")
        valid = False
    return {"provider": provider, "params": params} if valid else None
