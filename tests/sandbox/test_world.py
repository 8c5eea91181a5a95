"""Durable sandbox worlds: whole state objects persisted, saved before the reply, refused when
their shape changed, held by one process."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from adapters.sandbox import world
from adapters.sandbox.kis import SandboxClock
from adapters.sandbox.kis import create_app as kis_app
from adapters.sandbox.kis.clock import KST
from adapters.sandbox.openbanking import create_app as ob_app
from adapters.sandbox.world import DurableApp, WorldBusy, WorldMismatch, WorldStore, durable
from tests.sandbox.kis.helpers import Kis


def _kis(store: WorldStore) -> DurableApp:
    clock = SandboxClock(datetime(2026, 12, 3, 10, 0, tzinfo=KST))
    clock.set_session("open")
    return durable(kis_app(env="real", clock=clock), store, "kis-real", ("broker",))


def _client(app: DurableApp) -> Kis:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kis")
    return Kis(http, app.state.broker)


async def test_orders_tokens_and_the_numbering_survive_a_restart(tmp_path: Path) -> None:
    """After a restart the old token still works, the old order is listed, numbers go on."""
    store = WorldStore.open(tmp_path / "w.db")
    before = _client(_kis(store))
    token = await before.login()
    first = await before.order(qty=2)
    assert first.status_code == 200, first.text
    store.close()  # a restart: nothing is saved on close, everything was saved per request

    again = WorldStore.open(tmp_path / "w.db")
    app = _kis(again)
    after = _client(app)
    after.access_token = token
    second = await after.order(qty=3)

    assert app.restored
    assert second.status_code == 200, second.text  # the token issued before is still valid
    numbers = [o.odno for o in app.state.broker.book.orders]
    assert numbers == [first.json()["output"]["ODNO"], second.json()["output"]["ODNO"]]
    assert len(set(numbers)) == 2
    again.close()


async def test_without_the_wrapper_nothing_persists(tmp_path: Path) -> None:
    """An app not wrapped (ephemeral) starts every time from its seed."""
    store = WorldStore.open(tmp_path / "w.db")
    app = _kis(store)
    await _client(app).login()
    plain = kis_app(env="real")
    assert plain.state.broker.book.orders == []
    assert store.names() == ["kis-real"]
    store.close()


def test_a_replaced_state_object_is_saved_once(tmp_path: Path) -> None:
    """The relay's reset swaps `app.state.relay`: the new object is what gets saved."""
    store = WorldStore.open(tmp_path / "w.db")
    app = durable(ob_app(), store, "openbanking", ("relay",))
    old = app.state.relay
    app.state.relay = type(old).from_seed(old.seed, old.clock)
    app.state.relay.accounts.clear()
    assert app.save() is True
    assert app.save() is False  # unchanged: not written again
    store.close()
    again = WorldStore.open(tmp_path / "w.db")
    assert durable(ob_app(), again, "openbanking", ("relay",)).state.relay.accounts == {}
    again.close()


def test_a_second_process_cannot_open_a_held_world(tmp_path: Path) -> None:
    store = WorldStore.open(tmp_path / "w.db")
    with pytest.raises(WorldBusy, match="in use by another process"):
        WorldStore.open(tmp_path / "w.db")
    store.close()
    WorldStore.open(tmp_path / "w.db").close()


@dataclass
class _Thing:
    n: int = 0
    added: list[int] = field(default_factory=list)
    flag: str = "new"


@dataclass
class _Strict:
    n: int
    must: int


class _State:
    def __init__(self, thing: object) -> None:
        self.thing = thing


class _App:
    def __init__(self, thing: object) -> None:
        self.state = _State(thing)

    async def __call__(self, scope: object, receive: object, send: object) -> None:
        raise AssertionError("not called")


def _saved_without(obj: object, *names: str) -> object:
    """`obj` as a pickle made before the fields `names` existed would restore it."""
    for name in names:
        delattr(obj, name)
    return obj


def test_a_world_saved_before_a_defaulted_field_was_added_keeps_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade that adds fields with defaults continues the world: they get their default."""
    monkeypatch.setattr(_Thing, "__module__", "adapters.sandbox.fake")
    store = WorldStore.open(tmp_path / "w.db")
    store.save("x", b"saved by an older sandbox")
    old = _saved_without(_Thing(3), "added", "flag")
    monkeypatch.setattr(world.pickle, "loads", lambda blob: {"thing": old})

    app = durable(_App(_Thing()), store, "x", ("thing",))  # type: ignore[arg-type]
    assert app.restored
    assert app.state.thing is old
    assert (old.n, old.added, old.flag) == (3, [], "new")
    store.close()


def test_a_world_of_another_shape_is_refused_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field added without a default cannot be guessed: refused, and the refusal says to
    reset, rather than half-loading the world."""
    monkeypatch.setattr(_Strict, "__module__", "adapters.sandbox.fake")
    store = WorldStore.open(tmp_path / "w.db")
    store.save("x", b"saved by an older sandbox")
    old = _saved_without(_Strict(3, 4), "must")
    monkeypatch.setattr(world.pickle, "loads", lambda blob: {"thing": old})

    with pytest.raises(WorldMismatch, match=r"lacks must.*demo reset"):
        durable(_App(_Strict(0, 0)), store, "x", ("thing",))  # type: ignore[arg-type]
    store.close()
