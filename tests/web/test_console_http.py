"""The console's security rules at the HTTP level (no browser): cookie flags, CSRF on the login
form and on actions, roles, idle expiry on a fake clock, safe redirects, headers, offline docs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.fake import FakeClock
from orchestrator.api.auth import Principal
from orchestrator.web.format import krw, kst
from orchestrator.web.sessions import SessionStore
from tests.web.conftest import OPERATOR_KEY, VIEWER_KEY, Console, csrf_of, login


async def test_login_cookie_is_httponly_and_samesite_strict(console: Console) -> None:
    response = await login(console.client, OPERATOR_KEY)
    cookie = next(h for h in response.headers.get_list("set-cookie") if "orch_console=" in h)

    assert response.status_code == 303
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie


async def test_login_without_the_form_token_is_403(console: Console) -> None:
    response = await console.client.post("/login", data={"api_key": OPERATOR_KEY})

    assert response.status_code == 403
    assert "orch_console" not in response.headers.get("set-cookie", "")


async def test_pages_need_a_session(console: Console) -> None:
    page = await console.client.get("/orders?state=filled")
    fragment = await console.client.get("/", headers={"X-Fragment": "1"})

    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/orders%3Fstate%3Dfilled"
    assert fragment.status_code == 401  # the refresh script sends the browser to /login


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
async def test_login_never_redirects_off_site(console: Console, target: str) -> None:
    form = await console.client.get("/login")
    response = await console.client.post(
        "/login",
        data={"api_key": OPERATOR_KEY, "csrf_token": csrf_of(form.text), "next": target},
    )

    assert response.headers["location"] == "/"


async def test_a_post_with_a_wrong_csrf_token_changes_nothing(console: Console) -> None:
    await login(console.client, OPERATOR_KEY)
    response = await console.client.post(
        "/killswitch", data={"csrf_token": "forged", "on": "true", "reason": "x", "confirm": "yes"}
    )

    assert response.status_code == 403
    assert (await console.container.kill_switch.state())["on"] is False


async def test_a_viewer_post_is_403_even_with_its_own_token(console: Console) -> None:
    await login(console.client, VIEWER_KEY)
    token = csrf_of((await console.client.get("/")).text)
    response = await console.client.post(
        "/killswitch", data={"csrf_token": token, "on": "true", "reason": "x", "confirm": "yes"}
    )

    assert response.status_code == 403
    assert (await console.container.kill_switch.state())["on"] is False


async def test_an_operator_post_with_its_token_works_and_is_audited(console: Console) -> None:
    await login(console.client, OPERATOR_KEY)
    token = csrf_of((await console.client.get("/")).text)
    response = await console.client.post(
        "/killswitch", data={"csrf_token": token, "on": "true", "reason": "drill", "confirm": "yes"}
    )
    state = await console.container.kill_switch.state()

    assert response.status_code == 303
    assert state["on"] is True
    assert state["updated_by"] == "demo-operator"


async def test_the_kill_switch_needs_the_confirmation_box(console: Console) -> None:
    await login(console.client, OPERATOR_KEY)
    token = csrf_of((await console.client.get("/")).text)
    await console.client.post(
        "/killswitch", data={"csrf_token": token, "on": "true", "reason": "x"}
    )

    assert (await console.container.kill_switch.state())["on"] is False
    assert "Tick the confirmation box" in (await console.client.get("/")).text


async def test_logout_ends_the_session_server_side(console: Console) -> None:
    await login(console.client, OPERATOR_KEY)
    cookie = console.client.cookies["orch_console"]
    token = csrf_of((await console.client.get("/")).text)
    await console.client.post("/logout", data={"csrf_token": token})
    console.client.cookies.set("orch_console", cookie)  # a copied cookie is worthless now

    assert (await console.client.get("/")).status_code == 303


def test_an_idle_session_expires_and_use_keeps_it_alive() -> None:
    clock = FakeClock(datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    store = SessionStore(clock, idle=timedelta(minutes=15))
    token, _ = store.create(Principal("op", "operator"))

    clock.advance(14 * 60)
    assert store.get(token) is not None  # used: the idle timer starts again
    clock.advance(14 * 60)
    assert store.get(token) is not None
    clock.advance(15 * 60 + 1)
    assert store.get(token) is None
    assert len(store) == 0


def test_the_store_keeps_only_token_hashes() -> None:
    store = SessionStore(FakeClock(datetime(2026, 12, 1, tzinfo=UTC)), idle=timedelta(minutes=1))
    token, _ = store.create(Principal("op", "operator"))

    assert token not in store._sessions
    assert store.get(token + "x") is None


async def test_console_pages_carry_a_strict_content_security_policy(console: Console) -> None:
    await login(console.client, OPERATOR_KEY)
    response = await console.client.get("/")
    csp = response.headers["content-security-policy"]

    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["cache-control"] == "no-store"


async def test_docs_are_served_from_the_installed_package(console: Console) -> None:
    page = await console.client.get("/docs")
    bundle = await console.client.get("/docs/assets/swagger-ui-bundle.js")
    init = await console.client.get("/docs/init/swagger-init.js")

    assert page.status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")  # no absolute URL at all
    assert bundle.status_code == 200
    assert len(bundle.content) > 100_000
    assert "validatorUrl: null" in init.text  # never asks swagger.io to validate
    assert (await console.client.get("/redoc")).status_code in (303, 404)


async def test_order_confirm_shows_what_will_be_sent_and_refuses_bad_input(
    console: Console,
) -> None:
    await login(console.client, OPERATOR_KEY)
    page = (await console.client.get("/orders")).text
    token = csrf_of(page)
    good = await console.client.post(
        "/orders/confirm",
        data={
            "csrf_token": token,
            "symbol": "005930",
            "side": "buy",
            "quantity": "2",
            "price": "50,000",
            "idempotency_key": "k-1",
        },
    )
    bad = await console.client.post(
        "/orders/confirm",
        data={"csrf_token": token, "symbol": "x", "side": "hold", "quantity": "-1"},
    )
    shown = (await console.client.get("/orders")).text

    assert "₩50,000" in good.text
    assert 'name="idempotency_key" value="k-1"' in good.text
    assert bad.status_code == 303
    assert "quantity must be a whole number above 0" in shown
    assert "side must be buy or sell" in shown


async def test_the_same_idempotency_key_twice_is_one_order(console: Console) -> None:
    await login(console.client, OPERATOR_KEY)
    token = csrf_of((await console.client.get("/orders")).text)
    form = {
        "csrf_token": token,
        "user_id": "demo",
        "symbol": "005930",
        "side": "buy",
        "quantity": "1",
        "price": "",
        "idempotency_key": "console-twice",
    }
    first = await console.client.post("/orders", data=form)
    second = await console.client.post("/orders", data=form)
    assert console.container.orders is not None
    listed = await console.container.orders.list_orders()

    assert first.status_code == second.status_code == 303
    assert [o.intent.idempotency_key for o in listed].count("console-twice") == 1


def test_filters_format_krw_and_seoul_time() -> None:
    assert krw("15234870") == "₩15,234,870"
    assert krw(None) == "-"
    assert krw(1.5) == "-"  # floats are never money here
    shown = kst("2026-12-03T03:04:05+00:00")
    assert 'title="2026-12-03 12:04:05 +09:00 (Asia/Seoul)"' in shown
    assert ">2026-12-03 12:04:05<" in shown


async def test_every_page_answers_without_calling_a_vendor(console: Console) -> None:
    """Page views read our database only: the upstream call counters do not move."""
    await login(console.client, OPERATOR_KEY)
    registry = console.container.resilience.metrics.registry

    def calls() -> float:
        total = 0.0
        for metric in registry.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and "request" in sample.name:
                    total += sample.value
        return total

    before = calls()
    for path in ("/", "/portfolio", "/reconciliations", "/breaks", "/orders", "/jobs"):
        response = await console.client.get(path)
        assert response.status_code == 200, path
    for path in ("/workflows", "/audit", "/portfolio/charts/value.svg"):
        response = await console.client.get(path)
        assert response.status_code == 200, path

    assert calls() == before
    assert before > 0  # the start-up reconciliation did call the upstreams: the counter works


async def test_unknown_records_are_404_not_500(console: Console) -> None:
    await login(console.client, OPERATOR_KEY)
    for path in ("/breaks/999999", "/reconciliations/nope", "/workflows/runs/nope"):
        response = await console.client.get(path)
        assert response.status_code == 404, path
    response = await console.client.get("/audit?page=0")
    assert response.status_code == 422


async def test_investors_list_and_detail_from_the_investor_records(console: Console) -> None:
    await login(console.client, VIEWER_KEY)
    listed = await console.client.get("/investors")
    detail = await console.client.get("/investors/demo")
    missing = await console.client.get("/investors/nobody")

    assert listed.status_code == 200
    assert 'href="/investors/demo"' in listed.text
    assert detail.status_code == 200
    assert "kis" in detail.text
    assert missing.status_code == 404
