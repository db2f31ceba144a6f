"""Group commit: many events share one store commit, and many commits share one fsync.

The coordinator writes each event as one part of a deferred store transaction, which commits
once the events that are ready in the event loop have been applied (GroupCommit). A commit with
synchronous=NORMAL survives a crash of the controller process but not a power loss. Whatever
the controller reports outside as done (a Submit reply, a result's Ack) must survive a power
loss too, so those replies wait until Durability has synced the commit that stored them. One
fsync of the store's WAL file, in a worker thread, covers every commit made before it started,
so Submit calls and results no longer make the event loop wait for the disk. Requests that
commit with durable=True (CancelJob, drain and resume, SetPriority, SubmitBatch) still sync in
the loop, and so do SQLite's automatic checkpoints.

No message leaves before the commit of the event that produced it. Messages to one agent leave
in the order the events produced them: a message that need not wait for a sync still queues
behind an earlier one of the same agent that does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator

from controller.errors import StoreFailure
from controller.store import Store

logger = logging.getLogger(__name__)


class Durability:
    """Counts commits, syncs them in a worker thread, and releases what waited for them."""

    def __init__(self, sync: Callable[[], None], on_failure: Callable[[BaseException], None]):
        self._sync = sync
        self._on_failure = on_failure
        # Commits counted so far, and how many of them a sync has made durable.
        self.committed = 0
        self.synced = 0
        self.syncs = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._held: dict[str, deque[tuple[int, Callable[[], None]]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    def note_commit(self, synced: bool) -> int:
        """Count a commit; synced=True when the commit itself synced (synchronous=FULL).

        Return the commit's number, for run_after.
        """
        self.committed += 1
        if synced:
            # A synced commit also syncs every commit before it: they share one log file.
            self.synced = self.committed
            self._release()
        return self.committed

    def run_after(self, key: str, commit: int, action: Callable[[], None]) -> None:
        """Run action once commit number `commit` is durable, after earlier actions of key.

        commit=0 waits for nothing but still keeps the order of key's actions.
        """
        queue = self._held.get(key)
        if commit <= self.synced and not queue:
            action()
            return
        if self._failure is not None:
            return  # the controller is stopping; nothing it held may leave
        if queue is None:
            queue = self._held[key] = deque()
        queue.append((commit, action))
        self._start()

    async def wait(self) -> None:
        """Return once every commit counted so far is durable; raise StoreFailure if not."""
        commit = self.committed
        if commit <= self.synced:
            return
        if self._failure is not None:
            raise StoreFailure(f"the controller store failed: {self._failure}")
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((commit, future))
        self._start()
        await future

    def _start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # No event loop (a synchronous caller, such as a test or start-up): sync inline.
            self._sync_now()
            return
        self._task = loop.create_task(self._run())

    def _sync_now(self) -> None:
        target = self.committed
        try:
            self._sync()
        except OSError as error:
            self._fail(error)
            return
        self.syncs += 1
        self.synced = max(self.synced, target)
        self._release()

    async def _run(self) -> None:
        while self.synced < self.committed and (self._waiters or self._held):
            target = self.committed
            try:
                await asyncio.to_thread(self._sync)
            except OSError as error:
                self._fail(error)
                return
            self.syncs += 1
            self.synced = max(self.synced, target)
            self._release()

    def _release(self) -> None:
        waiting = []
        for commit, future in self._waiters:
            if commit > self.synced:
                waiting.append((commit, future))
            elif not future.done():
                future.set_result(None)
        self._waiters = waiting
        for key in list(self._held):
            queue = self._held[key]
            while queue and queue[0][0] <= self.synced:
                _, action = queue.popleft()
                action()
            if not queue:
                del self._held[key]

    def _fail(self, error: BaseException) -> None:
        logger.critical("syncing the store failed, stopping the controller: %s", error)
        self._failure = error
        dropped = sum(len(queue) for queue in self._held.values())
        if dropped:
            logger.critical("%d messages that waited for the sync are not sent", dropped)
        self._held.clear()
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(StoreFailure(f"the controller store failed: {error}"))
        self._waiters = []
        self._on_failure(error)


class GroupCommit:
    """Commits the coordinator's deferred store transaction and sends what waited for it."""

    def __init__(self, store: Store, on_failure: Callable[[BaseException], None]) -> None:
        self.store = store
        self.durability = Durability(store.sync, on_failure)
        self._on_failure = on_failure
        # Actions of applied events whose commit is still open, in order:
        # (order key, whether the action also waits for a sync, action).
        self._uncommitted: list[tuple[str, bool, Callable[[], None]]] = []
        self._commit_waiters: list[asyncio.Future[None]] = []
        self._commit_scheduled = False
        self._deferring = False
        self._needs_sync = False
        store.on_deferred_commit = self._on_commit

    @contextlib.contextmanager
    def event(self, deferred: bool, needs_sync: bool) -> Iterator[None]:
        """Send an applied event's messages inside this block.

        deferred=True: the event's writes wait in the deferred transaction, so its messages
        wait for the commit; needs_sync=True: they also wait for a sync after it.
        """
        self._deferring = deferred
        self._needs_sync = needs_sync
        try:
            yield
        finally:
            self._deferring = False
        if deferred:
            self.schedule_commit()

    def after_commit(self, key: str, gate: int, action: Callable[[], None]) -> None:
        """Run action after the commits it depends on, in the order of key's actions.

        gate is a commit number that must be synced first: 0 for none, -1 for the newest.
        """
        if self._deferring:
            self._uncommitted.append((key, self._needs_sync or gate != 0, action))
            return
        if self._uncommitted:
            # An earlier event's actions wait for their commit; keep the order.
            self._uncommitted.append((key, gate != 0, action))
            return
        if gate < 0:
            gate = self.durability.committed
        self.durability.run_after(key, gate, action)

    def schedule_commit(self) -> None:
        """Commit the deferred transaction once the callbacks ready now have run."""
        if self._commit_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._commit_now()
            return
        self._commit_scheduled = True
        loop.call_soon(self._commit_now)

    async def wait_durable(self) -> None:
        """Return once every change applied so far survives a power loss."""
        if self._uncommitted or self._commit_scheduled:
            future = asyncio.get_running_loop().create_future()
            self._commit_waiters.append(future)
            await future
        await self.durability.wait()

    def _commit_now(self) -> None:
        self._commit_scheduled = False
        # A failed commit has already stopped the controller through _on_commit.
        with contextlib.suppress(sqlite3.Error):
            self.store.commit_deferred()

    def _on_commit(self, error: Exception | None) -> None:
        held, self._uncommitted = self._uncommitted, []
        waiters, self._commit_waiters = self._commit_waiters, []
        if error is not None:
            logger.critical("a store commit failed, stopping the controller: %s", error)
            for future in waiters:
                if not future.done():
                    future.set_exception(StoreFailure(f"the controller store failed: {error}"))
            self._on_failure(error)
            return
        number = self.durability.note_commit(synced=False)
        for key, needs_sync, action in held:
            self.durability.run_after(key, number if needs_sync else 0, action)
        for future in waiters:
            if not future.done():
                future.set_result(None)
