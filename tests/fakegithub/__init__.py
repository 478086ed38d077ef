"""A fake GitHub for end-to-end tests of the App: a real HTTP server that checks requests
against GitHub's published REST description and answers in GitHub's shapes.

Modules: `schema` (the spec: routes, validation), `state` (repositories, PRs, what the
App wrote), `rules` (what GitHub rejects beyond the schema), `routes` (REST handlers),
`responses` (bodies from the spec's examples), `graphql`, `auth`, `server` (the pipeline),
`credentials` (the test App's keys), `webhooks` (real payloads, signing), `diff`.
"""

from .credentials import AppCredentials
from .diff import git_blob_sha
from .server import API_VERSION, FakeGitHub
from .state import PullFile, ReviewComment, pull_file
from .webhooks import delivery_headers, load_webhook, pr_comment_payload, sign

__all__ = [
    "API_VERSION",
    "AppCredentials",
    "FakeGitHub",
    "PullFile",
    "ReviewComment",
    "delivery_headers",
    "git_blob_sha",
    "load_webhook",
    "pr_comment_payload",
    "pull_file",
    "sign",
]
