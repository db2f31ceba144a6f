"""Fetching templates and assets: file roots, data URIs, HTTP, names, checksums, the cache."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cache import FileCache
from agent.errors import LeaseFailure
from agent.fetch import FetchedFile, Fetcher, file_name_for, is_local_path, safe_file_name
from agent.http_fetch import HttpSettings

PAYLOAD = b"\x00aep bytes\xff" * 1000
QUICK = HttpSettings(attempts=2, backoff_initial=0.01)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/files/"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif path == "/busy":
            self.send_error(503, "busy")
        else:
            self.send_error(404, "not here")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_base(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fetch(fetcher: Fetcher, source: str, directory: Path, **kwargs: str) -> FetchedFile:
    return asyncio.run(fetcher.fetch(source, directory, **kwargs))


def failure_of(fetcher: Fetcher, source: str, directory: Path, **kwargs: str) -> LeaseFailure:
    with pytest.raises(LeaseFailure) as caught:
        fetch(fetcher, source, directory, **kwargs)
    assert caught.value.code == "fetch_failed"
    return caught.value


def test_file_uri_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    (root / "jobs").mkdir(parents=True)
    source = root / "jobs" / "intro.aep"
    source.write_bytes(PAYLOAD)
    fetched = fetch(Fetcher([root]), source.as_uri(), tmp_path / "ws")
    assert fetched.path == tmp_path / "ws" / "intro.aep"
    assert fetched.path.read_bytes() == PAYLOAD
    assert fetched.size == len(PAYLOAD)


def test_file_uri_outside_root_denied(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    secret = tmp_path / "secret.aep"
    secret.write_bytes(PAYLOAD)
    failure = failure_of(Fetcher([root]), secret.as_uri(), tmp_path / "ws")
    assert "outside the allowed file roots" in failure.message
    assert str(secret) in failure.message
    assert not failure.retryable
    assert not (tmp_path / "ws" / "secret.aep").exists()


def test_symlink_out_of_root_denied(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    secret = tmp_path / "secret.aep"
    secret.write_bytes(PAYLOAD)
    (root / "link.aep").symlink_to(secret)
    failure = failure_of(Fetcher([root]), (root / "link.aep").as_uri(), tmp_path / "ws")
    assert "outside the allowed file roots" in failure.message


def test_dot_dot_out_of_root_denied(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    (tmp_path / "secret.aep").write_bytes(PAYLOAD)
    source = f"file://{root}/../secret.aep"
    failure = failure_of(Fetcher([root]), source, tmp_path / "ws")
    assert "outside the allowed file roots" in failure.message


def test_no_roots_refuses_local_files(tmp_path: Path) -> None:
    source = tmp_path / "anywhere.aep"
    source.write_bytes(PAYLOAD)
    failure = failure_of(Fetcher([]), source.as_uri(), tmp_path / "ws")
    assert str(source) in failure.message
    assert "--file-root" in failure.message
    assert not failure.retryable


def test_bare_local_path(tmp_path: Path) -> None:
    source = tmp_path / "bare.aep"
    source.write_bytes(PAYLOAD)
    fetched = fetch(Fetcher([tmp_path]), str(source), tmp_path / "ws")
    assert fetched.path.name == "bare.aep"


def test_missing_file_not_retryable(tmp_path: Path) -> None:
    source = (tmp_path / "gone.aep").as_uri()
    failure = failure_of(Fetcher([tmp_path]), source, tmp_path / "ws")
    assert "does not exist" in failure.message
    assert source in failure.message
    assert not failure.retryable


def test_percent_encoded_file_name(tmp_path: Path) -> None:
    source = tmp_path / "my clip #1 (final).mov"
    source.write_bytes(PAYLOAD)
    uri = source.as_uri()
    assert "%20" in uri
    fetched = fetch(Fetcher([tmp_path]), uri, tmp_path / "ws")
    assert fetched.path.name == "my clip #1 (final).mov"


def test_data_uri_base64(tmp_path: Path) -> None:
    uri = "data:image/png;base64," + base64.b64encode(PAYLOAD).decode()
    fetched = fetch(Fetcher([]), uri, tmp_path / "ws")
    assert fetched.path.name == "data.png"
    assert fetched.path.read_bytes() == PAYLOAD


def test_data_uri_plain_text_with_name(tmp_path: Path) -> None:
    fetched = fetch(Fetcher([]), "data:,hello%20world", tmp_path / "ws", name="note.txt")
    assert fetched.path.name == "note.txt"
    assert fetched.path.read_bytes() == b"hello world"


def test_data_uri_invalid_base64(tmp_path: Path) -> None:
    failure = failure_of(Fetcher([]), "data:image/png;base64,@@@", tmp_path / "ws")
    assert "base64" in failure.message
    assert not failure.retryable


def test_http_download_drops_query(tmp_path: Path, http_base: str) -> None:
    source = f"{http_base}/files/logo%20final.png?token=abc&x=1#top"
    fetched = fetch(Fetcher([]), source, tmp_path / "ws")
    assert fetched.path.name == "logo final.png"
    assert fetched.path.read_bytes() == PAYLOAD
    assert fetched.size == len(PAYLOAD)
    assert [p.name for p in (tmp_path / "ws").iterdir()] == ["logo final.png"]


def test_http_404_not_retryable(tmp_path: Path, http_base: str) -> None:
    source = f"{http_base}/missing.aep"
    failure = failure_of(Fetcher([]), source, tmp_path / "ws")
    assert "HTTP 404" in failure.message
    assert source in failure.message
    assert not failure.retryable
    assert not any((tmp_path / "ws").iterdir())


def test_http_503_retryable(tmp_path: Path, http_base: str) -> None:
    failure = failure_of(Fetcher([], http=QUICK), f"{http_base}/busy", tmp_path / "ws")
    assert "HTTP 503" in failure.message
    assert failure.retryable


def test_http_refused_retryable(tmp_path: Path) -> None:
    # A port that was just free: nothing listens there.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failure = failure_of(Fetcher([], http=QUICK), f"http://127.0.0.1:{port}/t.aep", tmp_path / "ws")
    assert "network error" in failure.message
    assert failure.retryable


def test_sha256_checked(tmp_path: Path) -> None:
    source = tmp_path / "t.aep"
    source.write_bytes(PAYLOAD)
    good = hashlib.sha256(PAYLOAD).hexdigest()
    assert fetch(Fetcher([tmp_path]), source.as_uri(), tmp_path / "a", sha256=good).size == len(
        PAYLOAD
    )
    failure = failure_of(Fetcher([tmp_path]), source.as_uri(), tmp_path / "b", sha256="0" * 64)
    assert "sha256" in failure.message
    assert good in failure.message


def test_cache_serves_known_sha256(tmp_path: Path, http_base: str) -> None:
    sha256 = hashlib.sha256(PAYLOAD).hexdigest()
    fetcher = Fetcher([], cache=FileCache(tmp_path / "cache"))
    first = fetch(fetcher, f"{http_base}/files/t.aep", tmp_path / "a", sha256=sha256)
    assert not first.from_cache
    # The cache answers by sha256 before any request: this URL would 404.
    second = fetch(fetcher, f"{http_base}/gone/t.aep", tmp_path / "b", sha256=sha256)
    assert second.from_cache
    assert second.path.read_bytes() == PAYLOAD


def test_cache_evicts_least_recently_used(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "cache", max_bytes=2 * len(PAYLOAD))
    files = []
    for index in range(3):
        path = tmp_path / f"{index}.bin"
        path.write_bytes(PAYLOAD + bytes([index]))
        files.append(hashlib.sha256(path.read_bytes()).hexdigest())
        cache.add(files[-1], path)
    assert not cache.copy_to(files[0], tmp_path / "out0")
    assert cache.copy_to(files[2], tmp_path / "out2")


def test_unsupported_scheme(tmp_path: Path) -> None:
    failure = failure_of(Fetcher([]), "ftp://127.0.0.1/t.aep", tmp_path / "ws")
    assert "unsupported scheme" in failure.message


def test_artifact_without_connection(tmp_path: Path) -> None:
    failure = failure_of(Fetcher([]), f"artifact://{'a' * 64}/t.aep", tmp_path / "ws")
    assert failure.retryable


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("https://cdn.example/a/b/intro%20v2.aep?sig=1", "intro v2.aep"),
        ("file:///mnt/jobs/t%C3%A9l%C3%A9.aep", "télé.aep"),
        (f"artifact://{'b' * 64}/out%2Fput.mp4", "put.mp4"),
        ("C:\\jobs\\night\\t.aep", "t.aep"),
        ("\\\\server\\share\\t.aep", "t.aep"),
        ("https://cdn.example/", "download"),
        ("data:video/mp4;base64,AAAA", "data.mp4"),
    ],
)
def test_file_names(source: str, name: str) -> None:
    assert file_name_for(source) == name


def test_safe_names() -> None:
    assert safe_file_name("../../etc/passwd") == "passwd"
    assert safe_file_name("..") == "download"
    assert safe_file_name("a\x00b.png") == "ab.png"


def test_local_path_detection() -> None:
    assert is_local_path("C:\\x\\t.aep")
    assert is_local_path("c:/x/t.aep")
    assert is_local_path("/x/t.aep")
    assert not is_local_path("file:///x/t.aep")
    assert not is_local_path("https://x/t.aep")
