"""What the fake GitHub knows: repositories, pull requests and their files, and what the App wrote.

Tests build this state directly (or from real webhook payloads), the routes read and
change it, and afterwards tests inspect it. Nothing here speaks HTTP.
"""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .auth import TokenStore
from .diff import git_blob_sha, line_counts, unified_patch
from .git import TREE_LIMIT

# GitHub's legacy `permission` for each repository role (repos/get-collaborator-permission-level).
LEGACY_PERMISSION = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_bytes(text: str | bytes | None) -> bytes | None:
    return text.encode("utf-8") if isinstance(text, str) else text


@dataclass
class PullFile:
    """One entry of `GET .../pulls/{n}/files`, with the contents behind it."""

    filename: str
    status: str  # added | modified | removed | renamed (GitHub also has copied, changed)
    patch: str | None  # None: GitHub left it out (binary or too large a diff)
    sha: str  # blob SHA on the head side (base side for a removed file)
    content: bytes | None  # head content; None for a removed file
    base_content: bytes | None  # base content; None for an added file
    previous_filename: str | None = None
    additions: int = 0
    deletions: int = 0


def pull_file(
    filename: str,
    old: str | bytes | None,
    new: str | bytes | None,
    *,
    previous_filename: str | None = None,
    with_patch: bool = True,
) -> PullFile:
    """A PR file going from `old` to `new` (None: absent on that side), patch computed git's way.

    `with_patch=False` models what GitHub does for large diffs and binaries: no `patch`
    key, so the App must diff the contents itself. Bytes that are not UTF-8 count as binary.
    """
    old_b, new_b = _as_bytes(old), _as_bytes(new)
    if new_b is None and old_b is None:
        raise ValueError(f"{filename}: a file must exist on at least one side")
    status = (
        "added"
        if old_b is None
        else "removed"
        if new_b is None
        else "renamed"
        if previous_filename
        else "modified"
    )
    patch = None
    if with_patch:
        try:
            patch = unified_patch((old_b or b"").decode(), (new_b or b"").decode())
        except UnicodeDecodeError:
            patch = None
    additions, deletions = line_counts(patch) if patch else (0, 0)
    sha = git_blob_sha(new_b if new_b is not None else old_b or b"")
    return PullFile(
        filename, status, patch, sha, new_b, old_b, previous_filename, additions, deletions
    )


@dataclass
class ReviewComment:
    id: int
    path: str
    body: str
    user: str
    commit_id: str
    line: int | None = None
    side: str | None = None
    start_line: int | None = None
    start_side: str | None = None
    position: int | None = None
    review_id: int | None = None
    in_reply_to_id: int | None = None
    diff_hunk: str = ""
    created_at: str = field(default_factory=now_iso)


@dataclass
class ReviewThread:
    id: str  # GraphQL node id, what resolveReviewThread takes
    path: str
    line: int | None
    comments: list[ReviewComment]
    resolved: bool = False


@dataclass
class Review:
    id: int
    pull_number: int
    user: str
    body: str
    event: str | None
    commit_id: str
    comments: list[ReviewComment]
    submitted_at: str = field(default_factory=now_iso)

    @property
    def state(self) -> str:
        return {
            "APPROVE": "APPROVED",
            "REQUEST_CHANGES": "CHANGES_REQUESTED",
            "COMMENT": "COMMENTED",
        }.get(self.event or "", "PENDING")


@dataclass
class IssueComment:
    id: int
    issue_number: int
    body: str
    user: str
    created_at: str = field(default_factory=now_iso)


@dataclass
class Reaction:
    id: int
    comment_id: int
    content: str
    user: str
    created_at: str = field(default_factory=now_iso)


@dataclass
class CheckRun:
    """A check run as it stands; `annotations` accumulate over updates, as on GitHub."""

    id: int
    repo: str  # owner/name
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    started_at: str
    completed_at: str | None
    external_id: str | None
    details_url: str | None
    output: dict[str, Any]
    annotations: list[dict[str, Any]] = field(default_factory=list)
    updates: int = 0


@dataclass
class PullRequest:
    number: int
    head_sha: str
    base_sha: str
    head_ref: str = "feature"
    base_ref: str = "main"
    state: str = "open"
    draft: bool = False
    title: str = "Update the code"
    user: str = "Codertocat"
    files: list[PullFile] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    review_comments: list[ReviewComment] = field(default_factory=list)
    threads: list[ReviewThread] = field(default_factory=list)
    shas: list[str] = field(default_factory=list)  # every head this PR had, oldest first

    def file(self, path: str) -> PullFile | None:
        return next((f for f in self.files if f.filename == path), None)


@dataclass
class Repository:
    owner: str
    name: str
    id: int
    installation_id: int
    default_branch: str = "main"
    private: bool = False
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    contents: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (path, ref)
    roles: dict[str, str] = field(default_factory=dict)  # login -> admin|maintain|write|...
    commits: set[str] = field(default_factory=set)
    comparisons: dict[tuple[str, str], list[PullFile]] = field(default_factory=dict)
    issue_comments: dict[int, IssueComment] = field(default_factory=dict)
    reactions: list[Reaction] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def files_at(self, ref: str) -> dict[str, bytes] | None:
        """Every file at `ref` (a commit SHA or branch) by path; None for an unknown ref."""
        files = {path: data for (path, at), data in self.contents.items() if at == ref}
        if not files and ref not in self.commits and ref != self.default_branch:
            return None
        return files

    def role_of(self, login: str) -> str:
        """A stranger can read a public repository and nothing of a private one."""
        return self.roles.get(login, "none" if self.private else "read")


@dataclass
class PostedManifest:
    """An App manifest a browser posted: the account it is for, the `state` it carried."""

    manifest: dict[str, Any]
    organization: str | None = None
    state: str | None = None


class GitHubState:
    """The fake's data, with setup helpers for tests and typed views of what the App wrote."""

    def __init__(self, *, app_id: int, app_slug: str, token_ttl: float) -> None:
        self.app_id = app_id
        self.app_slug = app_slug
        self.app_name = app_slug
        self.tokens = TokenStore(token_ttl)
        self.installations: set[int] = set()
        self.repos: dict[tuple[str, str], Repository] = {}
        # What the App wrote, in order (seeded data is not listed here).
        self.check_runs: list[CheckRun] = []
        self.reviews: list[Review] = []
        self.issue_comments: list[IssueComment] = []
        self.reactions: list[Reaction] = []
        self.resolved_threads: list[str] = []
        self._manifest_codes: dict[str, PostedManifest] = {}
        # codeload download links handed out by the tarball route: token -> (repo, ref)
        self.archive_links: dict[str, tuple[Repository, str]] = {}
        self.tree_limit = TREE_LIMIT
        self._ids = itertools.count(1001)

    @property
    def app_html_url(self) -> str:
        """The App's page on github.com (`html_url` of GET /app)."""
        return f"https://github.com/apps/{self.app_slug}"

    @property
    def bot_login(self) -> str:
        """How REST names the App's bot user."""
        return f"{self.app_slug}[bot]"

    def next_id(self) -> int:
        return next(self._ids)

    def issue_manifest_code(self, posted: PostedManifest) -> str:
        """A manifest-flow code, as GitHub appends to `redirect_url` once the user confirms."""
        code = secrets.token_hex(10)
        self._manifest_codes[code] = posted
        return code

    def redeem_manifest_code(self, code: str) -> PostedManifest | None:
        """The manifest behind `code`, once: GitHub answers 404 to a used or unknown code.
        The App registered from it becomes this fake's App (name and slug)."""
        posted = self._manifest_codes.pop(code, None)
        if posted is not None:
            self.app_name = str(posted.manifest.get("name") or self.app_name)
            self.app_slug = re.sub(r"[^a-z0-9]+", "-", self.app_name.lower()).strip("-")
        return posted

    # -- setup -------------------------------------------------------------------------

    def add_repository(
        self,
        owner: str,
        name: str,
        *,
        installation_id: int = 1,
        default_branch: str = "main",
        private: bool = False,
        repo_id: int | None = None,
    ) -> Repository:
        repo = Repository(
            owner, name, repo_id or self.next_id(), installation_id, default_branch, private
        )
        self.repos[(owner.lower(), name.lower())] = repo
        self.installations.add(installation_id)
        return repo

    def repository(self, owner: str, name: str) -> Repository | None:
        """Names are case-insensitive on GitHub."""
        return self.repos.get((owner.lower(), name.lower()))

    def add_pull_request(
        self,
        owner: str,
        name: str,
        number: int,
        *,
        head_sha: str,
        base_sha: str,
        files: list[PullFile] | None = None,
        **fields: Any,
    ) -> PullRequest:
        """A PR in an existing (or new, installation 1) repository; its files' blobs and
        contents become readable by SHA and by path at the head/base commits."""
        repo = self.repository(owner, name) or self.add_repository(owner, name)
        pull = PullRequest(number, head_sha, base_sha, **fields)
        repo.pulls[number] = pull
        repo.commits.add(base_sha)
        self.set_head(owner, name, number, head_sha, files or [])
        return pull

    def add_pull_request_from_payload(
        self, payload: dict[str, Any], files: list[PullFile] | None = None
    ) -> PullRequest:
        """The PR a `pull_request` (or PR-carrying) webhook payload names, with `files`."""
        repository, pr = payload["repository"], payload["pull_request"]
        owner, name = repository["owner"]["login"], repository["name"]
        if self.repository(owner, name) is None:
            self.add_repository(
                owner,
                name,
                installation_id=payload.get("installation", {}).get("id", 1),
                default_branch=repository.get("default_branch", "main"),
                private=bool(repository.get("private")),
                repo_id=repository.get("id"),
            )
        return self.add_pull_request(
            owner,
            name,
            pr["number"],
            head_sha=pr["head"]["sha"],
            base_sha=pr["base"]["sha"],
            files=files,
            head_ref=pr["head"]["ref"],
            base_ref=pr["base"]["ref"],
            state=pr["state"],
            draft=bool(pr.get("draft")),
            title=pr.get("title") or "",
            user=pr["user"]["login"],
        )

    def set_head(
        self, owner: str, name: str, number: int, head_sha: str, files: list[PullFile]
    ) -> PullRequest:
        """A push to the PR (what `synchronize` announces): new head, new file list."""
        repo = self._repo(owner, name)
        pull = repo.pulls[number]
        pull.head_sha, pull.files = head_sha, list(files)
        pull.shas.append(head_sha)
        repo.commits.add(head_sha)
        for f in files:
            if f.content is not None:
                repo.blobs[git_blob_sha(f.content)] = f.content
                repo.contents[(f.filename, head_sha)] = f.content
            if f.base_content is not None:
                repo.blobs[git_blob_sha(f.base_content)] = f.base_content
                repo.contents[(f.previous_filename or f.filename, pull.base_sha)] = f.base_content
        return pull

    def set_content(
        self, owner: str, name: str, path: str, content: str | bytes, ref: str | None = None
    ) -> None:
        """A file at `ref` (default: the default branch), e.g. `.github/dropsafe.toml`."""
        repo = self._repo(owner, name)
        data = _as_bytes(content)
        assert data is not None
        repo.contents[(path, ref or repo.default_branch)] = data
        repo.blobs[git_blob_sha(data)] = data

    def set_files(
        self, owner: str, name: str, ref: str, files: dict[str, str] | dict[str, bytes]
    ) -> None:
        """Files at commit `ref` besides a PR's changed ones (the rest of the repository)."""
        self._repo(owner, name).commits.add(ref)
        for path, content in files.items():
            self.set_content(owner, name, path, content, ref)

    def set_role(self, owner: str, name: str, login: str, role: str) -> None:
        """A collaborator's role: admin, maintain, write, triage, read or none."""
        if role not in LEGACY_PERMISSION:
            raise ValueError(f"unknown role {role!r}")
        self._repo(owner, name).roles[login] = role

    def set_comparison(
        self, owner: str, name: str, base: str, head: str, files: list[PullFile]
    ) -> None:
        """What `GET .../compare/{base}...{head}` lists (a PR's base...head works without this)."""
        repo = self._repo(owner, name)
        repo.comparisons[(base, head)] = list(files)
        repo.commits.update((base, head))

    def add_issue_comment(
        self, owner: str, name: str, number: int, body: str, user: str = "octocat"
    ) -> IssueComment:
        """A comment someone wrote (e.g. `/dropsafe rescan`), so the App can react to it."""
        comment = IssueComment(self.next_id(), number, body, user)
        self._repo(owner, name).issue_comments[comment.id] = comment
        return comment

    def add_review_thread(
        self,
        owner: str,
        name: str,
        number: int,
        *,
        path: str,
        line: int,
        comments: list[tuple[str, str]],
        resolved: bool = False,
    ) -> ReviewThread:
        """An existing inline thread: `comments` are (login, body), the first one starts it."""
        pull = self._repo(owner, name).pulls[number]
        made: list[ReviewComment] = []
        for login, body in comments:
            made.append(
                ReviewComment(
                    self.next_id(),
                    path,
                    body,
                    login,
                    pull.head_sha,
                    line=line,
                    side="RIGHT",
                    in_reply_to_id=made[0].id if made else None,
                )
            )
        thread = ReviewThread(f"PRRT_{self.next_id()}", path, line, made, resolved)
        pull.review_comments.extend(made)
        pull.threads.append(thread)
        return thread

    def _repo(self, owner: str, name: str) -> Repository:
        repo = self.repository(owner, name)
        if repo is None:
            raise KeyError(f"no repository {owner}/{name} in the fake")
        return repo

    # -- inspection ---------------------------------------------------------------------

    def pull(self, owner: str, name: str, number: int) -> PullRequest:
        return self._repo(owner, name).pulls[number]

    def threads(self, owner: str, name: str, number: int) -> list[ReviewThread]:
        return self.pull(owner, name, number).threads
