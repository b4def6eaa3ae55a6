"""Issue 23's acceptance in a real browser: browse, fill a conditional form with a validation
error then a fix, preview, submit, watch the request complete in the rehearsal, retry a failed
one, abort it; a second team's user cannot see the request; a gated request waits for its
approver, who approves it from the inbox while the requester watches; axe-core finds no serious
or critical violation on any page."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Portal

TIMEOUT_MS = 120_000  # the rehearsal's tickets move one step per poll


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def axe_check(page: Any, name: str) -> None:
    """No serious or critical accessibility violation on ``page`` (axe-core, bundled JS)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert not bad, f"{name}: {bad}"


@pytest.fixture
def ana(browser: Any, portal: Portal) -> Iterator[Any]:
    yield from _signed_in(browser, portal, "ana")


@pytest.fixture
def ben(browser: Any, portal: Portal) -> Iterator[Any]:
    yield from _signed_in(browser, portal, "ben")


@pytest.fixture
def nora(browser: Any, portal: Portal) -> Iterator[Any]:
    yield from _signed_in(browser, portal, "nora")


def _signed_in(browser: Any, portal: Portal, who: str) -> Iterator[Any]:
    context = browser.new_context(base_url=portal.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/portal/")
    assert "/portal/login" in page.url  # token mode: sign in first
    axe_check(page, "login")
    page.get_by_label("API token").fill(portal.tokens[who])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/portal/$"))
    assert portal.tokens[who] not in page.content()
    try:
        yield page
    finally:
        context.close()
    csp = [e for e in errors if "Content Security Policy" in e]
    assert not csp, csp


def _api(portal: Portal, who: str) -> httpx.Client:
    return httpx.Client(
        base_url=portal.url, headers={"Authorization": f"Bearer {portal.tokens[who]}"}, timeout=10
    )


def test_browse_request_with_a_fix_and_watch_it_complete(ana: Any, portal: Portal) -> None:
    page = ana
    axe_check(page, "catalog")
    page.keyboard.press("Tab")  # the keyboard's first stop skips the navigation
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.get_by_label("Search").fill("Amazon SQS Queue")
    expect(page.locator("#results .card")).to_have_count(1)
    page.get_by_role("link", name="Amazon SQS Queue").click()
    page.wait_for_url(re.compile(r"/portal/items/queue-sqs-standard$"))
    assert "cloud-platform" in page.content()
    assert "Versions" in page.content()
    axe_check(page, "item")
    page.get_by_role("link", name=re.compile("^Request ")).click()
    axe_check(page, "form")

    dedup = page.locator("#wrap-contentBasedDeduplication")
    assert dedup.is_hidden()
    page.get_by_label("FIFO Queue").check()  # the conditional field shows
    assert dedup.is_visible()
    page.get_by_label("FIFO Queue").uncheck()
    assert dedup.is_hidden()
    page.get_by_label("Queue Name").fill("Settlement Events")
    page.get_by_label("Environment").select_option("staging")
    page.get_by_label("Consumer IAM Role ARN").fill("arn:aws:iam::123456789012:role/settlement")
    page.get_by_label("Queue Name").press("Tab")  # leaving the field checks it
    message = "'Queue Name' is invalid: 3-70 characters; lowercase letters, digits and hyphens."
    assert page.locator("#err-queueName").inner_text() == message
    assert page.get_by_label("Queue Name").get_attribute("aria-invalid") == "true"
    page.get_by_role("button", name="Submit request").click()  # refused in the page
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert message in summary.inner_text()
    axe_check(page, "form with errors")

    page.get_by_label("Queue Name").fill("settlement-events")
    page.get_by_label("Queue Name").press("Tab")
    assert page.locator("#err-queueName").inner_text() == ""
    page.get_by_role("button", name="Preview the plan").click()
    preview = page.locator("#preview")
    preview.get_by_text("What will happen").wait_for()
    assert "sqs-staging" in preview.inner_text()  # the rendered Terraform workspace
    axe_check(page, "form with preview")

    page.get_by_role("button", name="Submit request").click()
    page.wait_for_url(re.compile(r"/portal/requests/[0-9a-f-]{36}$"))
    request_url = page.url
    axe_check(page, "request")
    page.locator("#request-status", has_text="completed").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#log li").count() >= 2  # the events arrived live
    assert "Finished: completed" in page.locator("#live-state").inner_text()

    nav = page.get_by_role("navigation", name="Main")
    path = request_url.split("127.0.0.1", 1)[1].split("/", 1)[1]
    nav.get_by_role("link", name="My requests").click()
    expect(page.locator(f'a[href="/{path}"]')).to_have_count(1)
    axe_check(page, "my requests")
    nav.get_by_role("link", name="Team requests").click()
    expect(page.locator(f'a[href="/{path}"]')).to_have_count(1)
    axe_check(page, "team requests")
    nav.get_by_role("link", name="Approvals").click()
    axe_check(page, "approvals")


def test_retry_a_failed_request_then_abort_it(ana: Any, ben: Any, portal: Portal) -> None:
    with _api(portal, "ana") as api:
        created = api.post(
            "/api/v1/requests",
            json={"catalogItem": "portal-test-signoff", "fields": {"widgetName": "w1"}},
        )
        assert created.status_code == 201, created.text
        request_id = created.json()["id"]
    ticket = _waiting_ticket(portal)
    rejected = httpx.post(f"{portal.url}/rehearsal/control/jira/{ticket}/reject", timeout=10)
    assert rejected.status_code == 200, rejected.text

    page = ana
    page.goto(f"/portal/requests/{request_id}")
    page.locator("#request-status", has_text="failed").wait_for(timeout=TIMEOUT_MS)
    assert "Rejected" in page.locator("#request-panel").inner_text()  # why it stopped
    axe_check(page, "failed request")
    page.get_by_role("button", name="Retry").click()
    page.locator(".notice", has_text="Retry accepted.").wait_for()
    # the retry arrives in the live log; the step finds its rejected ticket: failed again
    page.locator("#log li", has_text="retry of signoff requested by ana@example.com").wait_for()
    page.locator("#request-status", has_text="failed").wait_for(timeout=TIMEOUT_MS)

    page.get_by_label("Reason to abort").fill("not needed any more")
    page.get_by_role("button", name="Abort").click()
    page.locator("#request-status", has_text="aborted").wait_for()
    assert "not needed any more" in page.locator("#request-panel").inner_text()

    other = ben  # another team: the request does not exist for them
    response = other.goto(f"/portal/requests/{request_id}")
    assert response.status == 404
    other.goto("/portal/requests?scope=team")
    assert request_id[:8] not in other.content()


def _waiting_ticket(portal: Portal) -> str:
    """The simulated JIRA ticket of the sign-off, once it exists."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tickets = httpx.get(f"{portal.url}/rehearsal/control", timeout=10).json()["jira"]
        waiting = [t for t in tickets if "Sign off widget" in str(t)]
        if waiting:
            return str(waiting[-1]["ref"])
        time.sleep(0.2)
    raise AssertionError("the sign-off ticket was never opened")


def test_browsing_needs_no_javascript(browser: Any, portal: Portal) -> None:
    context = browser.new_context(base_url=portal.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/portal/login")
        page.get_by_label("API token").fill(portal.tokens["ben"])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_label("Search").fill("kafka")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url(re.compile(r"q=kafka"))
        expect(page.locator("#results .card")).to_have_count(1)
        page.get_by_role("link", name="Kafka Topic").click()
        page.get_by_role("link", name=re.compile("^Request ")).click()
        page.get_by_role("button", name="Submit request").click()  # empty: the server answers
        expect(page.locator("#err-topicName")).not_to_be_empty()
        assert page.locator("#error-summary").is_visible()
    finally:
        context.close()


def test_a_gated_request_waits_for_its_approver(ana: Any, nora: Any, portal: Portal) -> None:
    page = ana
    page.goto("/portal/items/portal-test-gated/request")
    gate = page.get_by_role("region", name="Approval")
    assert "1 approval from team network (not the requester)" in gate.inner_text()
    page.get_by_label("Widget Name").fill("gw1")
    page.get_by_role("button", name="Preview the plan").click()
    who = page.locator("#preview").get_by_role("region", name="Who must approve")
    expect(who).to_contain_text("network-review: 1 approval from team network, not you")
    page.get_by_role("button", name="Submit request").click()
    page.wait_for_url(re.compile(r"/portal/requests/[0-9a-f-]{36}$"))
    request_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#request-status")).to_have_text("awaiting_approval")
    expect(page.locator("#request-panel")).to_contain_text("Remaining: 1 more approval")
    assert "must be approved by someone else" in page.locator("#own-request").inner_text()
    assert page.get_by_role("button", name="Approve").count() == 0
    axe_check(page, "request awaiting approval")

    # the requester's own approval, posted as the form would be: refused by the core, announced
    csrf = page.locator("body").get_attribute("data-csrf")
    own = page.request.post(
        f"/portal/requests/{request_id}/approve", form={"_csrf_token": csrf, "comment": "me"}
    )
    assert own.status == 403
    assert "requester" in own.text()
    assert 'role="alert"' in own.text()
    with _api(portal, "ana") as api:  # nothing ran: its one step never started
        actions = api.get(f"/api/v1/requests/{request_id}").json()["actions"]
        assert [a["status"] for a in actions] == ["pending"]

    approver = nora
    approver.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    inbox = approver.locator("#inbox")
    expect(inbox).to_contain_text("ana@example.com")
    expect(inbox).to_contain_text("1 more approval")
    axe_check(approver, "approvals inbox")
    inbox.locator(f'a[href="/portal/requests/{request_id}"]').click()
    approver.wait_for_url(re.compile(request_id + "$"))
    axe_check(approver, "request with the approval decision")

    approver.get_by_role("button", name="Reject").click()  # a rejection needs a reason
    reason = approver.get_by_label(re.compile("^Reason to reject"))
    expect(approver.locator("#err-reject")).to_have_text(
        str(reason.get_attribute("data-required-message"))
    )
    assert reason.get_attribute("aria-invalid") == "true"
    assert approver.evaluate("document.activeElement.id") == "reason-reject"
    expect(approver.locator("#request-status")).to_have_text("awaiting_approval")

    approver.get_by_label("Comment (optional)").fill("fine by network")
    approver.get_by_role("button", name="Approve").click()
    expect(approver.locator(".notice")).to_contain_text("the request goes ahead")
    expect(approver.locator("#request-panel")).to_contain_text("Approved by Nora")

    # the requester's page, open all along, follows: approved, then completed, live
    page.locator("#request-status", has_text="completed").wait_for(timeout=TIMEOUT_MS)
    expect(page.locator("#request-panel")).to_contain_text("Approved by Nora")
    expect(page.locator("#log")).to_contain_text("approved by nora@example.com")
