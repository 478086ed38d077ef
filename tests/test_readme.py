"""The README's promises that code can check."""

import json
import re
from pathlib import Path

from bot.cli import main

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_rule_table_is_generated_from_the_catalogue(capsys):
    assert main(["rules", "--markdown"]) == 0
    generated = capsys.readouterr().out
    table = re.search(
        r"<!-- rules-table:start[^>]*-->\n(.*?)<!-- rules-table:end -->", README, re.S
    )
    assert table is not None
    assert table.group(1) == generated, "README table is stale: run `dropsafe rules --markdown`"


def test_readme_documents_every_environment_variable():
    for variable in (
        "APP_ID",
        "PRIVATE_KEY",
        "PRIVATE_KEY_PATH",
        "WEBHOOK_SECRET",
        "GITHUB_API_URL",
        "GITHUB_GRAPHQL_URL",
        "PORT",
        "REDIS_URL",
    ):
        assert f"`{variable}`" in README


def test_the_quick_start_crate_shows_drop_followed_across_files(capsys, monkeypatch):
    """README step 1 scans demo/: its findings include the ones only reach across files finds."""
    assert ".venv/bin/dropsafe check demo" in README
    monkeypatch.chdir(Path(__file__).parent.parent)
    assert main(["check", "demo", "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    found = {(f["rule"], f["path"], f["line"]) for f in findings}
    assert {
        ("drop-unwrap", "demo/src/lib.rs", 27),
        ("drop-detached-spawn", "demo/src/lib.rs", 30),
        ("drop-runtime-context", "demo/src/cleanup.rs", 6),
        ("drop-block-on", "demo/src/cleanup.rs", 8),
        ("drop-block-on", "demo/src/lib.rs", 33),
    } <= found
    chains = [f["chain"] for f in findings if f["path"] == "demo/src/cleanup.rs"]
    assert chains and all(c[0]["label"] == "Drop for Workspace" for c in chains)
