"""The fake GitHub itself: it must reject what GitHub rejects and answer what GitHub answers.

Driven with a plain aiohttp client (and gidgethub, the App's client, where its behaviour
with our status codes, content type and Link headers matters).
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import tarfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import gidgethub.aiohttp
import gidgethub.apps
import jwt
import pytest
from fakegithub import (
    API_VERSION,
    AppCredentials,
    FakeGitHub,
    git_blob_sha,
    load_webhook,
    pr_comment_payload,
    pull_file,
    sign,
)
from fakegithub.rules import (
    BLANK_HUNK,
    LINE_NOT_IN_DIFF,
    PATH_UNRESOLVED,
    START_AFTER_END,
    START_NOT_IN_HUNK,
)
from fakegithub.schema import REFERENCE_DIR, openapi30_to_jsonschema, schema_errors
from fakegithub.state import PostedManifest
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4
from yarl import URL

OWNER, REPO, NUMBER = "Codertocat", "Hello-World", 2
OLD = "".join(f"fn line{i}() {{}}\n" for i in range(1, 41))
# Two hunks: lines 4-10 (line 7 changed) and 29-35 (line 32 changed) on either side.
NEW = OLD.replace("fn line7()", "fn seven()").replace("fn line32()", "fn thirty_two()")
REPOS = f"/repos/{OWNER}/{REPO}"


@pytest.fixture
def opened() -> dict[str, Any]:
    return load_webhook("pull_request.opened")


@pytest.fixture
async def fake(fake_github: FakeGitHub, opened: dict[str, Any]) -> FakeGitHub:
    """The fake with PR #2 of the opened payload: one two-hunk file, one without a patch."""
    fake_github.add_pull_request_from_payload(
        opened,
        files=[
            pull_file("src/lib.rs", OLD, NEW),
            pull_file("src/big.rs", OLD, NEW, with_patch=False),
        ],
    )
    return fake_github


@pytest.fixture
async def http(fake: FakeGitHub) -> AsyncIterator[aiohttp.ClientSession]:
    """A client that authenticates like the App: installation token, API version header."""
    headers = {
        "Authorization": f"token {fake.issue_token(1)}",
        "X-GitHub-Api-Version": API_VERSION,
        "Accept": "application/vnd.github+json",
    }
    async with aiohttp.ClientSession(fake.url, headers=headers) as session:
        yield session


async def send(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None, **kwargs: Any
) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with http.request(method, path, json=body, **kwargs) as response:
        return response.status, await response.json(), response


def review(*comments: dict[str, Any], commit_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"event": "COMMENT", "body": "dropsafe", "comments": list(comments)}
    if commit_id:
        body["commit_id"] = commit_id
    return body


def comment(line: int, path: str = "src/lib.rs", **extra: Any) -> dict[str, Any]:
    return {"path": path, "line": line, "side": "RIGHT", "body": f"finding on {line}", **extra}


def annotation(line: int, **extra: Any) -> dict[str, Any]:
    return {
        "path": "src/lib.rs",
        "start_line": line,
        "end_line": line,
        "annotation_level": "warning",
        "message": "m",
        **extra,
    }


def check_run(head_sha: str, **extra: Any) -> dict[str, Any]:
    return {"name": "dropsafe", "head_sha": head_sha, "status": "in_progress", **extra}


# -- reviews: GitHub's diff rules ---------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (comment(20), LINE_NOT_IN_DIFF),  # between the hunks
        (comment(32, start_line=7), START_NOT_IN_HUNK),  # start in the other hunk
        (comment(8, start_line=10), START_AFTER_END),  # start after the end
        (comment(7, start_line=7), START_AFTER_END),  # start must precede
        (comment(7, path="src/missing.rs"), PATH_UNRESOLVED),
        (comment(7, path="src/big.rs"), BLANK_HUNK),  # GitHub sent no patch
        (comment(40), LINE_NOT_IN_DIFF),  # after the last hunk
    ],
)
async def test_review_with_one_bad_comment_is_rejected_whole(
    fake: FakeGitHub, http: aiohttp.ClientSession, bad: dict[str, Any], message: str
) -> None:
    status, body, _ = await send(
        http, "POST", f"{REPOS}/pulls/{NUMBER}/reviews", review(comment(7), bad)
    )
    assert status == 422
    assert body["errors"] == [message]
    assert fake.reviews == []
    assert fake.pull(OWNER, REPO, NUMBER).review_comments == []


async def test_review_on_diff_lines_is_posted_with_threads(
    fake: FakeGitHub, http: aiohttp.ClientSession, opened: dict[str, Any]
) -> None:
    head = opened["pull_request"]["head"]["sha"]
    status, body, _ = await send(
        http,
        "POST",
        f"{REPOS}/pulls/{NUMBER}/reviews",
        review(comment(7), comment(10, start_line=4), comment(30, side="LEFT"), commit_id=head),
    )
    assert status == 200
    assert (body["state"], body["commit_id"], body["user"]["login"]) == (
        "COMMENTED",
        head,
        "dropsafe[bot]",
    )
    [posted] = fake.reviews
    assert [(c.line, c.start_line, c.side) for c in posted.comments] == [
        (7, None, "RIGHT"),
        (10, 4, "RIGHT"),
        (30, None, "LEFT"),
    ]
    assert len(fake.threads(OWNER, REPO, NUMBER)) == 3
    status, listed, _ = await send(http, "GET", f"{REPOS}/pulls/{NUMBER}/comments")
    assert [c["line"] for c in listed] == [7, 10, 30]
    assert listed[0]["diff_hunk"].startswith("@@ -4,7 +4,7 @@")


async def test_review_for_an_unknown_commit_is_rejected(
    fake: FakeGitHub, http: aiohttp.ClientSession
) -> None:
    status, _, _ = await send(
        http, "POST", f"{REPOS}/pulls/{NUMBER}/reviews", review(comment(7), commit_id="0" * 40)
    )
    assert status == 422
    assert fake.reviews == []


@pytest.mark.parametrize(
    "body",
    [
        {"event": "comment", "body": "x"},  # enum is upper case
        {"event": "COMMENT", "comments": [{"path": "src/lib.rs", "line": 7}]},  # no body
    ],
)
async def test_review_schema_violations_get_422(
    fake: FakeGitHub, http: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    status, answer, _ = await send(http, "POST", f"{REPOS}/pulls/{NUMBER}/reviews", body)
    assert status == 422
    assert answer["message"].startswith("Invalid request.")


# -- check runs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (
            {
                "output": {
                    "title": "t",
                    "summary": "s",
                    "annotations": [annotation(i) for i in range(1, 52)],
                }
            },
            "maxItems",
        ),
        (
            {
                "output": {
                    "title": "t",
                    "summary": "s",
                    "annotations": [annotation(3, annotation_level="error")],
                }
            },
            "is not one of",
        ),
        ({"status": "completed"}, "conclusion"),
        ({"status": "in_progress", "completed_at": "2024-01-01T00:00:00Z"}, "conclusion"),
        (
            {
                "output": {
                    "title": "t",
                    "summary": "s",
                    "annotations": [annotation(3, end_line=5, start_column=1, end_column=4)],
                }
            },
            "start_column",
        ),
        ({"status": "done"}, "is not one of"),
    ],
)
async def test_check_run_create_rejections(
    fake: FakeGitHub,
    http: aiohttp.ClientSession,
    opened: dict[str, Any],
    body: dict[str, Any],
    why: str,
) -> None:
    payload = {**check_run(opened["pull_request"]["head"]["sha"]), **body}
    status, answer, _ = await send(http, "POST", f"{REPOS}/check-runs", payload)
    assert status == 422
    assert why in answer["message"]
    assert fake.check_runs == []


async def test_check_run_lifecycle_appends_annotations(
    fake: FakeGitHub, http: aiohttp.ClientSession, opened: dict[str, Any]
) -> None:
    head = opened["pull_request"]["head"]["sha"]
    status, created, _ = await send(http, "POST", f"{REPOS}/check-runs", check_run(head))
    assert (status, created["status"], created["conclusion"]) == (201, "in_progress", None)
    assert created["pull_requests"][0]["number"] == NUMBER
    url = f"{REPOS}/check-runs/{created['id']}"
    one_line_columns = annotation(3, start_column=1, end_column=4)
    status, _, _ = await send(
        http,
        "PATCH",
        url,
        {
            "output": {
                "summary": "s",
                "annotations": [annotation(i) for i in range(1, 50)] + [one_line_columns],
            }
        },
    )
    assert status == 200
    status, _, _ = await send(http, "PATCH", url, {"status": "completed"})
    assert status == 422  # the PATCH schema's anyOf needs a conclusion
    status, done, _ = await send(
        http,
        "PATCH",
        url,
        {
            "conclusion": "failure",
            "output": {"title": "2 problems", "summary": "s", "annotations": [annotation(7)]},
        },
    )
    assert (status, done["status"], done["conclusion"]) == (200, "completed", "failure")
    assert done["output"]["annotations_count"] == 51
    [run] = fake.check_runs
    assert (run.updates, run.output["title"], len(run.annotations)) == (2, "2 problems", 51)


async def test_check_runs_for_a_commit_are_listed_newest_first_and_filtered(
    fake: FakeGitHub, http: aiohttp.ClientSession, opened: dict[str, Any]
) -> None:
    head = opened["pull_request"]["head"]["sha"]
    ids = []
    for name, external_id in (("dropsafe", "a"), ("other", "b"), ("dropsafe", "c")):
        body = check_run(head, name=name, external_id=external_id)
        ids.append((await send(http, "POST", f"{REPOS}/check-runs", body))[1]["id"])
    await send(http, "PATCH", f"{REPOS}/check-runs/{ids[2]}", {"conclusion": "success"})

    async def listed(query: str) -> list[str]:
        status, body, _ = await send(http, "GET", f"{REPOS}/commits/{head}/check-runs?{query}")
        assert status == 200
        return [run["external_id"] for run in body["check_runs"]]

    assert await listed("filter=all") == ["c", "b", "a"]
    assert await listed("") == ["c", "b"]  # filter=latest: the newest run of each name
    assert await listed("check_name=dropsafe&filter=all") == ["c", "a"]
    assert await listed("check_name=dropsafe&status=in_progress&filter=all") == ["a"]
    assert await listed("filter=all&per_page=1&page=2") == ["b"]
    status, body, _ = await send(http, "GET", f"{REPOS}/commits/{head}/check-runs?per_page=1")
    assert (status, body["total_count"], len(body["check_runs"])) == (200, 2, 1)


async def test_check_run_on_unknown_commit_is_rejected(
    fake: FakeGitHub, http: aiohttp.ClientSession
) -> None:
    status, answer, _ = await send(http, "POST", f"{REPOS}/check-runs", check_run("f" * 40))
    assert status == 422
    assert "No commit found" in answer["message"]


# -- authentication, version, routing ------------------------------------------------------


async def test_installation_endpoints_need_a_valid_installation_token(fake: FakeGitHub) -> None:
    path = f"{fake.url}{REPOS}/pulls/{NUMBER}"
    version = {"X-GitHub-Api-Version": API_VERSION}
    token = fake.issue_token(1)
    async with aiohttp.ClientSession() as session:
        for auth, expected in [
            (None, 401),
            ("token ghs_unknown", 401),
            (f"token {token}", 200),
            (f"Bearer {token}", 200),
        ]:
            headers = {**version, **({"Authorization": auth} if auth else {})}
            async with session.get(path, headers=headers) as response:
                assert response.status == expected, auth
        fake.expire_tokens()
        async with session.get(path, headers={**version, "Authorization": f"token {token}"}) as r:
            assert r.status == 401
            assert (await r.json())["message"] == "Bad credentials"


async def test_token_lifetime_is_configurable(app_credentials: AppCredentials) -> None:
    async with FakeGitHub(app_credentials, token_ttl=0) as fake:
        fake.add_repository(OWNER, REPO)
        headers = {
            "X-GitHub-Api-Version": API_VERSION,
            "Authorization": f"token {fake.issue_token(1)}",
        }
        async with (
            aiohttp.ClientSession(fake.url, headers=headers) as session,
            session.get(f"{REPOS}/collaborators/alice/permission") as response,
        ):
            assert response.status == 401


async def test_a_token_sees_only_its_installation(fake: FakeGitHub) -> None:
    fake.add_repository("someone", "else", installation_id=7)
    fake.add_pull_request("someone", "else", 1, head_sha="a" * 40, base_sha="b" * 40)
    headers = {"X-GitHub-Api-Version": API_VERSION, "Authorization": f"token {fake.issue_token(1)}"}
    async with (
        aiohttp.ClientSession(fake.url, headers=headers) as session,
        session.get("/repos/someone/else/pulls/1") as response,
    ):
        assert response.status == 404


def app_jwt(credentials: AppCredentials, *, key: str | None = None, iss: str | None = None) -> str:
    now = int(time.time())
    return jwt.encode(
        {"iat": now - 60, "exp": now + 540, "iss": iss or str(credentials.app_id)},
        key or credentials.private_key,
        algorithm="RS256",
    )


async def test_app_endpoints_need_the_apps_jwt(
    fake: FakeGitHub, app_credentials: AppCredentials
) -> None:
    other_key = AppCredentials.generate().private_key
    cases = [
        (app_jwt(app_credentials), 200),
        (app_jwt(app_credentials, key=other_key), 401),
        (app_jwt(app_credentials, iss="999"), 401),
        (fake.issue_token(1), 401),
    ]
    async with aiohttp.ClientSession(fake.url) as session:
        for token, expected in cases:
            headers = {"Authorization": f"Bearer {token}", "X-GitHub-Api-Version": API_VERSION}
            async with session.get("/app", headers=headers) as response:
                assert response.status == expected
                if expected == 200:
                    app = await response.json()
                    assert (app["id"], app["slug"], app["name"]) == (
                        app_credentials.app_id,
                        "dropsafe",
                        "dropsafe",
                    )


class VersionedClient(gidgethub.aiohttp.GitHubAPI):
    """gidgethub plus the API version header, as the App's client sends it."""

    async def _request(
        self, method: str, url: str, headers: Any, body: bytes = b""
    ) -> tuple[int, Any, bytes]:
        return await super()._request(
            method, url, {**headers, "x-github-api-version": API_VERSION}, body
        )


async def test_gidgethub_gets_an_installation_token_and_pages_files(
    fake: FakeGitHub, app_credentials: AppCredentials, opened: dict[str, Any]
) -> None:
    files = [pull_file(f"src/m{i}.rs", None, f"fn f{i}() {{}}\n") for i in range(75)]
    fake.set_head(OWNER, REPO, NUMBER, opened["pull_request"]["head"]["sha"], files)
    async with aiohttp.ClientSession() as session:
        app = VersionedClient(session, "test", base_url=fake.url)
        token = await gidgethub.apps.get_installation_access_token(
            app,
            installation_id="1",
            app_id=str(app_credentials.app_id),
            private_key=app_credentials.private_key,
        )
        gh = VersionedClient(session, "test", oauth_token=token["token"], base_url=fake.url)
        names = [f["filename"] async for f in gh.getiter(f"{REPOS}/pulls/{NUMBER}/files")]
    assert names == [f.filename for f in files]
    assert len(fake.calls("GET", "/repos/*/pulls/{n}/files")) == 3  # 30 per page by default


async def test_missing_or_wrong_api_version_is_400(fake: FakeGitHub) -> None:
    async with aiohttp.ClientSession(fake.url) as session:
        for headers in ({}, {"X-GitHub-Api-Version": "2026-03-10"}):
            auth = {"Authorization": f"token {fake.issue_token(1)}"}
            async with session.get(f"{REPOS}/pulls/{NUMBER}", headers={**auth, **headers}) as r:
                assert r.status == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/repos/Codertocat/Hello-World/issues"),  # not in the subset
        ("DELETE", f"{REPOS}/pulls/{NUMBER}"),  # known path, other method
        ("GET", f"{REPOS}/pulls/two"),  # pull_number must be an integer
        ("GET", f"{REPOS}/pulls/99"),  # no such PR
        ("GET", f"{REPOS}/git/blobs/{'0' * 40}"),  # no such blob
    ],
)
async def test_unknown_routes_and_resources_are_404(
    fake: FakeGitHub, http: aiohttp.ClientSession, method: str, path: str
) -> None:
    status, body, _ = await send(http, method, path)
    assert (status, body["message"]) == (404, "Not Found")


async def test_malformed_json_is_400(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    async with http.post(
        f"{REPOS}/check-runs", data=b"{nope", headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400


# -- pagination ----------------------------------------------------------------------------


def link_page(response: aiohttp.ClientResponse, rel: str) -> str:
    return URL(response.links[rel]["url"]).query["page"]


async def test_pagination_follows_githubs_link_header(
    fake: FakeGitHub, http: aiohttp.ClientSession, opened: dict[str, Any]
) -> None:
    files = [pull_file(f"f{i}.rs", None, "x\n") for i in range(75)]
    fake.set_head(OWNER, REPO, NUMBER, opened["pull_request"]["head"]["sha"], files)
    path = f"{REPOS}/pulls/{NUMBER}/files"
    status, page1, response = await send(http, "GET", path)
    assert (status, len(page1)) == (200, 30)
    assert link_page(response, "next") == "2" and link_page(response, "last") == "3"
    assert "prev" not in response.links
    _, page3, response = await send(http, "GET", path, params={"page": "3"})
    assert [f["filename"] for f in page3] == [f"f{i}.rs" for i in range(60, 75)]
    assert "next" not in response.links and link_page(response, "first") == "1"
    _, everything, response = await send(http, "GET", path, params={"per_page": "100"})
    assert len(everything) == 75 and "Link" not in response.headers
    status, _, _ = await send(http, "GET", path, params={"per_page": "101"})
    assert status == 422


# -- reactions, comments, permissions, contents ------------------------------------------


async def test_reaction_is_created_once_then_exists(
    fake: FakeGitHub, http: aiohttp.ClientSession
) -> None:
    command = fake.add_issue_comment(OWNER, REPO, NUMBER, "/dropsafe rescan", user="octocat")
    path = f"{REPOS}/issues/comments/{command.id}/reactions"
    statuses = [(await send(http, "POST", path, {"content": "eyes"}))[0] for _ in range(2)]
    assert statuses == [201, 200]
    assert (await send(http, "POST", path, {"content": "party"}))[0] == 422
    assert [(r.comment_id, r.content, r.user) for r in fake.reactions] == [
        (command.id, "eyes", "dropsafe[bot]")
    ]


async def test_issue_comment_is_recorded_with_location(
    fake: FakeGitHub, http: aiohttp.ClientSession
) -> None:
    status, body, response = await send(
        http, "POST", f"{REPOS}/issues/{NUMBER}/comments", {"body": "only writers may rescan"}
    )
    assert status == 201
    assert response.headers["Location"] == body["url"]
    assert [(c.issue_number, c.body) for c in fake.issue_comments] == [
        (NUMBER, "only writers may rescan")
    ]


async def test_issue_comments_are_listed_oldest_first_since_a_time(
    fake: FakeGitHub, http: aiohttp.ClientSession
) -> None:
    old = fake.add_issue_comment(OWNER, REPO, NUMBER, "earlier")
    old.created_at = "2020-01-01T00:00:00Z"
    await send(http, "POST", f"{REPOS}/issues/{NUMBER}/comments", {"body": "reply"})
    path = f"{REPOS}/issues/{NUMBER}/comments"
    status, every, _ = await send(http, "GET", path)
    assert status == 200
    assert [(c["body"], c["user"]["type"]) for c in every] == [
        ("earlier", "User"),
        ("reply", "Bot"),
    ]
    _, recent, _ = await send(http, "GET", f"{path}?since=2020-01-01T00:00:01Z")
    assert [c["body"] for c in recent] == ["reply"]


@pytest.mark.parametrize(
    ("role", "permission"),
    [
        ("admin", "admin"),
        ("maintain", "write"),
        ("write", "write"),
        ("triage", "read"),
        (None, "read"),  # a stranger on a public repository
    ],
)
async def test_collaborator_permission_maps_roles_to_legacy_permissions(
    fake: FakeGitHub, http: aiohttp.ClientSession, role: str | None, permission: str
) -> None:
    if role:
        fake.set_role(OWNER, REPO, "alice", role)
    _, body, _ = await send(http, "GET", f"{REPOS}/collaborators/alice/permission")
    assert (body["permission"], body["user"]["login"]) == (permission, "alice")


async def test_contents_by_ref_and_blobs_by_sha(
    fake: FakeGitHub, http: aiohttp.ClientSession, opened: dict[str, Any]
) -> None:
    fake.set_content(OWNER, REPO, ".github/dropsafe.toml", 'mode = "file"\n')
    _, config, _ = await send(http, "GET", f"{REPOS}/contents/.github/dropsafe.toml")
    assert base64.b64decode(config["content"]) == b'mode = "file"\n'
    head = opened["pull_request"]["head"]["sha"]
    _, at_head, _ = await send(http, "GET", f"{REPOS}/contents/src/lib.rs", params={"ref": head})
    assert base64.b64decode(at_head["content"]).decode() == NEW
    status, _, _ = await send(http, "GET", f"{REPOS}/contents/src/lib.rs")  # not on main
    assert status == 404
    _, blob, _ = await send(http, "GET", f"{REPOS}/git/blobs/{git_blob_sha(OLD.encode())}")
    assert base64.b64decode(blob["content"]).decode() == OLD


CRATE = {
    "Cargo.toml": b'[package]\nname = "demo"\n',
    "src/lib.rs": b"mod a;\nmod b;\n",
    "src/a.rs": b"pub struct X;\n",
    "src/deep/b.rs": b"pub fn f() {}\n",
    "README.md": b"# demo\n",
}


def git_repository(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """A real git repository with `files` committed: the oracle for trees and archives."""
    for path, data in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "files"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *command],
            cwd=tmp_path,
            check=True,
        )
    return tmp_path


def git_out(repository: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repository, capture_output=True, text=True, check=True
    ).stdout


async def test_tree_listing_is_gits(
    fake: FakeGitHub, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    fake.set_files(OWNER, REPO, "c0ffee" * 6 + "c0ff", CRATE)
    _, body, _ = await send(
        http, "GET", f"{REPOS}/git/trees/{'c0ffee' * 6}c0ff", params={"recursive": "1"}
    )
    repository = git_repository(tmp_path, CRATE)
    # `git ls-tree -r -t -l`: mode, type, sha, size ("-" for trees), path
    listing = git_out(repository, "ls-tree", "-rtl", "HEAD").splitlines()
    expected = [line.split(maxsplit=4) for line in listing]
    listed = [
        [e["mode"], e["type"], e["sha"], str(e.get("size", "-")), e["path"]] for e in body["tree"]
    ]
    assert sorted(listed, key=lambda e: e[4]) == sorted(expected, key=lambda e: e[4])
    assert body["sha"] == git_out(repository, "rev-parse", "HEAD^{tree}").strip()
    assert body["truncated"] is False
    _, top, _ = await send(http, "GET", f"{REPOS}/git/trees/{'c0ffee' * 6}c0ff")
    assert sorted(e["path"] for e in top["tree"]) == ["Cargo.toml", "README.md", "src"]


async def test_tree_listing_is_cut_at_the_limit(
    fake: FakeGitHub, http: aiohttp.ClientSession
) -> None:
    fake.set_files(OWNER, REPO, "main", CRATE)
    fake.tree_limit = 3
    _, body, _ = await send(http, "GET", f"{REPOS}/git/trees/main", params={"recursive": "1"})
    assert len(body["tree"]) == 3 and body["truncated"] is True
    status, _, _ = await send(http, "GET", f"{REPOS}/git/trees/{'f' * 40}")
    assert status == 404


async def test_tarball_redirects_to_an_archive_laid_out_like_git_archive(
    fake: FakeGitHub, http: aiohttp.ClientSession
) -> None:
    commit = "ab" * 20
    fake.set_files(OWNER, REPO, commit, CRATE)
    async with http.get(f"{REPOS}/tarball/{commit}", allow_redirects=False) as response:
        assert response.status == 302
        location = URL(response.headers["Location"])
    async with http.get(location) as response:
        assert response.content_type == "application/x-gzip"
        archive = await response.read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as members:
        assert members.pax_headers["comment"] == commit
        files = {m.name: members.extractfile(m) for m in members.getmembers() if m.isfile()}
        contents = {name: f.read() for name, f in files.items() if f is not None}
    assert contents == {f"{OWNER}-{REPO}-{commit[:7]}/{p}": d for p, d in CRATE.items()}
    (codeload,) = fake.calls(operation_id="codeload/archive")
    assert codeload.status == 200
    async with http.get(location.with_query(token="forged")) as response:
        assert response.status == 404


# -- GraphQL -------------------------------------------------------------------------------

THREADS = """query($owner: String!, $repo: String!, $number: Int!, $cursor: String) {
  repository(owner: $owner, name: $repo) { pullRequest(number: $number) {
    reviewThreads(first: 1, after: $cursor) { pageInfo { hasNextPage endCursor }
      nodes { id isResolved comments(first: 100) { nodes { databaseId author { login } body } } }
    } } } }"""
RESOLVE = """mutation($id: ID!) {
  resolveReviewThread(input: {threadId: $id}) { thread { id isResolved } } }"""


async def graphql(http: aiohttp.ClientSession, query: str, **variables: Any) -> Any:
    status, body, _ = await send(http, "POST", "/graphql", {"query": query, "variables": variables})
    assert status == 200
    return body


async def test_graphql_lists_threads_page_by_page_and_resolves(
    fake: FakeGitHub, http: aiohttp.ClientSession
) -> None:
    ours = fake.add_review_thread(
        OWNER,
        REPO,
        NUMBER,
        path="src/lib.rs",
        line=7,
        comments=[("dropsafe[bot]", "<!-- dropsafe -->")],
    )
    fake.add_review_thread(
        OWNER,
        REPO,
        NUMBER,
        path="src/lib.rs",
        line=32,
        comments=[("dropsafe[bot]", "x"), ("octocat", "why?")],
    )
    pages, cursor = [], None
    while True:
        body = await graphql(http, THREADS, owner=OWNER, repo=REPO, number=NUMBER, cursor=cursor)
        threads = body["data"]["repository"]["pullRequest"]["reviewThreads"]
        pages.append(threads["nodes"])
        if not threads["pageInfo"]["hasNextPage"]:
            break
        cursor = threads["pageInfo"]["endCursor"]
    assert [len(p) for p in pages] == [1, 1]
    first = pages[0][0]["comments"]["nodes"][0]
    assert first["author"]["login"] == "dropsafe"  # GraphQL drops REST's "[bot]"
    assert [c["author"]["login"] for c in pages[1][0]["comments"]["nodes"]] == [
        "dropsafe",
        "octocat",
    ]
    resolved = await graphql(http, RESOLVE, id=ours.id)
    assert resolved == {
        "data": {"resolveReviewThread": {"thread": {"id": ours.id, "isResolved": True}}}
    }
    assert fake.resolved_threads == [ours.id] and ours.resolved
    missing = await graphql(http, RESOLVE, id="PRRT_nope")
    assert missing["errors"][0]["type"] == "NOT_FOUND"


async def test_graphql_needs_a_token(fake: FakeGitHub) -> None:
    async with (
        aiohttp.ClientSession(fake.url) as session,
        session.post(
            "/graphql", json={"query": RESOLVE}, headers={"X-GitHub-Api-Version": API_VERSION}
        ) as response,
    ):
        assert response.status == 401


# -- faults, rate-limit headers, recording ------------------------------------------------


async def test_fail_next_answers_the_fault_then_serves(
    fake: FakeGitHub, http: aiohttp.ClientSession
) -> None:
    fake.fail_next("POST", f"/repos/{{owner}}/{{repo}}/pulls/{NUMBER}/reviews")
    fake.fail_next("GET", "*/files", status=403, headers={"retry-after": "1"})
    fake.fail_next("*", "*/permission", status=429, times=2, headers={"x-ratelimit-remaining": "0"})
    path = f"{REPOS}/pulls/{NUMBER}/reviews"
    assert [(await send(http, "POST", path, review(comment(7))))[0] for _ in range(2)] == [500, 200]
    assert len(fake.reviews) == 1
    status, body, response = await send(http, "GET", f"{REPOS}/pulls/{NUMBER}/files")
    assert (status, response.headers["retry-after"]) == (403, "1")
    assert "secondary rate limit" in body["message"]
    permission = f"{REPOS}/collaborators/alice/permission"
    for _ in range(2):
        status, _, response = await send(http, "GET", permission)
        assert (status, response.headers["x-ratelimit-remaining"]) == (429, "0")
    assert (await send(http, "GET", permission))[0] == 200
    assert [r.status for r in fake.calls("POST", "*/reviews")] == [500, 200]


async def test_every_response_has_rate_limit_headers_and_json(
    fake: FakeGitHub, http: aiohttp.ClientSession
) -> None:
    remaining = []
    for path in (f"{REPOS}/pulls/{NUMBER}", "/nowhere", f"{REPOS}/pulls/{NUMBER}/files"):
        async with http.get(path) as response:
            assert response.content_type == "application/json"
            assert response.headers["x-ratelimit-resource"] == "core"
            assert int(response.headers["x-ratelimit-reset"]) > time.time()
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
    assert remaining == sorted(remaining, reverse=True) and len(set(remaining)) == 3


async def test_requests_are_recorded(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    await send(http, "POST", f"{REPOS}/issues/{NUMBER}/comments", {"body": "hi"})
    [call] = fake.calls(operation_id="issues/create-comment")
    assert (call.method, call.path, call.json, call.status) == (
        "POST",
        f"{REPOS}/issues/{NUMBER}/comments",
        {"body": "hi"},
        201,
    )
    assert call.headers["x-github-api-version"] == API_VERSION


# -- every answer matches the spec --------------------------------------------------------


async def test_every_response_validates_against_the_spec(
    fake: FakeGitHub,
    http: aiohttp.ClientSession,
    opened: dict[str, Any],
    app_credentials: AppCredentials,
) -> None:
    """Calls every operation (successes and errors) and checks each body against the
    schema the spec gives for that status."""
    head, base = opened["pull_request"]["head"]["sha"], opened["pull_request"]["base"]["sha"]
    fake.set_content(OWNER, REPO, ".github/dropsafe.toml", "mode = 'added'\n")
    command = fake.add_issue_comment(OWNER, REPO, NUMBER, "/dropsafe rescan")
    bearer = {"Authorization": f"Bearer {app_jwt(app_credentials)}"}
    _, run, _ = await send(http, "POST", f"{REPOS}/check-runs", check_run(head))
    code = fake.issue_manifest_code(PostedManifest({"name": "dropsafe", "url": "https://x"}))
    calls: list[tuple[str, str, Any, dict[str, str]]] = [
        ("POST", "/app/installations/1/access_tokens", None, bearer),
        ("POST", f"/app-manifests/{code}/conversions", None, {}),
        ("POST", "/app-manifests/used-or-unknown/conversions", None, {}),
        ("GET", "/app", None, bearer),
        ("GET", "/app/installations", None, bearer),
        ("GET", f"{REPOS}/pulls/{NUMBER}", None, {}),
        ("GET", f"{REPOS}/pulls/{NUMBER}/files", None, {}),
        ("GET", f"{REPOS}/contents/.github/dropsafe.toml", None, {}),
        ("GET", f"{REPOS}/contents/nothing.toml", None, {}),
        ("GET", f"{REPOS}/git/blobs/{git_blob_sha(NEW.encode())}", None, {}),
        ("PATCH", f"{REPOS}/check-runs/{run['id']}", {"conclusion": "success"}, {}),
        ("GET", f"{REPOS}/commits/{head}/check-runs?check_name=dropsafe", None, {}),
        ("GET", f"{REPOS}/check-runs/{run['id']}", None, {}),
        ("POST", f"{REPOS}/pulls/{NUMBER}/reviews", review(comment(7)), {}),
        ("POST", f"{REPOS}/pulls/{NUMBER}/reviews", review(comment(20)), {}),
        ("GET", f"{REPOS}/pulls/{NUMBER}/reviews", None, {}),
        ("GET", f"{REPOS}/pulls/{NUMBER}/comments", None, {}),
        ("POST", f"{REPOS}/issues/{NUMBER}/comments", {"body": "hello"}, {}),
        ("GET", f"{REPOS}/issues/{NUMBER}/comments?since=2020-01-01T00:00:00Z", None, {}),
        ("POST", f"{REPOS}/issues/comments/{command.id}/reactions", {"content": "+1"}, {}),
        ("POST", f"{REPOS}/issues/comments/{command.id}/reactions", {"content": "+1"}, {}),
        ("GET", f"{REPOS}/collaborators/octocat/permission", None, {}),
        ("GET", f"{REPOS}/compare/{base}...{head}", None, {}),
        ("GET", f"{REPOS}/git/trees/{head}?recursive=1", None, {}),
        ("GET", f"{REPOS}/git/trees/{'0' * 40}", None, {}),
    ]
    for method, path, body, headers in calls:
        await send(http, method, path, body, headers=headers)
    async with http.get(f"{REPOS}/tarball/{head}", allow_redirects=False) as response:
        assert response.status == 302 and response.headers["Location"]
    seen = {r.operation_id for r in fake.requests}
    assert {op.operation_id for op in fake.spec.operations} <= seen
    checked = 0
    redirects = [r for r in fake.requests if r.status == 302]  # no body: Location only
    assert len(redirects) == 1
    for record in fake.requests:
        op = fake.spec.operation(record.operation_id or "")
        assert record.status in fake.spec.documented_statuses(op), record
        validator = fake.spec.response_validator(op, record.status or 0)
        if validator is not None:
            assert schema_errors(validator, record.response) == [], (record.path, record.status)
            checked += 1
    assert checked == len(fake.requests) - len(redirects)


# -- building state from real data --------------------------------------------------------


def git_diff(tmp_path: Path, old: str, new: str) -> str:
    """What real git says: the oracle for `pull_file`'s patch."""
    (tmp_path / "a").write_text(old)
    (tmp_path / "b").write_text(new)
    out = subprocess.run(
        ["git", "diff", "--no-index", "-U3", "a", "b"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return out[out.index("@@") :].rstrip("\n")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (OLD, NEW),
        ("a\nb\nc\n", "a\nB\nc"),  # the new side loses its final newline
        ("", "fn main() {}\n"),  # an added file
    ],
)
def test_pull_file_patch_and_shas_match_git(tmp_path: Path, old: str, new: str) -> None:
    made = pull_file("f.rs", old or None, new)
    assert made.patch == git_diff(tmp_path, old, new)
    hashed = subprocess.run(
        ["git", "hash-object", "b"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert made.sha == hashed
    assert made.status == ("added" if not old else "modified")


def test_pull_request_from_payload_takes_its_identity(
    fake: FakeGitHub, opened: dict[str, Any]
) -> None:
    pull = fake.pull(OWNER, REPO, NUMBER)
    assert (pull.head_sha, pull.base_sha) == (
        opened["pull_request"]["head"]["sha"],
        opened["pull_request"]["base"]["sha"],
    )
    repo = fake.repository("codertocat", "hello-world")
    assert repo is not None and repo.installation_id == opened["installation"]["id"]


def test_sign_matches_githubs_test_vector() -> None:
    assert sign(b"Hello, World!", "It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_pr_comment_payload_fits_githubs_webhook_schema(fake: FakeGitHub) -> None:
    repo = fake.repository(OWNER, REPO)
    assert repo is not None
    command = fake.add_issue_comment(OWNER, REPO, NUMBER, "/dropsafe rescan", user="alice")
    payload = pr_comment_payload(command, repo)
    doc = openapi30_to_jsonschema(
        json.loads((REFERENCE_DIR / "webhook-schemas-subset.json").read_text(encoding="utf-8"))
    )
    registry: Registry[Any] = Registry().with_resource("urn:hooks", DRAFT4.create_resource(doc))
    validator = Draft4Validator(
        {
            "$ref": "urn:hooks#/x-webhooks/issue-comment-created/post/"
            "requestBody/content/application~1json/schema"
        },
        registry=registry,
    )
    assert schema_errors(validator, payload) == []
    assert (payload["issue"]["number"], payload["comment"]["id"]) == (NUMBER, command.id)
    assert payload["issue"]["pull_request"]["html_url"].endswith(f"/pull/{NUMBER}")
