"""The controller's TLS server credentials, reloaded when the certificate files change.

grpc calls the certificate configuration fetcher before each new TLS handshake. A watchdog
observer on the folders of the files marks the configuration stale on any change there, and
the next handshake then reads the files again. Connections open at that moment keep the
certificate they were made with.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

logger = logging.getLogger(__name__)

# watchdog event types that mean a file's content may have changed.
CHANGE_EVENTS = frozenset({"created", "modified", "moved", "deleted", "closed"})


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    # CA whose certificates clients must present; None accepts clients without a certificate.
    client_ca: Path | None = None

    def paths(self) -> list[Path]:
        return [path for path in (self.cert, self.key, self.client_ca) if path is not None]


def _read(files: TlsFiles) -> grpc.ServerCertificateConfiguration:
    pairs = [(files.key.read_bytes(), files.cert.read_bytes())]
    root = files.client_ca.read_bytes() if files.client_ca is not None else None
    return grpc.ssl_server_certificate_configuration(pairs, root_certificates=root)


class ReloadingCredentials:
    """Server credentials whose certificate follows the files; close() stops the watch."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        for path in files.paths():
            if not path.is_file():
                raise FileNotFoundError(f"TLS file {path} not found: create it with aefarm certs")
        self._lock = threading.Lock()
        self._stale = False
        self.reloads = 0
        initial = _read(files)
        self.credentials = grpc.dynamic_ssl_server_credentials(
            initial,
            self._fetch,
            require_client_authentication=files.client_ca is not None,
        )
        self._observer = Observer()
        handler = _StaleMarker(self)
        for folder in {path.resolve().parent for path in files.paths()}:
            self._observer.schedule(handler, str(folder), recursive=False)
        self._observer.daemon = True
        self._observer.start()

    def mark_stale(self) -> None:
        with self._lock:
            self._stale = True

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        with self._lock:
            if not self._stale:
                return None
            self._stale = False
        try:
            configuration = _read(self.files)
        except OSError as error:
            # A half-written file is read again at the next handshake after its next change.
            logger.error("reloading the TLS certificate failed, keeping the old one: %s", error)
            return None
        self.reloads += 1
        logger.info("reloaded the TLS certificate from %s", self.files.cert)
        return configuration

    def close(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)


class _StaleMarker(FileSystemEventHandler):
    def __init__(self, owner: ReloadingCredentials) -> None:
        self.owner = owner
        self.watched = {str(path.resolve()) for path in owner.files.paths()}

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Reading the files (the fetcher does) raises opened and closed_no_write events.
        if event.event_type not in CHANGE_EVENTS:
            return
        names = {str(event.src_path), str(getattr(event, "dest_path", "") or "")}
        if names & self.watched:
            self.owner.mark_stale()
