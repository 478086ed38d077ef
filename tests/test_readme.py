"""The README's promises that code can check."""

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
