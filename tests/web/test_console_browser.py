"""The operator console in a real browser: Debian's Chromium driven by Playwright against the
whole service on a free loopback port, seeded with a break, orders and a plan awaiting approval.

Every test fails if a page asks for anything outside the server's origin or logs a JavaScript
error (see tests/web/browser.py). Screenshots of each page are saved as test artifacts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.domain.model import OrderType, Side
from orchestrator.services.orders import OrderRequest
from tests.support.live_server import LiveServer, live_server
from tests.web.browser import Browser, Watch, playwright_browser, screenshot
from tests.web.conftest import OPERATOR_KEY, VIEWER_KEY

__all__ = ["playwright_browser"]  # the module-scoped browser fixture

pytestmark = pytest.mark.browser
SAMSUNG_CMA = "120260101000000000240001"


async def _seed(server: LiveServer) -> dict[str, Any]:
    """A cash break at Samsung, a filled market buy, a live limit buy, a plan awaiting approval."""
    c = server.container
    assert c is not None
    assert c.orders is not None
    assert c.directory is not None
    assert c.reconcile is not None
    assert c.runner is not None
    relay = c.sandbox_apps["openbanking"]
    import httpx

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=relay), base_url="http://s"
    ) as h:
        changed = await h.post(
            "/_sandbox/balances", json={"fintech_use_num": SAMSUNG_CMA, "balance_amt": 15_000_000}
        )
        assert changed.status_code == 200
    report = await c.reconcile.run_once(trigger="seed")
    assert report.status == "breaks"
    if not c.orders.ready:
        await c.orders.recover()
    account = await c.directory.trading_account("demo")
    filled = await c.orders.place(
        OrderRequest("seed-market", account, "005930", Side.BUY, 1, OrderType.MARKET), actor="seed"
    )
    resting = await c.orders.place(
        OrderRequest(
            "seed-limit", account, "005930", Side.BUY, 2, OrderType.LIMIT, _low_price(server)
        ),
        actor="seed",
    )
    plan = await c.runner.run("monthly-dca-005930")
    return {"filled": filled.id, "resting": resting.id, "plan": plan.id}


def _low_price(server: LiveServer, ticks_up: int = 0) -> Any:
    """A buy limit that rests unfilled (cancellable): the day's lower price limit (-30 % of the
    previous close, so it moves with the sandbox's simulated prices), `ticks_up` ticks above."""
    from decimal import Decimal

    from adapters.sandbox.kis.ticks import ceil_to_tick, tick_up

    assert server.container is not None
    broker = server.container.sandbox_apps["kis"].state.broker
    day = broker.prices.quote_day(broker.now(), broker.clock.session)
    _, lower = broker.prices.limits("005930", day)
    price = ceil_to_tick(lower)
    for _ in range(ticks_up):
        price = tick_up(price)
    return Decimal(price)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("console")
    with live_server(tmp, ORCH_API__CONSOLE_REFRESH_SECONDS="1") as s:
        s.seeded = s.call(lambda: _seed(s))  # type: ignore[attr-defined]
        yield s


@pytest.fixture
def browser(playwright_browser: Any, server: LiveServer) -> Browser:
    return Browser(playwright_browser, server.url)


@pytest.fixture
def session(browser: Browser) -> Iterator[tuple[Any, Watch]]:
    """A fresh browser context (no cookies); afterwards: nothing left the origin, no JS errors."""
    ctx, watch = browser.context()
    page = ctx.new_page()
    yield page, watch
    ctx.close()
    assert watch.foreign() == [], f"requests left the origin: {watch.foreign()}"
    assert watch.errors == [], f"JavaScript console errors: {watch.errors}"


def _login(page: Any, key: str) -> None:
    page.goto("/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))


def test_login_sets_a_strict_httponly_cookie_and_logout_ends_the_session(session: Any) -> None:
    page, _ = session
    page.goto("/orders")
    assert "/login" in page.url  # no session: the login page, remembering where we were going

    page.get_by_label("API key").fill(OPERATOR_KEY)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/orders$"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "orch_console")

    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read the session
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login$"))
    page.goto("/")
    assert "/login" in page.url


def test_a_wrong_key_is_refused(session: Any) -> None:
    page, _ = session
    page.goto("/login")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Log in").click()

    assert page.get_by_role("alert").inner_text() == "Unknown API key."
    assert [c for c in page.context.cookies() if c["name"] == "orch_console"] == []


PAGES = [
    ("/", "Overview", "Last reconciliation"),
    ("/portfolio", "Portfolio", "Cash by institution"),
    ("/reconciliations", "Reconciliations", "seed"),
    ("/breaks", "Breaks", "cash_mismatch"),
    ("/orders", "Orders", "005930"),
    ("/jobs", "Jobs", "reconcile-intraday"),
    ("/workflows", "Workflows", "monthly-dca-005930"),
    ("/investors", "Investors", "demo"),
    ("/audit", "Audit", "order.intent_recorded"),
]


def test_every_page_renders_with_seeded_data(session: Any) -> None:
    page, _ = session
    _login(page, OPERATOR_KEY)
    for path, title, seeded in PAGES:
        page.goto(path)
        assert page.get_by_role("heading", level=1).inner_text() == title
        assert seeded in page.inner_text("main"), f"{path} does not show {seeded!r}"
        screenshot(page, f"page{path.replace('/', '-') or '-'}{'overview' if path == '/' else ''}")


UNLABELLED = """() => [...document.querySelectorAll(
  'input:not([type=hidden]), select, textarea, button')].filter(
  (el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
          && !(el.tagName === 'BUTTON' && el.textContent.trim())).map((el) => el.outerHTML)"""


def test_every_control_has_a_label_on_every_page(session: Any, server: LiveServer) -> None:
    page, _ = session
    _login(page, OPERATOR_KEY)
    run = server.seeded["plan"]  # type: ignore[attr-defined]
    for path in [p for p, _t, _s in PAGES] + ["/breaks/1", f"/workflows/runs/{run}", "/login"]:
        page.goto(path)
        assert page.evaluate(UNLABELLED) == [], path


def test_portfolio_shows_krw_separators_kst_titles_and_server_drawn_charts(session: Any) -> None:
    page, _ = session
    _login(page, OPERATOR_KEY)
    page.goto("/portfolio")
    total = page.locator("#total").inner_text()
    stamp = page.locator("main time").first

    assert re.fullmatch(r"₩\d{1,3}(,\d{3})+", total), total
    assert stamp.get_attribute("title").endswith("+09:00 (Asia/Seoul)")
    images = page.locator(".charts img")
    assert images.count() == 3
    for i in range(3):  # each chart loaded (an SVG from this server) and has a text alternative
        assert page.evaluate("(img) => img.naturalWidth", images.nth(i).element_handle()) > 0
        assert images.nth(i).get_attribute("alt")


def test_break_acknowledge_then_resolve_by_hand(session: Any, server: LiveServer) -> None:
    page, _ = session
    _login(page, OPERATOR_KEY)
    page.goto("/breaks")
    page.get_by_role("link", name=re.compile(r"^\d+$")).first.click()
    assert page.locator("#break-state").inner_text() == "open"
    assert "cash tolerance" in page.inner_text("main")  # the tolerance used is shown

    page.get_by_label("Comment (recorded in the audit log)").fill(
        "Samsung deposit by hand, checking"
    )
    page.get_by_role("button", name="Acknowledge").click()
    assert "acknowledged" in page.locator(".flashes").inner_text()
    assert "checking" in page.locator("#break-ack").inner_text()
    page.once("dialog", lambda d: d.accept())
    page.get_by_label("Reason (recorded in the audit log)").fill("deposit confirmed with the bank")
    page.get_by_role("button", name="Resolve").click()

    assert page.locator("#break-state").inner_text() == "resolved"
    page.goto("/audit")
    text = page.inner_text("main")
    assert "break.acknowledged" in text
    assert "break.resolved_manually" in text


def test_order_double_click_sends_one_order_then_cancel(session: Any, server: LiveServer) -> None:
    page, _ = session
    c = server.container
    assert c is not None
    broker = c.sandbox_apps["kis"].state.broker
    before = len(broker.book.orders)
    _login(page, OPERATOR_KEY)
    page.goto("/orders")
    page.get_by_label("Symbol").fill("005930")
    page.get_by_label("Quantity").fill("3")
    limit = f"{_low_price(server, ticks_up=1):,}"
    page.get_by_label("Limit price (KRW, empty = market)").fill(limit)
    page.get_by_role("button", name="Review order…").click()
    assert "This order will be sent to the broker once" in page.inner_text("main")
    screenshot(page, "page-order-confirm")

    page.get_by_role("button", name="Send order").dblclick()
    page.wait_for_url(re.compile(r"/orders$"))

    assert len(broker.book.orders) == before + 1
    row = page.locator("tr", has_text=limit).first
    assert "accepted" in row.inner_text()
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name=re.compile("^Cancel order")).click()
    page.wait_for_url(re.compile(r"/orders$"))
    assert "cancel" in page.locator("tr", has_text=limit).first.inner_text()


def test_plan_approval_sends_the_plan(session: Any, server: LiveServer) -> None:
    page, _ = session
    plan = server.seeded["plan"]  # type: ignore[attr-defined]
    _login(page, OPERATOR_KEY)
    page.goto("/workflows")
    page.locator("#awaiting").get_by_role("link").first.click()
    assert page.locator("#run-status").inner_text() == "awaiting_approval"
    assert "005930" in page.locator("#plan").inner_text()  # exactly what would be sent
    screenshot(page, "page-workflow-plan")

    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Approve and send").click()

    assert page.url.endswith(f"/workflows/runs/{plan}")
    assert page.locator("#run-status").inner_text() in ("succeeded", "partially_succeeded")


def test_dry_run_from_the_page_sends_nothing(session: Any, server: LiveServer) -> None:
    page, _ = session
    broker = server.container.sandbox_apps["kis"].state.broker  # type: ignore[union-attr]
    before = len(broker.book.orders)
    _login(page, OPERATOR_KEY)
    page.goto("/workflows")
    page.get_by_role("button", name="Dry run monthly-dca-005930").click()

    assert "dry run" in page.locator("#run-status").inner_text()
    assert len(broker.book.orders) == before


def test_kill_switch_needs_reason_and_confirm_and_updates_the_overview(
    session: Any, server: LiveServer
) -> None:
    page, _ = session
    _login(page, OPERATOR_KEY)
    page.get_by_label("Reason (recorded in the audit log)").fill("drill")
    page.get_by_label(re.compile("I confirm")).check()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Turn kill switch ON").click()

    assert page.locator("#ks-state").inner_text().startswith("ON")
    c = server.container
    assert c is not None
    server.call(lambda: c.kill_switch.set(False, "drill over", "test"))
    # Live refresh: the overview follows a change made elsewhere without a reload.
    page.locator("#ks-state", has_text="off").wait_for()


def test_the_orders_list_follows_new_orders_without_a_reload(
    session: Any, server: LiveServer
) -> None:
    page, _ = session
    _login(page, OPERATOR_KEY)
    page.goto("/orders")
    c = server.container
    assert c is not None
    assert c.orders is not None
    assert c.directory is not None
    orders, directory = c.orders, c.directory

    async def place() -> str:
        account = await directory.trading_account("demo")
        request = OrderRequest("live-refresh", account, "005930", Side.BUY, 1, OrderType.MARKET)
        return (await orders.place(request, actor="elsewhere")).id

    intent = server.call(place)
    page.locator(f'tr[data-order="{intent}"]').wait_for()  # polled in, same page load

    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_reconcile_now_shows_progress_to_the_finished_run(session: Any) -> None:
    page, _ = session
    _login(page, OPERATOR_KEY)
    page.get_by_role("button", name="Reconcile every user now").click()
    page.wait_for_url(re.compile(r"/reconciliations/progress/"))
    page.locator("#progress-text", has_text="1 / 1").wait_for()
    page.get_by_role("link", name=re.compile("^Run ")).wait_for()

    assert page.locator("#progress-status").inner_text() in ("clean", "breaks")


def test_viewer_sees_no_actions_and_a_forged_post_is_403(session: Any) -> None:
    page, _ = session
    _login(page, VIEWER_KEY)
    for path, _title, _seeded in PAGES:
        page.goto(path)
        buttons = page.locator("main button").all_inner_texts()
        assert buttons in ([], ["Filter"], ["Show"], ["Verify chain"]), f"{path}: {buttons}"
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")

    forged = page.request.post(
        "/killswitch", form={"csrf_token": csrf, "on": "true", "reason": "x", "confirm": "yes"}
    )

    assert forged.status == 403
    assert "needs role operator" in forged.text()


def test_a_post_without_the_csrf_token_is_403(session: Any, server: LiveServer) -> None:
    page, _ = session
    _login(page, OPERATOR_KEY)

    forged = page.request.post("/killswitch", form={"on": "true", "reason": "x", "confirm": "yes"})

    assert forged.status == 403
    c = server.container
    assert c is not None
    assert server.call(c.kill_switch.state)["on"] is False


def test_phone_width_has_no_horizontal_scroll_and_keyboard_reaches_the_nav(
    browser: Browser,
) -> None:
    ctx, watch = browser.context(width=390, height=844)
    page = ctx.new_page()
    _login(page, OPERATOR_KEY)
    for path in ("/", "/orders", "/portfolio"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways at 390 px by {overflow} px"
    page.goto("/")
    screenshot(page, "phone-overview")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Overview"
    ctx.close()
    assert watch.foreign() == []
    assert watch.errors == []


def test_a_fanned_run_links_to_its_per_investor_outcomes(session: Any) -> None:
    """The start-up reconciliation's row says done, failed and total; its link (the fire's time,
    offset included, in the path) opens the run with one row per investor, filterable."""
    page, _ = session
    _login(page, VIEWER_KEY)
    row = page.locator("tr[data-run^='reconcile-intraday@']").last
    for _ in range(100):  # bounded: the start-up reconciliation finishes within seconds
        page.goto("/jobs")
        if re.search(r"(\d+) done, 0 failed of \1", row.inner_text()):
            break
        page.wait_for_timeout(100)
    counts = row.locator(".progress").inner_text()
    assert re.fullmatch(r"(\d+) done, 0 failed of \1", counts), counts

    row.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/jobs/runs/reconcile-intraday/"))
    assert page.get_by_role("heading", level=1).inner_text() == "Run of reconcile-intraday"
    assert page.locator("#run-progress").inner_text() == counts
    assert page.locator("#outcomes tr[data-investor='demo']").count() == 1
    assert page.evaluate(UNLABELLED) == []
    page.get_by_label("Outcome").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"status=failed"))
    assert page.locator("#outcomes tr[data-investor]").count() == 0
    assert "No failed outcomes." in page.inner_text("#outcomes")


def test_docs_work_offline(session: Any) -> None:
    page, watch = session
    page.goto("/docs")
    page.get_by_text("Hybrid broker orchestrator").first.wait_for()
    page.locator(".opblock").first.wait_for()
    screenshot(page, "page-docs")

    assert any(u.endswith("/docs/assets/swagger-ui-bundle.js") for u in watch.requests)


def test_readme_pictures(session: Any, tmp_path: Path) -> None:
    """The two PNGs the README shows (docs/), refreshed by `make screenshots`."""
    import os

    target = os.environ.get("CONSOLE_README_SHOTS")
    if not target:
        pytest.skip("CONSOLE_README_SHOTS not set (make screenshots sets it)")
    page, _ = session
    _login(page, OPERATOR_KEY)
    page.goto("/")
    page.screenshot(path=str(Path(target) / "console-overview.png"), full_page=True)
    page.goto("/portfolio")
    page.screenshot(path=str(Path(target) / "console-portfolio.png"), full_page=True)
