"""Response bodies: the spec's own examples with the fake's state written into them.

Starting from GitHub's published examples keeps every required key present and typed
as GitHub types it; `test_fakegithub.py` validates the results against the response
schemas. Two examples fail their own schema (README): the patches are noted where made.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

from .auth import InstallationToken
from .diff import git_blob_sha
from .git import TreeEntry
from .schema import RestSpec
from .state import (
    LEGACY_PERMISSION,
    CheckRun,
    GitHubState,
    IssueComment,
    PullFile,
    PullRequest,
    Reaction,
    Repository,
    Review,
    ReviewComment,
)

DOCS_URL = "https://docs.github.com/rest"
WEB = "https://github.com"


def error_body(status: int, message: str, errors: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message": message,
        "documentation_url": DOCS_URL,
        "status": str(status),
    }
    if errors is not None:
        body["errors"] = errors
    return body


def _node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


class Renderer:
    """Turns state objects into GitHub JSON; `api` is the fake's base URL for `url` fields."""

    def __init__(self, spec: RestSpec, state: GitHubState, api: str) -> None:
        self.spec, self.state, self.api = spec, state, api

    # -- people and apps -------------------------------------------------------------

    def user(self, login: str) -> dict[str, Any]:
        user: dict[str, Any] = self.spec.example("reaction")["user"]
        user_id = zlib.crc32(login.encode()) % 10_000_000 + 1  # stable per login
        user.update(
            login=login,
            id=user_id,
            node_id=_node_id("User", user_id),
            url=f"{self.api}/users/{login}",
            html_url=f"{WEB}/{login}",
            type="Bot" if login.endswith("[bot]") else "User",
        )
        return user

    def app(self) -> dict[str, Any]:
        """`GET /app` (apps/get-authenticated): the integration, without manifest secrets."""
        app: dict[str, Any] = self.spec.example("integration-from-manifest")
        for secret in ("client_id", "client_secret", "webhook_secret", "pem"):
            app.pop(secret)
        app.update(
            id=self.state.app_id,
            slug=self.state.app_slug,
            name=self.state.app_name,
            node_id=_node_id("Integration", self.state.app_id),
            html_url=self.state.app_html_url,
        )
        return app

    def manifest_conversion(self, private_key: str, webhook_secret: str) -> dict[str, Any]:
        app: dict[str, Any] = self.spec.example("integration-from-manifest")
        app.update(self.app(), pem=private_key, webhook_secret=webhook_secret)
        return app

    def installation(self, installation_id: int) -> dict[str, Any]:
        """One item of `GET /app/installations`, from the spec's example."""
        [item] = self.spec.example("base-installation-items")[:1]
        item.update(
            id=installation_id,
            # The spec says `allOf: [simple-user, enterprise]` (sic), so an account has to carry
            # both shapes' required fields; GitHub's own example has neither.
            account={
                **self.user("octocat"),
                "name": "octocat",
                "slug": "octocat",
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
            },
            app_id=self.state.app_id,
            app_slug=self.state.app_slug,
        )
        return dict(item)

    def installation_token(self, issued: InstallationToken, expires_at: str) -> dict[str, Any]:
        return {
            "token": issued.token,
            "expires_at": expires_at,
            "permissions": {
                "checks": "write",
                "contents": "read",
                "pull_requests": "write",
                "issues": "write",
            },
            "repository_selection": "all",
        }

    # -- repositories and pull requests ----------------------------------------------

    def _repo_api(self, repo: Repository) -> str:
        return f"{self.api}/repos/{repo.full_name}"

    def repository(self, repo: Repository, template: dict[str, Any]) -> dict[str, Any]:
        template.update(
            id=repo.id,
            node_id=_node_id("Repository", repo.id),
            name=repo.name,
            full_name=repo.full_name,
            owner=self.user(repo.owner),
            private=repo.private,
            html_url=f"{WEB}/{repo.full_name}",
            url=self._repo_api(repo),
            default_branch=repo.default_branch,
        )
        return template

    def pull(self, repo: Repository, pull: PullRequest) -> dict[str, Any]:
        body: dict[str, Any] = self.spec.example("pull-request")
        url = f"{self._repo_api(repo)}/pulls/{pull.number}"
        body.update(
            url=url,
            number=pull.number,
            state=pull.state,
            draft=pull.draft,
            title=pull.title,
            user=self.user(pull.user),
            html_url=f"{WEB}/{repo.full_name}/pull/{pull.number}",
            id=repo.id * 1000 + pull.number,
            changed_files=len(pull.files),
            additions=sum(f.additions for f in pull.files),
            deletions=sum(f.deletions for f in pull.files),
            requested_teams=[],  # the example's team lacks the required `type` (README)
        )
        for side, sha, ref in (
            ("head", pull.head_sha, pull.head_ref),
            ("base", pull.base_sha, pull.base_ref),
        ):
            body[side].update(
                sha=sha, ref=ref, label=f"{repo.owner}:{ref}", user=self.user(repo.owner)
            )
            self.repository(repo, body[side]["repo"])
        return body

    def pull_minimal(self, repo: Repository, pull: PullRequest) -> dict[str, Any]:
        short = {"id": repo.id, "url": self._repo_api(repo), "name": repo.name}
        return {
            "id": repo.id * 1000 + pull.number,
            "number": pull.number,
            "url": f"{self._repo_api(repo)}/pulls/{pull.number}",
            "head": {"ref": pull.head_ref, "sha": pull.head_sha, "repo": short},
            "base": {"ref": pull.base_ref, "sha": pull.base_sha, "repo": short},
        }

    def diff_entry(self, repo: Repository, ref: str, changed: PullFile) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "sha": changed.sha,
            "filename": changed.filename,
            "status": changed.status,
            "additions": changed.additions,
            "deletions": changed.deletions,
            "changes": changed.additions + changed.deletions,
            "blob_url": f"{WEB}/{repo.full_name}/blob/{ref}/{changed.filename}",
            "raw_url": f"{WEB}/{repo.full_name}/raw/{ref}/{changed.filename}",
            "contents_url": f"{self._repo_api(repo)}/contents/{changed.filename}?ref={ref}",
        }
        if changed.patch is not None:
            entry["patch"] = changed.patch
        if changed.previous_filename is not None:
            entry["previous_filename"] = changed.previous_filename
        return entry

    def comparison(
        self, repo: Repository, base: str, head: str, files: list[PullFile]
    ) -> dict[str, Any]:
        body: dict[str, Any] = self.spec.example("commit-comparison")
        body.update(
            url=f"{self._repo_api(repo)}/compare/{base}...{head}",
            status="ahead",
            ahead_by=1,
            behind_by=0,
            total_commits=1,
            commits=body["commits"][:1],
            files=[self.diff_entry(repo, head, f) for f in files],
        )
        body["commits"][0]["sha"] = head
        body["base_commit"]["sha"] = body["merge_base_commit"]["sha"] = base
        return body

    def content_file(self, repo: Repository, path: str, data: bytes) -> dict[str, Any]:
        body: dict[str, Any] = self.spec.example("content-file-response-if-content-is-a-file")
        sha = git_blob_sha(data)
        url = f"{self._repo_api(repo)}/contents/{path}"
        body.update(
            name=path.rsplit("/", 1)[-1],
            path=path,
            sha=sha,
            size=len(data),
            url=url,
            content=base64.encodebytes(data).decode(),
            encoding="base64",
            git_url=f"{self._repo_api(repo)}/git/blobs/{sha}",
            html_url=f"{WEB}/{repo.full_name}/blob/{repo.default_branch}/{path}",
            download_url=f"https://raw.githubusercontent.com/{repo.full_name}/HEAD/{path}",
        )
        body["_links"] = {"self": url, "git": body["git_url"], "html": body["html_url"]}
        return body

    def blob(self, repo: Repository, sha: str, data: bytes) -> dict[str, Any]:
        return {
            "sha": sha,
            "node_id": _node_id("Blob", zlib.crc32(sha.encode())),
            "url": f"{self._repo_api(repo)}/git/blobs/{sha}",
            "size": len(data),
            "content": base64.encodebytes(data).decode(),
            "encoding": "base64",
        }

    def tree(
        self, repo: Repository, sha: str, entries: list[TreeEntry], truncated: bool
    ) -> dict[str, Any]:
        """`GET .../git/trees/{sha}?recursive=1`: directories and blobs, sizes on blobs only."""
        listed = []
        for entry in entries:
            item: dict[str, Any] = {
                "path": entry.path,
                "mode": entry.mode,
                "type": entry.type,
                "sha": entry.sha,
                "url": f"{self._repo_api(repo)}/git/{entry.type}s/{entry.sha}",
            }
            if entry.size is not None:
                item["size"] = entry.size
            listed.append(item)
        url = f"{self._repo_api(repo)}/git/trees/{sha}"
        return {"sha": sha, "url": url, "tree": listed, "truncated": truncated}

    def permission(self, repo: Repository, login: str) -> dict[str, Any]:
        body: dict[str, Any] = self.spec.example(
            "repository-collaborator-permission-response-if-user-has-admin-permissions"
        )
        role = repo.role_of(login)
        body.update(permission=LEGACY_PERMISSION[role], role_name=role)
        body["user"].update(self.user(login), role_name=role)  # example's user lacks role_name
        return body

    # -- what the App writes ---------------------------------------------------------

    def check_run(self, repo: Repository, run: CheckRun) -> dict[str, Any]:
        body: dict[str, Any] = self.spec.example("check-run-example-of-in-progress-conclusion")
        url = f"{self._repo_api(repo)}/check-runs/{run.id}"
        body.update(
            id=run.id,
            node_id=_node_id("CheckRun", run.id),
            head_sha=run.head_sha,
            name=run.name,
            status=run.status,
            conclusion=run.conclusion,
            url=url,
            html_url=f"{WEB}/{repo.full_name}/runs/{run.id}",
            details_url=run.details_url,
            started_at=run.started_at,
            completed_at=run.completed_at,
            external_id=run.external_id,
            app=self.app(),
            check_suite={"id": run.id + 1},
            pull_requests=[
                self.pull_minimal(repo, p)
                for p in repo.pulls.values()
                if p.head_sha == run.head_sha and p.state == "open"
            ],
        )
        body["output"] = {
            "title": run.output.get("title"),
            "summary": run.output.get("summary"),
            "text": run.output.get("text"),
            "annotations_count": len(run.annotations),
            "annotations_url": f"{url}/annotations",
        }
        return body

    def review(self, repo: Repository, pull: PullRequest, review: Review) -> dict[str, Any]:
        body: dict[str, Any] = self.spec.example("pull-request-review")
        pull_url = f"{self._repo_api(repo)}/pulls/{pull.number}"
        html = f"{WEB}/{repo.full_name}/pull/{pull.number}#pullrequestreview-{review.id}"
        body.update(
            id=review.id,
            node_id=_node_id("PullRequestReview", review.id),
            user=self.user(review.user),
            body=review.body,
            state=review.state,
            commit_id=review.commit_id,
            html_url=html,
            pull_request_url=pull_url,
            submitted_at=review.submitted_at,
            author_association="NONE",
            _links={"html": {"href": html}, "pull_request": {"href": pull_url}},
        )
        return body

    def review_comment(
        self, repo: Repository, pull: PullRequest, comment: ReviewComment
    ) -> dict[str, Any]:
        body: dict[str, Any] = self.spec.example("pull-request-review-comment-items")[0]
        url = f"{self._repo_api(repo)}/pulls/comments/{comment.id}"
        pull_url = f"{self._repo_api(repo)}/pulls/{pull.number}"
        html = f"{WEB}/{repo.full_name}/pull/{pull.number}#discussion_r{comment.id}"
        body.update(
            url=url,
            id=comment.id,
            node_id=_node_id("PullRequestReviewComment", comment.id),
            pull_request_review_id=comment.review_id,
            diff_hunk=comment.diff_hunk,
            path=comment.path,
            position=comment.position,
            original_position=comment.position,
            commit_id=comment.commit_id,
            original_commit_id=comment.commit_id,
            user=self.user(comment.user),
            body=comment.body,
            created_at=comment.created_at,
            updated_at=comment.created_at,
            html_url=html,
            pull_request_url=pull_url,
            author_association="NONE",
            line=comment.line,
            original_line=comment.line,
            side=comment.side or "RIGHT",
            start_line=comment.start_line,
            original_start_line=comment.start_line,
            start_side=comment.start_side,
            _links={
                "self": {"href": url},
                "html": {"href": html},
                "pull_request": {"href": pull_url},
            },
        )
        if comment.position is None:  # a line-based comment: the spec's types forbid null
            body.pop("position")
            body.pop("original_position")
        if comment.in_reply_to_id is None:
            body.pop("in_reply_to_id", None)
        else:
            body["in_reply_to_id"] = comment.in_reply_to_id
        return body

    def issue_comment(self, repo: Repository, comment: IssueComment) -> dict[str, Any]:
        body: dict[str, Any] = self.spec.example("issue-comment")
        body.update(
            id=comment.id,
            node_id=_node_id("IssueComment", comment.id),
            url=f"{self._repo_api(repo)}/issues/comments/{comment.id}",
            html_url=f"{WEB}/{repo.full_name}/pull/{comment.issue_number}"
            f"#issuecomment-{comment.id}",
            body=comment.body,
            user=self.user(comment.user),
            created_at=comment.created_at,
            updated_at=comment.created_at,
            issue_url=f"{self._repo_api(repo)}/issues/{comment.issue_number}",
            author_association="NONE",
        )
        return body

    def reaction(self, reaction: Reaction) -> dict[str, Any]:
        return {
            "id": reaction.id,
            "node_id": _node_id("Reaction", reaction.id),
            "user": self.user(reaction.user),
            "content": reaction.content,
            "created_at": reaction.created_at,
        }
