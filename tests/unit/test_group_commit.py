"""Group commit: Acks and Submit replies wait for a sync, and one sync covers many commits.

The store's fsync is the edge of the operating system here: the tests hold it on a
threading.Event to see what waits for it, or make it fail.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from controller.coordinator import AgentConnection, Coordinator
from controller.errors import StoreFailure
from controller.scheduler_types import AgentConnected, LeaseRef, OutputInfo, ResultReceived
from controller.sqlite_store import SqliteStore
from protos import agent_pb2
from tests.unit.test_store_restart import Clock, agent, coordinator, spec


class HeldSync:
    """Wraps SqliteStore.sync: every fsync waits until release() and is counted."""

    def __init__(self, store: SqliteStore) -> None:
        self.real = store.sync
        self.gate = threading.Event()
        self.started = 0
        self.fail: OSError | None = None

    def __call__(self) -> None:
        self.started += 1
        self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        self.real()

    def release(self) -> None:
        self.gate.set()


def held_farm(tmp_path: Path) -> tuple[Coordinator, HeldSync]:
    store = SqliteStore(tmp_path / "aefarm.db")
    farm = coordinator(tmp_path, Clock(), store)
    held = HeldSync(store)
    farm.outgoing.durability._sync = held
    return farm, held


async def leased(farm: Coordinator) -> tuple[AgentConnection, agent_pb2.Lease]:
    """Submit a job and connect agent render-1, which gets its lease."""
    farm.submit(spec(), source="test")
    connection = farm.attach("render-1")
    farm.handle(AgentConnected(agent(Clock())))
    welcome = await asyncio.wait_for(connection.outbox.get(), 5)
    lease = await asyncio.wait_for(connection.outbox.get(), 5)
    assert welcome is not None and welcome.WhichOneof("body") == "welcome"
    assert lease is not None and lease.WhichOneof("body") == "lease"
    return connection, lease.lease


def result_event(lease: agent_pb2.Lease, result_id: str = "r-1") -> ResultReceived:
    output = OutputInfo("file:///out/result.mp4", 10, "0" * 64, "result.mp4")
    return ResultReceived(
        agent_id="render-1",
        result_id=result_id,
        lease=LeaseRef(lease.lease_id, lease.job_id, lease.attempt),
        success=True,
        outputs=(output,),
    )


def test_ack_waits_for_sync(tmp_path: Path) -> None:
    async def scenario() -> None:
        farm, held = held_farm(tmp_path)
        connection, lease = await leased(farm)
        farm.handle(result_event(lease))
        await asyncio.sleep(0.05)
        assert held.started == 1
        assert connection.outbox.empty()
        # The result is committed (a process crash keeps it) before it is synced.
        assert farm.store.is_result_applied("r-1")
        held.release()
        message = await asyncio.wait_for(connection.outbox.get(), 5)
        assert message is not None
        assert message.WhichOneof("body") == "ack"
        assert message.ack.accepted
        assert farm.outgoing.durability.synced == farm.outgoing.durability.committed

    asyncio.run(scenario())


def test_later_message_keeps_agent_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        farm, held = held_farm(tmp_path)
        connection, lease = await leased(farm)
        other = farm.attach("render-2")
        farm.handle(result_event(lease))
        # The next job's lease goes to the same agent: it must not overtake the held Ack.
        farm.submit(spec(), source="test", durable=False)
        await asyncio.sleep(0.05)
        assert connection.outbox.empty()
        # A message to another agent that waits for nothing leaves at once.
        cancel = agent_pb2.Cancel(lease_id="other", job_id="other")
        farm.send_to_agent("render-2", agent_pb2.ControllerMessage(cancel=cancel))
        assert not other.outbox.empty()
        held.release()
        first = await asyncio.wait_for(connection.outbox.get(), 5)
        second = await asyncio.wait_for(connection.outbox.get(), 5)
        assert first is not None and first.WhichOneof("body") == "ack"
        assert second is not None and second.WhichOneof("body") == "lease"

    asyncio.run(scenario())


def test_one_sync_covers_many_submits(tmp_path: Path) -> None:
    async def scenario() -> None:
        farm, held = held_farm(tmp_path)
        # The first submit starts a sync, which the gate holds; nine more commit meanwhile.
        farm.submit(spec(), source="test", durable=False)
        waiters = [asyncio.create_task(farm.outgoing.wait_durable())]
        await asyncio.sleep(0.05)
        for _ in range(9):
            farm.submit(spec(), source="test", durable=False)
            waiters.append(asyncio.create_task(farm.outgoing.wait_durable()))
        await asyncio.sleep(0.05)
        assert not any(waiter.done() for waiter in waiters)
        held.release()
        await asyncio.wait_for(asyncio.gather(*waiters), 5)
        assert held.started == 2
        assert farm.outgoing.durability.syncs == 2

    asyncio.run(scenario())


def test_failed_sync_drops_held_and_stops(tmp_path: Path) -> None:
    async def scenario() -> None:
        farm, held = held_farm(tmp_path)
        failures: list[BaseException] = []
        farm.on_store_failure = failures.append
        connection, lease = await leased(farm)
        farm.handle(result_event(lease))
        waiter = asyncio.create_task(farm.outgoing.wait_durable())
        held.fail = OSError(5, "Input/output error")
        held.release()
        with pytest.raises(StoreFailure, match="Input/output error"):
            await asyncio.wait_for(waiter, 5)
        assert len(failures) == 1
        assert connection.outbox.empty()
        with pytest.raises(StoreFailure):
            farm.submit(spec(), source="test", durable=False)
            await farm.outgoing.wait_durable()

    asyncio.run(scenario())


def test_sync_without_loop_runs_inline(tmp_path: Path) -> None:
    farm = coordinator(tmp_path, Clock())
    farm.submit(spec(), source="test")
    connection = farm.attach("render-1")
    farm.handle(AgentConnected(agent(Clock())))
    for body in ("welcome", "lease"):
        message = connection.outbox.get_nowait()
        assert message is not None
        assert message.WhichOneof("body") == body
    assert message is not None
    farm.handle(result_event(message.lease))
    ack = connection.outbox.get_nowait()
    assert ack is not None
    assert ack.WhichOneof("body") == "ack"
    assert farm.outgoing.durability.syncs == 1


def test_store_sync_survives_reopen(tmp_path: Path) -> None:
    farm = coordinator(tmp_path, Clock())
    (job,) = farm.submit(spec(), source="test", durable=False)
    farm.store.sync()
    farm.store.close()
    reopened = SqliteStore(tmp_path / "aefarm.db")
    assert reopened.get_job(job.id) is not None


def test_deferred_parts_share_one_commit(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    commits: list[Exception | None] = []
    store.on_deferred_commit = commits.append
    with store.transaction(deferred=True):
        store.save_agent_control("render-1", True, "")
    # A failing part rolls back its own writes and leaves the others in the transaction.
    with pytest.raises(RuntimeError), store.transaction(deferred=True):
        store.save_agent_control("render-2", True, "")
        raise RuntimeError("the event failed")
    with store.transaction(deferred=True):
        store.save_agent_control("render-3", False, "quarantined")
    assert commits == []
    assert store.commit_deferred()
    assert commits == [None]
    assert not store.commit_deferred()
    store.close()
    controls = SqliteStore(tmp_path / "aefarm.db").load_agent_controls()
    assert controls == {"render-1": (True, ""), "render-3": (False, "quarantined")}


def test_plain_transaction_commits_deferred_first(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    commits: list[Exception | None] = []
    store.on_deferred_commit = commits.append
    with store.transaction(deferred=True):
        store.save_agent_control("render-1", True, "")
    with store.transaction(durable=True):
        assert commits == [None]
        store.save_agent_control("render-2", True, "")
    store.close()
    assert set(SqliteStore(tmp_path / "aefarm.db").load_agent_controls()) == {
        "render-1",
        "render-2",
    }
