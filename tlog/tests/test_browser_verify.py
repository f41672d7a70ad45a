"""verify.js in Debian's Chromium against a live server: every step passes on a real entry
and a real consistency proof, and tampering with the displayed proof makes it fail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import ROOT, EntryMaker, LiveServer

pytestmark = [pytest.mark.live, pytest.mark.slow]
ARTIFACTS = ROOT / "var" / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def page(live_server_pg: LiveServer) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make system)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.problems = problems  # type: ignore[attr-defined]
            yield page
        finally:
            browser.close()


def upload(url: str) -> tuple[str, dict[str, Any]]:
    entry, _ = EntryMaker().hashedrekord()
    r = requests.post(f"{url}/api/v1/log/entries", json=entry, timeout=30)
    assert r.status_code == 201, r.text
    ((uuid, doc),) = r.json().items()
    return uuid, doc


def run_check(page: Any, button: str, verdict: str) -> tuple[str, list[tuple[str, str]]]:
    page.click(button)
    page.wait_for_selector(f"{verdict}[data-result]", timeout=15_000)
    steps_list = page.get_attribute(button, "data-output")
    steps = page.eval_on_selector_all(
        f"#{steps_list} li", "items => items.map(i => [i.dataset.result, i.textContent])"
    )
    return page.get_attribute(verdict, "data-result"), [tuple(s) for s in steps]


def tamper(page: Any, element_id: str, script: str) -> None:
    page.evaluate(
        """([id, script]) => {
            const el = document.getElementById(id);
            const data = JSON.parse(el.textContent);
            new Function("data", script)(data);
            el.textContent = JSON.stringify(data);
        }""",
        [element_id, script],
    )


def test_entry_verifies_in_the_browser_and_tampering_fails(live_server_pg, page):
    url = live_server_pg.url
    uuid, _ = upload(url)
    upload(url)  # a second entry, so the first one's proof has a right-hand sibling too
    response = page.goto(f"{url}/entries/{uuid}")
    assert response.status == 200
    assert "Content-Security-Policy" in {k.title(): v for k, v in response.headers.items()}

    result, steps = run_check(page, "#verify-entry", "#verify-verdict")
    assert result == "pass", steps
    assert all(r == "pass" for r, _ in steps), steps
    texts = " | ".join(t for _, t in steps)
    for expected in (
        "Leaf hash",
        "Step 1",
        "equals the checkpoint",
        "Checkpoint signature",
        "Signed entry timestamp verifies",
    ):
        assert expected in texts, texts
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "entry-verify.png"), full_page=True)

    tamper(page, "verify-data", "data.hashes[0] = '00'.repeat(32);")
    result, steps = run_check(page, "#verify-entry", "#verify-verdict")
    assert result == "fail"
    assert any(r == "fail" and "differs from the checkpoint" in t for r, t in steps), steps

    page.reload()
    tamper(page, "verify-data", "data.body = btoa('{}');")
    result, steps = run_check(page, "#verify-entry", "#verify-verdict")
    assert result == "fail", steps
    page.screenshot(path=str(ARTIFACTS / "entry-verify-tampered.png"), full_page=True)
    assert page.problems == []  # type: ignore[attr-defined]


def test_consistency_verifies_in_the_browser(live_server_pg, page):
    url = live_server_pg.url
    for _ in range(3):
        upload(url)
    size = requests.get(f"{url}/api/v1/log", timeout=10).json()["treeSize"]
    for first in (2, 3):  # a power of two starts from the old root itself: both paths
        page.goto(f"{url}/log?first={first}&second={size}")
        assert "the proof verifies" in page.content()
        result, steps = run_check(page, "#verify-consistency", "#consistency-verdict")
        assert result == "pass" and all(r == "pass" for r, _ in steps), steps
    page.screenshot(path=str(ARTIFACTS / "consistency-verify.png"), full_page=True)

    tamper(page, "consistency-data", "data.oldRoot = 'ff'.repeat(32);")
    result, steps = run_check(page, "#verify-consistency", "#consistency-verdict")
    assert result == "fail", steps
    assert page.problems == []  # type: ignore[attr-defined]
