"""The `dropsafe` command line: check, rules, explain, serve, worker.

Exit status (DESIGN.md): 0 no finding at the fail level, 1 some (or, with
`--fail-on-skip`, a skipped file), 2 a usage error or unreadable input, always
with one line on stderr saying which. Everything the scan leaves out (skipped
files, config problems) is a warning on stderr too, so a quiet run never hides
work it did not do. A reader that stops early (`| head`) ends the command
quietly, as it ends ripgrep, with the status Python's own recipe gives (1).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TextIO

from bot import version
from bot.formats import FORMATS, text
from bot.gitdiff import GitError, diff_against, repository_root
from bot.scan import ScanResult, Target, collect_files, diff_targets, scan
from rules.catalogue import RULE_IDS, RULES, markdown_table, rule_by_id, scope_notes
from rules.config import CONFIG_PATH, Settings, load_settings
from rules.diff import DiffError, parse_diff
from rules.model import at_least
from rules.scope import Mode

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
EXIT_STDOUT_CLOSED = 1  # what Python exits with on EPIPE (its "Note on SIGPIPE")


class UsageError(Exception):
    """Bad arguments or unreadable input: reported as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own errors (2) and --help (0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            # A file name that is not UTF-8 prints as its own bytes instead of crashing.
            stream.reconfigure(errors="surrogateescape")
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        status: int = args.run(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at exit
    except UsageError as exc:
        print(f"dropsafe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return _stdout_closed()
    return status


def _stdout_closed() -> int:
    """The reader of stdout went away (`dropsafe check | head`): stop without a
    traceback. What is still buffered would fail again when Python flushes
    stdout at exit, so stdout becomes /dev/null first (the recipe of Python's
    "Note on SIGPIPE", whose exit status this keeps)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_STDOUT_CLOSED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dropsafe", description="Drop-safety review of Rust code."
    )
    parser.add_argument("--version", action="version", version=f"dropsafe {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser("check", help="check Rust files (the whole files, or a diff)")
    check.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default .)")
    source = check.add_mutually_exclusive_group()
    source.add_argument(
        "--diff", metavar="FILE", help="only the lines a unified diff touches (- for stdin)"
    )
    source.add_argument(
        "--base", metavar="REV", help="only the lines changed since git revision REV"
    )
    check.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        help="which lines of the diff count (default: the config's, else added)",
    )
    check.add_argument("--format", choices=list(FORMATS), default="text")
    check.add_argument(
        "--config",
        metavar="FILE",
        help="settings file (default: the repository's .github/dropsafe.toml, if any)",
    )
    check.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the text format (auto: on a terminal, unless NO_COLOR is set)",
    )
    check.add_argument(
        "--fail-on-skip",
        action="store_true",
        help="exit 1 when a file is skipped (too large, not Rust, unreadable, binary)",
    )
    check.set_defaults(run=run_check)

    rules = commands.add_parser("rules", help="list the rules")
    rules.add_argument(
        "--markdown", action="store_true", help="as the Markdown table the README shows"
    )
    rules.set_defaults(run=run_rules)

    explain = commands.add_parser("explain", help="a rule's documentation and fix pattern")
    explain.add_argument("rule", metavar="RULE")
    explain.set_defaults(run=run_explain)

    serve = commands.add_parser("serve", help="the GitHub App's web server")
    serve.add_argument("--port", type=int, help="listen port (default: $PORT or 3000)")
    serve.set_defaults(run=run_serve)

    worker = commands.add_parser(
        "worker", help="a queue worker: takes review jobs from Redis (REDIS_URL)"
    )
    worker.set_defaults(run=run_worker)
    return parser


def run_check(args: argparse.Namespace) -> int:
    settings = _settings(args.config)
    if args.mode:
        settings = replace(settings, mode=Mode(args.mode))
    for path in args.paths:
        if not os.path.exists(path):
            raise UsageError(f"no such file or directory: {path}")
    targets = _targets(args, settings)
    targets = [target for target in targets if not settings.excluded(target.path)]
    result = scan(targets, settings)
    _warn_skipped(result, sys.stderr)
    chunks: Iterable[str]
    if args.format == "text":
        chunks = text.render(result, text.Style(_colour(args.color, sys.stdout)))
    else:
        chunks = FORMATS[args.format](result)
    for chunk in chunks:
        sys.stdout.write(chunk)
    failing = any(at_least(f.severity, settings.fail_on) for f in result.findings)
    failing = failing or (args.fail_on_skip and bool(result.skipped))
    return EXIT_FINDINGS if failing else EXIT_CLEAN


def run_rules(args: argparse.Namespace) -> int:
    if args.markdown:
        sys.stdout.write(markdown_table())
        return EXIT_CLEAN
    width = max(len(rule.id) for rule in RULES)
    for rule in RULES:
        print(f"{rule.id:<{width}}  {rule.severity:<7}  {rule.message}")
    return EXIT_CLEAN


def run_explain(args: argparse.Namespace) -> int:
    rule = rule_by_id(args.rule)
    if rule is None:
        raise UsageError(f"unknown rule: {args.rule} (`dropsafe rules` lists them)")
    page = f"# {rule.id} ({rule.severity})\n\n{rule.message}\n\n{rule.docs}\n{scope_notes(rule)}"
    if rule.fix is not None:
        page += f"\n# Fix pattern: {rule.fix.title}\n\n{rule.fix.markdown}"
    sys.stdout.write(page.rstrip("\n") + "\n")
    return EXIT_CLEAN


def run_serve(args: argparse.Namespace) -> int:
    from bot import server  # the web stack loads only for this command

    server.run(args.port)
    return EXIT_CLEAN


def run_worker(args: argparse.Namespace) -> int:
    from bot import worker

    worker.run()
    return EXIT_CLEAN


def _settings(config: str | None) -> Settings:
    config = config or _discover_config(os.getcwd())
    if config is None:
        return Settings()
    try:
        with open(config, "rb") as file:
            content = file.read()
    except OSError as exc:
        raise UsageError(f"cannot read config {config}: {exc.strerror}") from exc
    settings, problems = load_settings(content, RULE_IDS)
    for problem in problems:
        print(f"dropsafe: warning: {config}: {problem}", file=sys.stderr)
    return settings


def _discover_config(start: str) -> str | None:
    """The repository's `.github/dropsafe.toml`, the file the App reads, looked
    for from `start` up to the repository root, so a local run agrees with the
    App without `--config`."""
    directory = os.path.abspath(start)
    while True:
        candidate = os.path.join(directory, *CONFIG_PATH.split("/"))
        if os.path.isfile(candidate):
            return os.path.relpath(candidate)
        parent = os.path.dirname(directory)
        if os.path.exists(os.path.join(directory, ".git")) or parent == directory:
            return None
        directory = parent


def _targets(args: argparse.Namespace, settings: Settings) -> list[Target]:
    """The files to check. A diff's paths are relative to the repository root
    (git writes them so from any subdirectory); a diff from `--diff` is checked
    whole unless PATHs narrow it, `--base` diffs the PATHs (default `.`)."""
    if args.diff is None and args.base is None:
        targets = collect_files(args.paths or ["."])
        _warn_empty_directories(args.paths or ["."], targets, sys.stderr)
        return targets
    if args.base is not None:
        try:
            diff = diff_against(args.base, args.paths or ["."])
        except GitError as exc:
            raise UsageError(str(exc)) from exc
        patch, root = diff.text, str(diff.root)
    else:
        patch, root = _read_diff(args.diff), str(repository_root(".") or os.getcwd())
    try:
        changes = parse_diff(patch)
    except DiffError as exc:
        raise UsageError(f"cannot parse the diff: {exc}") from exc
    return diff_targets(changes, settings.mode, root, args.paths or [root])


def _read_diff(name: str) -> str:
    try:
        if name == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(name, "rb") as file:
                data = file.read()
    except OSError as exc:
        raise UsageError(f"cannot read diff {name}: {exc.strerror}") from exc
    return data.decode("utf-8", "surrogateescape")


def _warn_skipped(result: ScanResult, stream: TextIO) -> None:
    for report in result.skipped:
        print(f"dropsafe: warning: {report.path}: skipped: {report.skipped}", file=stream)


def _warn_empty_directories(paths: list[str], targets: list[Target], stream: TextIO) -> None:
    """A directory given to check that holds no Rust file would pass as "no
    findings in 0 files": say so instead."""
    locations = [target.location for target in targets]
    for path in paths:
        directory = os.path.join(os.path.abspath(path), "")
        if os.path.isdir(path) and not any(loc.startswith(directory) for loc in locations):
            print(f"dropsafe: warning: {path}: no Rust files (*.rs) under it", file=stream)


def _colour(choice: str, stream: TextIO) -> bool:
    """`--color`: always and never are final (a flag overrides the environment,
    as no-color.org asks); auto colours a terminal unless NO_COLOR is set to a
    non-empty value or TERM is `dumb`."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()
