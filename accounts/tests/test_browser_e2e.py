"""The portal end to end, in Debian's Chromium against a live server (gunicorn +
PostgreSQL + the development identity provider), with the real sigstore-python CLI:

sign in through the OIDC redirect flow, create a project, put alice on its allow-list,
sign one artifact as alice and as mallory, find the artifact by digest, verify an entry
in the browser, and see the project page mark alice's signature trusted and mallory's not.

Screenshots of every step go to var/test-artifacts/. Elements are found by their
accessible roles and labels, as a person using a screen reader would find them.
"""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sigportal.livetest import ROOT, LiveServer

pytestmark = [pytest.mark.live, pytest.mark.slow]

ARTIFACTS = ROOT / "var" / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
SIGSTORE = str(Path(sys.executable).parent / "sigstore")
# Identities of their own: the live server is shared by the session's other live tests,
# which sign as alice@example.test too.
ALICE = "alice-e2e@example.test"
MALLORY = "mallory-e2e@example.test"
SLUG = "e2e-demo"
TIMEOUT_MS = 20_000


@pytest.fixture
def page(live_server_pg: LiveServer) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make system)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            problems: list[tuple[str, str]] = []  # (page URL, console error)
            page.on("console", lambda m: m.type == "error" and problems.append((page.url, m.text)))
            page.on("pageerror", lambda exc: problems.append((page.url, str(exc))))
            page.on(
                "response",
                lambda r: r.status >= 400 and problems.append((page.url, f"{r.status} {r.url}")),
            )
            page.problems = problems  # type: ignore[attr-defined]
            yield page
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"portal-e2e-{name}.png"), full_page=True)


def dev_token(server: LiveServer, email: str) -> str:
    return server.manage("devtoken", email).stdout.strip().splitlines()[-1]


def sigstore_sign(config: Path, token: str, artifact: Path, bundle: Path) -> None:
    result = subprocess.run(
        [
            SIGSTORE,
            "--trust-config",
            str(config),
            "sign",
            "--identity-token",
            token,
            "--bundle",
            str(bundle),
            str(artifact),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def sign_in(page: Any, url: str) -> None:
    """The real redirect flow: /oidc/authenticate/ -> the provider's sign-in form ->
    its authorization endpoint -> /oidc/callback/ -> /account/."""
    page.goto(f"{url}/")
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_url(f"{url}/oauth/login/**")
    shot(page, "01-provider-sign-in")
    page.get_by_label("Email address").fill(ALICE)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/account/")
    page.get_by_role("heading", name="Your account").wait_for()
    assert ALICE in page.get_by_role("region", name="Signed in as").inner_text()
    shot(page, "02-account")


def create_project(page: Any, url: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    page.get_by_role("link", name="Create a project").click()
    page.get_by_label("Short name (slug)").fill(SLUG)
    page.get_by_label("Name", exact=True).fill("End-to-end demo")
    page.get_by_label("Description").fill("Signed by alice; <b>not</b> by mallory.")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(f"{url}/projects/{SLUG}/")
    page.get_by_role("heading", name="End-to-end demo").wait_for()
    assert "<b>not</b>" in page.locator(".description").inner_text()  # shown, not markup
    shot(page, "03-project-created")


def add_trusted_signer(page: Any, url: str) -> None:
    form = page.get_by_role("form", name="Add a trusted signer")
    form.get_by_label("OIDC issuer").select_option(f"{url}/oauth")
    form.get_by_label("Identity", exact=True).fill(ALICE)
    form.get_by_label("Note").fill("release manager")
    form.get_by_role("button", name="Add signer").click()
    page.wait_for_url(f"{url}/projects/{SLUG}/")
    allow_list = page.get_by_role("table", name=f"The allow-list: who may sign for {SLUG}")
    assert allow_list.get_by_role("row").filter(has_text=ALICE).count() == 1
    shot(page, "04-signer-added")


def sign_twice(server: LiveServer, work: Path) -> str:
    """One artifact signed by alice (on the list) and by mallory (not); its digest."""
    config = work / "client_trust_config.json"
    trust = requests.get(f"{server.url}/api/v1/trust/client_trust_config.json", timeout=30)
    config.write_text(trust.text)
    artifact = work / "release.tar"
    artifact.write_bytes(b"release " + secrets.token_bytes(16))
    for email in (ALICE, MALLORY):
        bundle = work / f"release.{email.split('@')[0]}.sigstore.json"
        sigstore_sign(config, dev_token(server, email), artifact, bundle)
    return hashlib.sha256(artifact.read_bytes()).hexdigest()


def search_and_verify(page: Any, url: str, digest: str) -> None:
    page.goto(f"{url}/search")
    page.get_by_role("searchbox", name="Search query").fill(f"sha256:{digest}")
    page.get_by_role("button", name="Search", exact=True).click()
    results = page.get_by_role("table").filter(has_text="Entries matching")
    results.wait_for()
    assert results.get_by_role("row").filter(has_text=ALICE).count() == 1
    assert results.get_by_role("row").filter(has_text=MALLORY).count() == 1
    shot(page, "05-search")
    results.get_by_role("row").filter(has_text=ALICE).get_by_role("link").first.click()
    page.get_by_role("heading", name="Verify in your browser").wait_for()
    page.get_by_role("button", name="Verify in your browser").click()
    verdict = page.locator("#verify-verdict[data-result]")
    verdict.wait_for()
    steps = page.get_by_role("list", name="Verification steps").get_by_role("listitem")
    assert verdict.get_attribute("data-result") == "pass", steps.all_inner_texts()
    assert "Every check passed" in verdict.inner_text()
    shot(page, "06-entry-verified")


def signature_statuses(page: Any, url: str) -> dict[str, str]:
    page.goto(f"{url}/projects/{SLUG}/")
    table = page.get_by_role("table", name="Recent signatures, newest first")
    shot(page, "07-project-signatures")
    statuses = {}
    for who in (ALICE, MALLORY):
        # The row whose signer cell is `who` (a reason may name alice's rule too).
        signer_cell = page.get_by_role("cell", name=who, exact=True)
        row = table.get_by_role("row").filter(has=signer_cell)
        assert row.count() == 1, f"{who}: {row.all_inner_texts()}"
        statuses[who] = row.locator(".status").inner_text().strip()
    return statuses


def test_sign_in_allow_list_sign_search_verify_and_judge(
    live_server_pg: LiveServer, page: Any, tmp_path: Path
) -> None:
    url = live_server_pg.url
    sign_in(page, url)
    create_project(page, url)
    add_trusted_signer(page, url)
    digest = sign_twice(live_server_pg, tmp_path)
    search_and_verify(page, url, digest)
    assert signature_statuses(page, url) == {ALICE: "Trusted", MALLORY: "Untrusted"}
    # The portal's pages run under the strict CSP without a violation. (The development
    # provider's own sign-in page, under /oauth/, is not the portal's.)
    blocked = [(where, what) for where, what in page.problems if "Content Security" in what]
    assert not [b for b in blocked if "/oauth/" not in b[0]], page.problems
