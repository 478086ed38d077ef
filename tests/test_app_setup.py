"""First run: the setup page, the manifest flow's callback, `.env`, the status page, and the
settings checked at start. The App is the real aiohttp server; github.com's pages and the
API are the fake GitHub's (`fakegithub.manifest_flow`), which keeps every posted manifest.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import dotenv
import pytest
import yaml
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer
from app_harness import FAST_RETRY, OWNER, REPO, seed_pull
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from fakegithub import AppCredentials, FakeGitHub, delivery_headers, load_webhook
from fakegithub.state import PostedManifest
from serve_harness import run_serve, serving

from bot.manifest import MANIFEST_FILE
from bot.server import WEBHOOK_PATH, make_app
from bot.settings import Settings, SettingsError
from bot.setup import STATE_COOKIE, SetupSettings

FORM = re.compile(
    r'<form method="post" action="([^"]+)">\s*<input type="hidden" name="manifest" value="([^"]+)">'
)


@pytest.fixture
async def unregistered(fake_github: FakeGitHub, tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    setup = SetupSettings(github_url=fake_github.web_url, api_url=fake_github.url, env_dir=tmp_path)
    app = make_app(None, setup=setup, retry=FAST_RETRY)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def setup_form(client: TestClient, query: str = "") -> tuple[str, dict]:  # type: ignore[type-arg]
    """The setup page's form: where it posts and the manifest it carries."""
    response = await client.get("/" + query)
    assert response.status == 200
    match = FORM.search(await response.text())
    assert match, "no registration form on the setup page"
    return unescape(match[1]), json.loads(unescape(match[2]))


async def register_on_github(fake: FakeGitHub, action: str, manifest: dict) -> str:  # type: ignore[type-arg]
    """What the browser does at GitHub: post the manifest, confirm; the redirect it gets back."""
    async with ClientSession() as browser:
        page = await browser.post(action, data={"manifest": json.dumps(manifest)})
        assert page.status == 200, await page.text()
        token = re.search(r'name="token" value="(\w+)"', await page.text())
        assert token
        confirm = await browser.post(
            fake.web_url + "/settings/apps/new/confirm",
            data={"token": token[1]},
            allow_redirects=False,
        )
        assert confirm.status == 302
        return confirm.headers["Location"]


def callback_of(client: TestClient, location: str) -> str:  # type: ignore[type-arg]
    """The redirect GitHub sends the browser to, made relative to the App under test."""
    assert location.startswith(str(client.make_url("/setup/callback")))
    return location[len(str(client.make_url(""))) :]


async def test_the_setup_page_posts_app_yaml_with_this_servers_addresses(
    unregistered: TestClient,
    fake_github: FakeGitHub,  # type: ignore[type-arg]
) -> None:
    action, manifest = await setup_form(unregistered)
    base = str(unregistered.make_url("")).rstrip("/")
    assert re.fullmatch(
        re.escape(fake_github.web_url) + r"/settings/apps/new\?state=[\w-]+", action
    )
    expected = yaml.safe_load(MANIFEST_FILE.read_text())
    for key in ("name", "default_events", "default_permissions", "public"):
        assert manifest[key] == expected[key]
    assert manifest["hook_attributes"]["url"] == base + WEBHOOK_PATH
    assert manifest["redirect_url"] == base + "/setup/callback"
    org_action, _ = await setup_form(unregistered, "?org=rust-lang")
    assert org_action.startswith(
        fake_github.web_url + "/organizations/rust-lang/settings/apps/new?state="
    )


async def test_the_manifest_carries_the_webhook_proxy_url(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    setup = SetupSettings(
        github_url=fake_github.web_url,
        api_url=fake_github.url,
        webhook_proxy_url="https://smee.io/abc123",
        public_url="https://dropsafe.example.com",
        env_dir=tmp_path,
    )
    async with TestClient(TestServer(make_app(None, setup=setup), host="127.0.0.1")) as client:
        _, manifest = await setup_form(client)
    assert manifest["hook_attributes"]["url"] == "https://smee.io/abc123"
    assert manifest["redirect_url"] == "https://dropsafe.example.com/setup/callback"


async def test_before_registration_deliveries_get_503(unregistered: TestClient) -> None:  # type: ignore[type-arg]
    body = json.dumps(load_webhook("ping")).encode()
    response = await unregistered.post(
        WEBHOOK_PATH, data=body, headers=delivery_headers("ping", body, "any")
    )
    assert response.status == 503
    assert "not registered" in (await response.json())["message"]


async def test_registration_writes_env_and_the_app_serves_at_once(
    unregistered: TestClient,
    fake_github: FakeGitHub,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# mine\nWEBHOOK_PROXY_URL=https://smee.io/abc\n")
    action, manifest = await setup_form(unregistered)
    location = await register_on_github(fake_github, action, manifest)
    [posted] = fake_github.manifest_flow.posted
    assert posted.manifest == manifest and posted.organization is None

    done = await unregistered.get(callback_of(unregistered, location))
    page = await done.text()
    assert done.status == 200, page
    assert f"{fake_github.app_html_url}/installations/new" in page
    assert fake_github.credentials.private_key not in page

    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert env_file.read_text().startswith("# mine\nWEBHOOK_PROXY_URL=https://smee.io/abc\n")
    values = dotenv.dotenv_values(env_file)
    assert values["APP_ID"] == str(fake_github.app_id)
    assert values["PRIVATE_KEY"] == fake_github.credentials.private_key
    assert values["WEBHOOK_SECRET"] == fake_github.credentials.webhook_secret
    assert (values["APP_SLUG"], values["APP_HTML_URL"]) == (
        fake_github.app_slug,
        fake_github.app_html_url,
    )
    Settings.from_env({k: v or "" for k, v in values.items()})  # a working set of settings

    seed_pull(fake_github)
    body = json.dumps(load_webhook("pull_request.opened")).encode()
    headers = delivery_headers("pull_request", body, fake_github.credentials.webhook_secret, "d-1")
    delivered = await unregistered.post(WEBHOOK_PATH, data=body, headers=headers)
    assert delivered.status == 202
    status = await (await unregistered.get("/")).text()
    assert "pull_request.opened" in status and f"{OWNER}/{REPO}" in status
    assert fake_github.app_name in status and "installations: 1" in status
    assert fake_github.credentials.webhook_secret not in status


async def test_a_replayed_or_forged_callback_is_refused(
    unregistered: TestClient,
    fake_github: FakeGitHub,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    action, manifest = await setup_form(unregistered)
    location = await register_on_github(fake_github, action, manifest)
    path = callback_of(unregistered, location)
    forged = re.sub(r"state=[\w-]+", "state=forged", path)
    refused = await unregistered.get(forged)
    assert refused.status == 400 and "not valid" in await refused.text()
    # the state is bound to the browser that saw the setup page
    unregistered.session.cookie_jar.clear()
    stranger = await unregistered.get(path)
    assert stranger.status == 400
    assert not (tmp_path / ".env").exists()


async def test_a_used_code_is_refused_with_githubs_reason(
    unregistered: TestClient,
    fake_github: FakeGitHub,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    code = fake_github.issue_manifest_code(PostedManifest({"name": "x", "url": "https://x"}))
    assert fake_github.redeem_manifest_code(code) is not None  # someone used it first
    await setup_form(unregistered)
    state = unregistered.session.cookie_jar.filter_cookies(unregistered.make_url("/"))[
        STATE_COOKIE
    ].value
    refused = await unregistered.get(f"/setup/callback?code={code}&state={state}")
    assert refused.status == 400 and "used or expired" in await refused.text()
    replay = await unregistered.get(f"/setup/callback?code={code}&state={state}")
    assert replay.status == 400 and "not valid" in await replay.text()
    assert not (tmp_path / ".env").exists()


# -- settings checked at start ---------------------------------------------------------------


def test_app_id_must_be_a_number(app_credentials: AppCredentials) -> None:
    env = {"APP_ID": "dropsafe", "PRIVATE_KEY": app_credentials.private_key, "WEBHOOK_SECRET": "s"}
    with pytest.raises(SettingsError, match=r"^bad setting: APP_ID=dropsafe is not a number"):
        Settings.from_env(env)


def ec_key() -> str:
    """A valid PEM private key that is not RSA (GitHub Apps sign with RS256)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return pem.decode()


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("-----BEGIN RSA PRIVATE KEY-----\nnot base64\n-----END RSA PRIVATE KEY-----", "PEM"),
        ("not a key at all", "PEM"),
        (ec_key(), "RSA"),
    ],
)
def test_the_private_key_must_be_an_rsa_pem(key: str, reason: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"APP_ID": "7", "PRIVATE_KEY": key, "WEBHOOK_SECRET": "s"})
    message = str(error.value)
    assert message.startswith("bad setting: PRIVATE_KEY is not") and reason in message
    assert "\n" not in message and "BEGIN" not in message


async def test_serve_without_an_app_id_offers_the_setup_page(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    settings = {"GITHUB_URL": fake_github.web_url, "GITHUB_API_URL": fake_github.url}
    async with serving(settings, tmp_path) as served, ClientSession() as browser:
        port = served.url.rsplit(":", 1)[1]
        assert served.first_line == (
            f"dropsafe: not registered yet: open http://localhost:{port}/ to register the App"
        )
        async with browser.get(served.url + "/") as page:
            assert FORM.search(await page.text())


async def test_serve_reads_dotenv_and_says_where_it_listens(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    values = fake_github.app_env()
    (tmp_path / ".env").write_text("".join(f"{name}='{value}'\n" for name, value in values.items()))
    async with serving({}, tmp_path) as served, ClientSession() as browser:
        port = served.url.rsplit(":", 1)[1]
        assert served.first_line == (
            f"dropsafe: listening on port {port}; webhooks: POST {WEBHOOK_PATH}"
        )
        async with browser.get(served.url + "/") as page:
            assert fake_github.app_name in await page.text()
    assert fake_github.calls("GET", "/app")  # the key was checked with GitHub at start


async def test_serve_stops_when_github_refuses_the_key(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    stranger = AppCredentials.generate(app_id=fake_github.app_id)
    settings = {**fake_github.app_env(), "PRIVATE_KEY": stranger.private_key}
    status, stderr = await run_serve(settings, tmp_path)
    assert status == 1
    assert stderr.strip() == (
        f"dropsafe: bad setting: GitHub refused the App's JWT for APP_ID={fake_github.app_id} "
        "(401 to GET /app): is PRIVATE_KEY this App's key?"
    )
