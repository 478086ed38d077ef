"""The status page at `/` once the App is registered: who it is and what it did lately.

For whoever runs the App: its name and GitHub page, how many accounts installed it, the
last deliveries (event, repository, pull request, outcome, duration) and the last errors.
Nothing secret is shown; GitHub being unreachable is a line on the page, not an error page.
"""

from __future__ import annotations

import time
from html import escape

from aiohttp import web

from bot.activity import Activity
from bot.github import GITHUB_ERRORS, GitHubApp, describe
from bot.manifest import WEBHOOK_PATH
from bot.pages import page, table


async def status_page(github: GitHubApp, activity: Activity) -> web.Response:
    try:
        about = await github.about()
        installations = str(await github.installation_count())
        name = escape(str(about.get("name") or about.get("slug")))
        identity = f'<a href="{escape(str(about.get("html_url", "")))}">{name}</a>'
    except GITHUB_ERRORS as error:
        identity = f'<span class="error">GitHub unreachable: {escape(describe(error))}</span>'
        installations = "unknown"
    deliveries = table(
        ("received (UTC)", "event", "repository", "PR", "outcome", "duration"),
        (
            (
                _clock(d.received_at),
                d.event,
                d.repository,
                f"#{d.pull}" if d.pull is not None else "",
                d.outcome,
                f"{d.duration:.2f} s" if d.duration is not None else "",
            )
            for d in activity.deliveries()
        ),
        "No delivery yet. Open or push to a pull request on a repository where the App is "
        "installed.",
    )
    errors = table(
        ("at (UTC)", "error"),
        ((_clock(e.at), e.message) for e in activity.errors()),
        "No errors.",
    )
    body = f"""
<p>App: {identity} · installations: {escape(installations)} ·
webhooks at <code>{WEBHOOK_PATH}</code></p>
<h2>Last deliveries</h2>{deliveries}
<h2>Last errors</h2>{errors}
"""
    return page("dropsafe status", body)


def _clock(epoch: float) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.gmtime(epoch))
