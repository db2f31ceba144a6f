"""HTTP fetching against a real server: retries, resume, conditional requests, the cache."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cache import FileCache
from agent.errors import LeaseFailure
from agent.fetch import FetchedFile, Fetcher
from agent.http_fetch import HttpSettings
from tests.asset_server import AssetServer, Route, asset_server

BODY = bytes(range(256)) * 400
SHA = hashlib.sha256(BODY).hexdigest()
QUICK = HttpSettings(connect_timeout=5, read_timeout=10, attempts=4, backoff_initial=0.01)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[AssetServer]:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with asset_server() as running:
        yield running


def fetcher_with_cache(tmp_path: Path, max_bytes: int = 10 * len(BODY)) -> Fetcher:
    return Fetcher([], cache=FileCache(tmp_path / "cache", max_bytes), http=QUICK)


def fetch(fetcher: Fetcher, source: str, directory: Path, **kwargs: str) -> FetchedFile:
    return asyncio.run(fetcher.fetch(source, directory, **kwargs))


def failure_of(fetcher: Fetcher, source: str, directory: Path, **kwargs: str) -> LeaseFailure:
    with pytest.raises(LeaseFailure) as caught:
        fetch(fetcher, source, directory, **kwargs)
    assert caught.value.code == "fetch_failed"
    return caught.value


def cached_files(tmp_path: Path) -> list[Path]:
    root = tmp_path / "cache"
    if not root.exists():
        return []
    return [path for path in root.glob("*/*") if path.parent.name != "urls"]


def test_503_twice_then_200(tmp_path: Path, server: AssetServer) -> None:
    server.routes["/t.aep"] = Route(BODY, fail_first=[503, 503])
    fetched = fetch(Fetcher([], http=QUICK), server.url("/t.aep"), tmp_path / "ws")
    assert fetched.path.read_bytes() == BODY
    assert len(server.requests_for("/t.aep")) == 3


def test_429_is_retried(tmp_path: Path, server: AssetServer) -> None:
    server.routes["/t.aep"] = Route(BODY, fail_first=[429])
    fetch(Fetcher([], http=QUICK), server.url("/t.aep"), tmp_path / "ws")
    assert len(server.requests_for("/t.aep")) == 2


def test_404_is_not_retried(tmp_path: Path, server: AssetServer) -> None:
    url = server.url("/missing.aep")
    failure = failure_of(Fetcher([], http=QUICK), url, tmp_path / "ws")
    assert url in failure.message
    assert "HTTP 404" in failure.message
    assert not failure.retryable
    assert len(server.requests_for("/missing.aep")) == 1


def test_503_for_good_fails_after_every_attempt(tmp_path: Path, server: AssetServer) -> None:
    server.routes["/t.aep"] = Route(BODY, fail_first=[503] * 10)
    failure = failure_of(Fetcher([], http=QUICK), server.url("/t.aep"), tmp_path / "ws")
    assert "HTTP 503" in failure.message
    assert "after 4 attempts" in failure.message
    assert len(server.requests_for("/t.aep")) == 4


def test_truncated_body_resumes_with_range(tmp_path: Path, server: AssetServer) -> None:
    server.routes["/clip.mov"] = Route(BODY, etag='"v1"', truncate_first=1)
    fetched = fetch(Fetcher([], http=QUICK), server.url("/clip.mov"), tmp_path / "ws")
    assert fetched.path.read_bytes() == BODY
    first, second = server.requests_for("/clip.mov")
    assert "Range" not in first.headers
    assert second.headers["Range"] == f"bytes={len(BODY) // 2}-"
    assert second.headers["If-Range"] == '"v1"'


def test_truncated_body_without_range_support_starts_over(
    tmp_path: Path, server: AssetServer
) -> None:
    server.routes["/clip.mov"] = Route(BODY, ranges=False, truncate_first=1)
    fetched = fetch(Fetcher([], http=QUICK), server.url("/clip.mov"), tmp_path / "ws")
    assert fetched.path.read_bytes() == BODY


def test_truncated_every_time_fails_and_caches_nothing(tmp_path: Path, server: AssetServer) -> None:
    server.routes["/clip.mov"] = Route(BODY, ranges=False, truncate_first=10)
    failure = failure_of(fetcher_with_cache(tmp_path), server.url("/clip.mov"), tmp_path / "ws")
    assert "truncated" in failure.message
    assert cached_files(tmp_path) == []
    assert not (tmp_path / "ws" / "clip.mov").exists()
    assert list((tmp_path / "ws").iterdir()) == []


def test_empty_body_fails_and_caches_nothing(tmp_path: Path, server: AssetServer) -> None:
    server.routes["/empty.png"] = Route(b"")
    failure = failure_of(fetcher_with_cache(tmp_path), server.url("/empty.png"), tmp_path / "ws")
    assert "empty body" in failure.message
    assert cached_files(tmp_path) == []


def test_sha256_mismatch_fails_and_caches_nothing(tmp_path: Path, server: AssetServer) -> None:
    server.routes["/t.aep"] = Route(BODY)
    fetcher = fetcher_with_cache(tmp_path)
    failure = failure_of(fetcher, server.url("/t.aep"), tmp_path / "ws", sha256="ab" * 32)
    assert SHA in failure.message
    assert "ab" * 32 in failure.message
    assert cached_files(tmp_path) == []
    assert list((tmp_path / "ws").iterdir()) == []


def test_etag_revalidation_reuses_the_cache(tmp_path: Path, server: AssetServer) -> None:
    server.routes["/t.aep"] = Route(BODY, etag='"abc"')
    fetcher = fetcher_with_cache(tmp_path)
    first = fetch(fetcher, server.url("/t.aep"), tmp_path / "a")
    second = fetch(fetcher, server.url("/t.aep"), tmp_path / "b")
    assert not first.from_cache
    assert second.from_cache
    assert second.path.read_bytes() == BODY
    requests = server.requests_for("/t.aep")
    assert "If-None-Match" not in requests[0].headers
    assert requests[1].headers["If-None-Match"] == '"abc"'


def test_last_modified_revalidation(tmp_path: Path, server: AssetServer) -> None:
    stamp = "Wed, 21 Oct 2026 07:28:00 GMT"
    server.routes["/t.aep"] = Route(BODY, last_modified=stamp)
    fetcher = fetcher_with_cache(tmp_path)
    fetch(fetcher, server.url("/t.aep"), tmp_path / "a")
    second = fetch(fetcher, server.url("/t.aep"), tmp_path / "b")
    assert second.from_cache
    assert server.requests_for("/t.aep")[1].headers["If-Modified-Since"] == stamp


def test_changed_file_is_downloaded_again(tmp_path: Path, server: AssetServer) -> None:
    server.routes["/t.aep"] = Route(BODY, etag='"v1"')
    fetcher = fetcher_with_cache(tmp_path)
    fetch(fetcher, server.url("/t.aep"), tmp_path / "a")
    server.routes["/t.aep"] = Route(BODY[::-1], etag='"v2"')
    second = fetch(fetcher, server.url("/t.aep"), tmp_path / "b")
    assert not second.from_cache
    assert second.path.read_bytes() == BODY[::-1]


def test_concurrent_fetches_of_one_url_download_once(tmp_path: Path, server: AssetServer) -> None:
    gate = threading.Event()
    server.routes["/big.mov"] = Route(BODY, gate=gate)
    fetcher = fetcher_with_cache(tmp_path)

    async def both() -> list[FetchedFile]:
        first = asyncio.create_task(fetcher.fetch(server.url("/big.mov"), tmp_path / "a"))
        second = asyncio.create_task(fetcher.fetch(server.url("/big.mov"), tmp_path / "b"))
        # Hold the body until the first request has arrived, so both leases wait on it.
        while not server.requests_for("/big.mov"):
            await asyncio.sleep(0.01)
        gate.set()
        return [await first, await second]

    first, second = asyncio.run(both())
    assert len(server.requests_for("/big.mov")) == 1
    assert first.path.read_bytes() == second.path.read_bytes() == BODY
    assert sorted([first.from_cache, second.from_cache]) == [False, True]


def test_waiting_fetch_shares_the_failure(tmp_path: Path, server: AssetServer) -> None:
    fetcher = fetcher_with_cache(tmp_path)

    async def both() -> list[BaseException | FetchedFile]:
        return await asyncio.gather(
            fetcher.fetch(server.url("/nope.aep"), tmp_path / "a"),
            fetcher.fetch(server.url("/nope.aep"), tmp_path / "b"),
            return_exceptions=True,
        )

    results = asyncio.run(both())
    assert all(isinstance(result, LeaseFailure) for result in results)
    assert len(server.requests_for("/nope.aep")) == 1


def test_query_string_never_names_the_file(tmp_path: Path, server: AssetServer) -> None:
    server.routes["/media/my%20clip.mov"] = Route(BODY)
    url = server.url("/media/my%20clip.mov?X-Signature=abc&expires=1")
    fetched = fetch(Fetcher([], http=QUICK), url, tmp_path / "ws")
    assert fetched.path.name == "my clip.mov"


def test_cache_size_cap_evicts_least_recently_used(tmp_path: Path, server: AssetServer) -> None:
    bodies = {f"/{index}.bin": BODY + bytes([index]) for index in range(3)}
    for path, body in bodies.items():
        server.routes[path] = Route(body, etag=f'"{path}"')
    fetcher = fetcher_with_cache(tmp_path, max_bytes=2 * len(BODY) + 10)
    fetch(fetcher, server.url("/0.bin"), tmp_path / "ws")
    fetch(fetcher, server.url("/1.bin"), tmp_path / "ws")
    # Using /0.bin again makes /1.bin the least recently used.
    assert fetch(fetcher, server.url("/0.bin"), tmp_path / "ws").from_cache
    fetch(fetcher, server.url("/2.bin"), tmp_path / "ws")
    assert len(cached_files(tmp_path)) == 2
    assert fetch(fetcher, server.url("/0.bin"), tmp_path / "ws").from_cache
    assert not fetch(fetcher, server.url("/1.bin"), tmp_path / "ws").from_cache
