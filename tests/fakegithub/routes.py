"""The REST handlers: one function per operationId, each reading or changing the state.

A handler gets a validated `Call` (the server already matched the route, checked auth,
query and body against the spec) and returns a `Reply`, or raises `GitHubError` with
the status and message GitHub would send.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from yarl import URL

from . import rules
from .credentials import AppCredentials
from .diff import parse_patch
from .git import tree_listing
from .responses import Renderer, error_body
from .state import (
    CheckRun,
    GitHubState,
    IssueComment,
    PullRequest,
    Reaction,
    Repository,
    Review,
    ReviewComment,
    ReviewThread,
    now_iso,
)

DEFAULT_PER_PAGE = 30
MAX_PR_FILES = 3000  # pulls/list-files lists at most 3000 files
CODELOAD = "/_codeload"
"""Where archive downloads are served: codeload.github.com's paths, on the fake's own host."""


class GitHubError(Exception):
    """An error response as GitHub shapes it."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status, self.message, self.errors = status, message, errors
        self.headers = headers or {}

    def reply(self) -> Reply:
        return Reply(self.status, error_body(self.status, self.message, self.errors), self.headers)


def not_found() -> GitHubError:
    return GitHubError(404, "Not Found")


def unprocessable(errors: list[str]) -> GitHubError:
    """422 in `validation-error-simple` shape, as create-review sends it."""
    return GitHubError(422, "Unprocessable Entity", errors)


def invalid_request(errors: list[str]) -> GitHubError:
    """422 with the reasons in the message, as GitHub answers a body its schema refuses."""
    return GitHubError(422, "Invalid request.\n\n" + "\n".join(errors))


@dataclass
class Reply:
    status: int
    body: Any  # JSON, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class Call:
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    url: URL  # as requested, absolute: Link headers are built from it
    installation_id: int | None  # from the installation token, if one was used


@dataclass
class Context:
    state: GitHubState
    render: Renderer
    credentials: AppCredentials


Handler = Callable[[Context, Call], Awaitable[Reply]]


# -- helpers ---------------------------------------------------------------------------


def repo_of(ctx: Context, call: Call) -> Repository:
    """The repository in the path, when the token's installation may see it (else 404)."""
    repo = ctx.state.repository(call.params["owner"], call.params["repo"])
    if repo is None or repo.installation_id != call.installation_id:
        raise not_found()
    return repo


def pull_of(repo: Repository, number: str) -> PullRequest:
    pull = repo.pulls.get(int(number))
    if pull is None:
        raise not_found()
    return pull


def paginate(call: Call, items: Sequence[Any]) -> Reply:
    """One page of `items` with GitHub's `Link` header (first/prev/next/last)."""
    per_page = int(call.query.get("per_page", DEFAULT_PER_PAGE))
    page = int(call.query.get("page", 1))
    last = max(1, -(-len(items) // per_page))
    links = []
    for rel, number in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
        wanted = (rel in ("prev", "first") and page > 1) or (
            rel in ("next", "last") and page < last
        )
        if wanted:
            url = call.url.update_query(page=number, per_page=per_page)
            links.append(f'<{url}>; rel="{rel}"')
    headers = {"Link": ", ".join(links)} if links else {}
    return Reply(200, list(items[(page - 1) * per_page : page * per_page]), headers)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- apps ------------------------------------------------------------------------------


async def create_installation_token(ctx: Context, call: Call) -> Reply:
    installation_id = int(call.params["installation_id"])
    if installation_id not in ctx.state.installations:
        raise not_found()
    issued = ctx.state.tokens.issue(installation_id)
    return Reply(201, ctx.render.installation_token(issued, _iso(issued.expires_at)))


async def get_authenticated_app(ctx: Context, call: Call) -> Reply:
    return Reply(200, ctx.render.app())


async def create_from_manifest(ctx: Context, call: Call) -> Reply:
    if ctx.state.redeem_manifest_code(call.params["code"]) is None:
        raise not_found()
    creds = ctx.credentials
    return Reply(201, ctx.render.manifest_conversion(creds.private_key, creds.webhook_secret))


async def list_installations(ctx: Context, call: Call) -> Reply:
    installations = [ctx.render.installation(n) for n in sorted(ctx.state.installations)]
    return paginate(call, installations)


# -- reading a pull request -----------------------------------------------------------


async def get_pull(ctx: Context, call: Call) -> Reply:
    repo = repo_of(ctx, call)
    return Reply(200, ctx.render.pull(repo, pull_of(repo, call.params["pull_number"])))


async def list_pull_files(ctx: Context, call: Call) -> Reply:
    repo = repo_of(ctx, call)
    pull = pull_of(repo, call.params["pull_number"])
    entries = [ctx.render.diff_entry(repo, pull.head_sha, f) for f in pull.files[:MAX_PR_FILES]]
    return paginate(call, entries)


async def get_content(ctx: Context, call: Call) -> Reply:
    repo = repo_of(ctx, call)
    path = call.params["path"]
    data = repo.contents.get((path, call.query.get("ref", repo.default_branch)))
    if data is None:
        raise not_found()
    return Reply(200, ctx.render.content_file(repo, path, data))


async def get_blob(ctx: Context, call: Call) -> Reply:
    repo = repo_of(ctx, call)
    sha = call.params["file_sha"]
    data = repo.blobs.get(sha)
    if data is None:
        raise not_found()
    return Reply(200, ctx.render.blob(repo, sha, data))


async def get_tree(ctx: Context, call: Call) -> Reply:
    """A commit's (or branch's) root tree; `recursive` (any value) lists every level,
    cut at `state.tree_limit` entries with `truncated` set, as GitHub does."""
    repo = repo_of(ctx, call)
    files = repo.files_at(call.params["tree_sha"])
    if files is None:
        raise not_found()
    if not files:
        raise GitHubError(409, "Git Repository is empty.")
    sha, entries = tree_listing(files)
    if "recursive" not in call.query:
        entries = [e for e in entries if "/" not in e.path]
    limit = ctx.state.tree_limit
    return Reply(200, ctx.render.tree(repo, sha, entries[:limit], len(entries) > limit))


async def download_tarball(ctx: Context, call: Call) -> Reply:
    """302 to a short-lived codeload link (the server serves it outside the API)."""
    repo = repo_of(ctx, call)
    ref = call.params["ref"]
    if repo.files_at(ref) is None:
        raise not_found()
    token = secrets.token_hex(10)
    ctx.state.archive_links[token] = (repo, ref)
    location = call.url.with_path(f"{CODELOAD}/{repo.full_name}/legacy.tar.gz/{ref}")
    return Reply(302, b"", {"Location": str(location.with_query(token=token))})


async def compare(ctx: Context, call: Call) -> Reply:
    repo = repo_of(ctx, call)
    base, dots, head = call.params["basehead"].partition("...")
    if not dots:
        raise not_found()
    files = repo.comparisons.get((base, head))
    if files is None:
        pull = next(
            (p for p in repo.pulls.values() if (p.base_sha, p.head_sha) == (base, head)), None
        )
        if pull is None and not {base, head} <= repo.commits:
            raise not_found()
        files = pull.files if pull is not None else []
    return Reply(200, ctx.render.comparison(repo, base, head, files))


async def list_reviews(ctx: Context, call: Call) -> Reply:
    repo = repo_of(ctx, call)
    pull = pull_of(repo, call.params["pull_number"])
    return paginate(call, [ctx.render.review(repo, pull, r) for r in pull.reviews])


async def list_review_comments(ctx: Context, call: Call) -> Reply:
    repo = repo_of(ctx, call)
    pull = pull_of(repo, call.params["pull_number"])
    comments = [ctx.render.review_comment(repo, pull, c) for c in pull.review_comments]
    if call.query.get("direction") == "desc":
        comments.reverse()
    return paginate(call, comments)


async def list_issue_comments(ctx: Context, call: Call) -> Reply:
    """The issue's (a PR's) comments, oldest first; `since`: only those updated at or after."""
    repo = repo_of(ctx, call)
    number = int(call.params["issue_number"])
    if number not in repo.pulls:
        raise not_found()
    since = call.query.get("since")
    after = datetime.fromisoformat(since) if since else None
    comments = [
        ctx.render.issue_comment(repo, c)
        for c in sorted(repo.issue_comments.values(), key=lambda c: c.id)
        if c.issue_number == number
        and (after is None or datetime.fromisoformat(c.created_at) >= after)
    ]
    return paginate(call, comments)


async def get_permission(ctx: Context, call: Call) -> Reply:
    repo = repo_of(ctx, call)
    return Reply(200, ctx.render.permission(repo, call.params["username"]))


# -- check runs ------------------------------------------------------------------------


async def create_check_run(ctx: Context, call: Call) -> Reply:
    repo = repo_of(ctx, call)
    body = call.body
    errors = rules.check_run_errors(body, creating=True)
    if errors:
        raise invalid_request(errors)
    if body["head_sha"] not in repo.commits:
        raise GitHubError(422, f"No commit found for SHA: {body['head_sha']}")
    run = CheckRun(
        id=ctx.state.next_id(),
        repo=repo.full_name,
        name=body["name"],
        head_sha=body["head_sha"],
        status="queued",
        conclusion=None,
        started_at=body.get("started_at") or now_iso(),
        completed_at=None,
        external_id=body.get("external_id"),
        details_url=body.get("details_url"),
        output={},
    )
    _apply_check_run(run, body)
    ctx.state.check_runs.append(run)
    return Reply(201, ctx.render.check_run(repo, run))


def check_run_of(ctx: Context, call: Call) -> tuple[Repository, CheckRun]:
    """The repository and the check run the path names (else 404)."""
    repo = repo_of(ctx, call)
    run_id = int(call.params["check_run_id"])
    run = next(
        (r for r in ctx.state.check_runs if r.id == run_id and r.repo == repo.full_name), None
    )
    if run is None:
        raise not_found()
    return repo, run


async def get_check_run(ctx: Context, call: Call) -> Reply:
    repo, run = check_run_of(ctx, call)
    return Reply(200, ctx.render.check_run(repo, run))


async def update_check_run(ctx: Context, call: Call) -> Reply:
    repo, run = check_run_of(ctx, call)
    errors = rules.check_run_errors(call.body, creating=False)
    if errors:
        raise invalid_request(errors)
    _apply_check_run(run, call.body)
    run.updates += 1
    return Reply(200, ctx.render.check_run(repo, run))


async def list_check_runs_for_ref(ctx: Context, call: Call) -> Reply:
    """The runs on a commit (`ref` a SHA), newest first, narrowed by `check_name`, `status`,
    `app_id`; `filter=latest` (the default) keeps the newest run of each name."""
    repo = repo_of(ctx, call)
    sha = call.params["ref"]
    if sha not in repo.commits:
        raise GitHubError(422, f"No commit found for SHA: {sha}")
    query = call.query
    runs = [
        r
        for r in reversed(ctx.state.check_runs)
        if r.repo == repo.full_name
        and r.head_sha == sha
        and query.get("check_name", r.name) == r.name
        and query.get("status", r.status) == r.status
        and query.get("app_id", str(ctx.state.app_id)) == str(ctx.state.app_id)
    ]
    if query.get("filter", "latest") == "latest":
        newest = {r.name: r for r in reversed(runs)}
        runs = [r for r in runs if newest[r.name] is r]
    page = paginate(call, [ctx.render.check_run(repo, r) for r in runs])
    return Reply(200, {"total_count": len(runs), "check_runs": page.body}, page.headers)


def _apply_check_run(run: CheckRun, body: dict[str, Any]) -> None:
    """Fields given replace the old ones; annotations append (GitHub's documented rule)."""
    for key in ("name", "details_url", "external_id", "started_at", "status"):
        if key in body:
            setattr(run, key, body[key])
    if body.get("conclusion") is not None:
        run.conclusion, run.status = body["conclusion"], "completed"  # a conclusion completes
    if run.status == "completed":
        run.completed_at = body.get("completed_at") or run.completed_at or now_iso()
    output = body.get("output") or {}
    run.output.update({k: output[k] for k in ("title", "summary", "text") if k in output})
    run.annotations.extend(output.get("annotations") or [])


# -- reviews and comments --------------------------------------------------------------


async def create_review(ctx: Context, call: Call) -> Reply:
    repo = repo_of(ctx, call)
    pull = pull_of(repo, call.params["pull_number"])
    body = call.body
    errors = rules.review_errors(pull, body)
    if errors:
        raise unprocessable(errors)
    review = Review(
        ctx.state.next_id(),
        pull.number,
        ctx.state.bot_login,
        body.get("body", ""),
        body.get("event"),
        body.get("commit_id") or pull.head_sha,
        [],
    )
    for raw in body.get("comments") or []:
        comment = ReviewComment(
            ctx.state.next_id(),
            raw["path"],
            raw["body"],
            review.user,
            review.commit_id,
            line=raw.get("line"),
            side=raw.get("side", "RIGHT") if raw.get("line") else None,
            start_line=raw.get("start_line"),
            start_side=raw.get("start_side", raw.get("side", "RIGHT"))
            if raw.get("start_line")
            else None,
            position=raw.get("position"),
            review_id=review.id,
            diff_hunk=_diff_hunk(pull, raw),
        )
        review.comments.append(comment)
        pull.review_comments.append(comment)
        pull.threads.append(
            ReviewThread(f"PRRT_{ctx.state.next_id()}", comment.path, comment.line, [comment])
        )
    pull.reviews.append(review)
    ctx.state.reviews.append(review)
    return Reply(200, ctx.render.review(repo, pull, review))


def _diff_hunk(pull: PullRequest, comment: dict[str, Any]) -> str:
    """The hunk the comment sits in (checked to exist before this is called)."""
    changed = pull.file(comment["path"])
    assert changed is not None and changed.patch is not None
    patch = parse_patch(changed.patch)
    if comment.get("line") is None:
        return "\n".join(patch.hunks[0].text) if patch.hunks else changed.patch
    hunk = patch.hunk_of(comment["line"], comment.get("side", "RIGHT"))
    assert hunk is not None
    return "\n".join(hunk.text)


async def create_issue_comment(ctx: Context, call: Call) -> Reply:
    repo = repo_of(ctx, call)
    number = int(call.params["issue_number"])
    if number not in repo.pulls:
        raise not_found()
    comment = IssueComment(ctx.state.next_id(), number, call.body["body"], ctx.state.bot_login)
    repo.issue_comments[comment.id] = comment
    ctx.state.issue_comments.append(comment)
    body = ctx.render.issue_comment(repo, comment)
    return Reply(201, body, {"Location": body["url"]})


async def create_reaction(ctx: Context, call: Call) -> Reply:
    """201 for a new reaction, 200 with the existing one when the App already reacted so."""
    repo = repo_of(ctx, call)
    comment_id = int(call.params["comment_id"])
    if comment_id not in repo.issue_comments:
        raise not_found()
    content, user = call.body["content"], ctx.state.bot_login
    existing = next(
        (
            r
            for r in repo.reactions
            if (r.comment_id, r.content, r.user) == (comment_id, content, user)
        ),
        None,
    )
    if existing is not None:
        return Reply(200, ctx.render.reaction(existing))
    reaction = Reaction(ctx.state.next_id(), comment_id, content, user)
    repo.reactions.append(reaction)
    ctx.state.reactions.append(reaction)
    return Reply(201, ctx.render.reaction(reaction))


HANDLERS: dict[str, Handler] = {
    "apps/create-installation-access-token": create_installation_token,
    "apps/get-authenticated": get_authenticated_app,
    "apps/create-from-manifest": create_from_manifest,
    "apps/list-installations": list_installations,
    "pulls/get": get_pull,
    "pulls/list-files": list_pull_files,
    "repos/get-content": get_content,
    "git/get-blob": get_blob,
    "repos/compare-commits-with-basehead": compare,
    "git/get-tree": get_tree,
    "repos/download-tarball-archive": download_tarball,
    "pulls/list-reviews": list_reviews,
    "pulls/list-review-comments": list_review_comments,
    "repos/get-collaborator-permission-level": get_permission,
    "checks/create": create_check_run,
    "checks/update": update_check_run,
    "checks/get": get_check_run,
    "checks/list-for-ref": list_check_runs_for_ref,
    "pulls/create-review": create_review,
    "issues/create-comment": create_issue_comment,
    "issues/list-comments": list_issue_comments,
    "reactions/create-for-issue-comment": create_reaction,
}
