"""First run in a real browser: headless Chromium (Debian's, driven by Playwright) registers
the App through the setup page and the fake github.com, and then reads the status page.

`dropsafe serve` is a real process with no App settings, in an empty working directory;
github.com's pages and the API are the fake GitHub's. A screenshot of each page is saved
under `test-artifacts/` (see `ARTIFACTS`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import dotenv
import pytest
from app_harness import seed_pull
from fakegithub import FakeGitHub, delivery_headers, load_webhook
from playwright.async_api import Browser, Page, async_playwright
from serve_harness import serving

from bot.server import WEBHOOK_PATH

ARTIFACTS = Path(os.environ.get("DROPSAFE_ARTIFACTS", Path(__file__).parents[1] / "test-artifacts"))
# Debian's Chromium (scripts/test.sh installs it); Playwright never downloads a browser here.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# This machine has no network: without these Chromium keeps trying to reach Google's hosts.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield launched
        await launched.close()


async def snapshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"setup-{name}.png", full_page=True)


async def test_register_from_the_setup_page_then_see_a_delivery_on_the_status_page(
    browser: Browser, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    settings = {"GITHUB_URL": fake_github.web_url, "GITHUB_API_URL": fake_github.url}
    async with serving(settings, tmp_path) as served:
        page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        await page.goto(served.url + "/")
        await snapshot(page, "1-setup")
        await page.get_by_role("button", name="Register dropsafe on GitHub").click()

        await page.get_by_role("button", name="Create GitHub App").wait_for()
        await snapshot(page, "2-github-confirm")
        [posted] = fake_github.manifest_flow.posted
        assert posted.manifest["hook_attributes"]["url"] == served.url + WEBHOOK_PATH
        assert posted.manifest["redirect_url"] == served.url + "/setup/callback"
        assert posted.manifest["default_events"] == [
            "pull_request",
            "issue_comment",
            "check_run",
            "check_suite",
        ]
        await page.get_by_role("button", name="Create GitHub App").click()

        await page.get_by_role("heading", name="dropsafe is registered").wait_for()
        await snapshot(page, "3-registered")
        install = page.get_by_role("link", name="Install the App")
        assert await install.get_attribute("href") == (
            f"{fake_github.app_html_url}/installations/new"
        )
        env = dotenv.dotenv_values(tmp_path / ".env")
        assert env["APP_ID"] == str(fake_github.app_id)
        assert env["WEBHOOK_SECRET"] == fake_github.credentials.webhook_secret

        seed_pull(fake_github)
        body = json.dumps(load_webhook("pull_request.opened")).encode()
        headers = delivery_headers("pull_request", body, str(env["WEBHOOK_SECRET"]), "guid-1")
        async with (
            aiohttp.ClientSession() as github,
            github.post(served.url + WEBHOOK_PATH, data=body, headers=headers) as delivered,
        ):
            assert delivered.status == 202

        await page.goto(served.url + "/")
        row = page.get_by_role("row").filter(has_text="pull_request.opened")
        await row.wait_for()
        assert "Codertocat/Hello-World" in await row.inner_text()
        await snapshot(page, "4-status")
        assert fake_github.credentials.webhook_secret not in await page.content()
