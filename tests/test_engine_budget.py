"""The engine's time budgets (bot.review.budget) and the size limit, against inputs that never
finish: a file over budget is skipped with a note, the review goes on, the stuck worker is
killed and replaced, and a cancelled review leaves no analysis running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from app_harness import NUMBER, OWNER, REPO, seed_pull
from budget_harness import STUCK, stuck_on_marker
from fakegithub import FakeGitHub, pull_file

from bot.github import GitHubClient
from bot.jobs import ReviewJob
from bot.review import run_review
from bot.review.budget import EnginePool
from bot.review.fetch import BlobCache
from rules.config import Settings
from rules.engine import MAX_SOURCE_BYTES, SourceFile

DROP = b"impl Drop for G { fn drop(&mut self) { self.0.flush().unwrap(); } }\n"


@pytest.fixture
async def engine() -> AsyncIterator[EnginePool]:
    pool = EnginePool(file_budget=1.0, review_budget=30.0, workers=1, analyze_file=stuck_on_marker)
    yield pool
    pool.close()


async def test_a_file_over_its_budget_is_skipped_and_the_rest_analysed(engine: EnginePool) -> None:
    files = [SourceFile("src/stuck.rs", DROP + STUCK), SourceFile("src/ok.rs", DROP)]
    begin = time.monotonic()
    stuck, ok = await engine.analyze(files, Settings())
    assert stuck.skipped == "the analysis took longer than 1 s, and was stopped"
    assert stuck.findings == ()
    assert ok.skipped is None and {f.rule for f in ok.findings} >= {"drop-unwrap"}
    # one worker: the stuck one was killed and replaced, or `ok` would still be waiting
    assert time.monotonic() - begin < 20


async def test_files_left_when_the_review_budget_runs_out_are_skipped(
    engine: EnginePool,
) -> None:
    engine.review_budget = 1.5
    files = [SourceFile(f"src/stuck{n}.rs", DROP + STUCK) for n in range(3)]
    begin = time.monotonic()
    reports = await engine.analyze(files, Settings())
    reasons = [report.skipped or "" for report in reports]
    # each waits for the one worker: the first may use its own second, the rest run out
    assert all("took longer than 1 s" in r or "time budget (1.5 s) ran out" in r for r in reasons)
    assert "ran out" in reasons[-1]
    assert time.monotonic() - begin < 10


async def test_a_cancelled_review_stops_its_analysis(engine: EnginePool) -> None:
    engine.file_budget = 600.0
    task = asyncio.create_task(engine.analyze([SourceFile("src/stuck.rs", STUCK)], Settings()))
    await asyncio.sleep(2)  # the one worker is stuck in it
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [report] = await asyncio.wait_for(engine.analyze([SourceFile("a.rs", DROP)], Settings()), 20)
    assert report.skipped is None


def job() -> ReviewJob:
    return ReviewJob(installation_id=1, owner=OWNER, repo=REPO, pull_number=NUMBER)


async def test_the_review_completes_and_names_what_it_skipped(
    gh: GitHubClient, fake_github: FakeGitHub, engine: EnginePool
) -> None:
    huge = b"// generated\n" * (MAX_SOURCE_BYTES // 13 + 1)
    seed_pull(
        fake_github,
        [
            pull_file("src/stuck.rs", None, (DROP + STUCK).decode()),
            pull_file("src/huge.rs", None, huge.decode()),
            pull_file("src/guard.rs", None, DROP.decode()),
        ],
    )
    cache = BlobCache(maxsize=2**20)  # smaller than the huge file: it is not kept
    await run_review(
        gh,
        job(),
        app_slug=fake_github.app_slug,
        blob_cache=cache,
        graphql_url=fake_github.graphql_url,
        engine=engine,
    )
    [run] = fake_github.check_runs
    assert (run.status, run.conclusion) == ("completed", "failure")  # guard.rs's unwrap
    summary = run.output["summary"]
    assert "`src/stuck.rs`: the analysis took longer than 1 s, and was stopped" in summary
    assert f"`src/huge.rs`: 4.0 MB is over the {MAX_SOURCE_BYTES // 2**20} MB limit" in summary
    assert all(len(value) <= cache.max_item for value in cache.values())
