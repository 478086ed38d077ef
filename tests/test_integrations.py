"""Where Rust developers run linters: the pre-commit hook, run by pre-commit
itself, and the GitHub Action's check script, each on a temporary git
repository. No network: the hook runs as a `repo: local` copy of our manifest
entry, and the action's base commit is fetched from a local clone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCHEMA = json.loads((ROOT / "tests/data/sarif/sarif-schema-2.1.0.json").read_text())

CLEAN = "pub struct G { x: Option<u32> }\nimpl Drop for G {\n    fn drop(&mut self) {}\n}\n"
UNWRAP = CLEAN.replace(
    "fn drop(&mut self) {}", "fn drop(&mut self) {\n        self.x.flush().unwrap();\n    }"
)


def run(
    cwd: Path, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        argv, cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True, check=False
    )


def git(cwd: Path, *argv: str) -> str:
    done = run(cwd, "git", *argv)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def repository(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for name, content in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(content)
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "base")
    return path


# --- pre-commit ------------------------------------------------------------------


def hook_manifest() -> dict:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    return hook


def test_the_hook_manifest_is_valid_for_pre_commit() -> None:
    done = run(ROOT, "pre-commit", "validate-manifest", ".pre-commit-hooks.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_pre_commit_checks_only_the_staged_rust_changes(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", {"src/guard.rs": CLEAN, "src/other.rs": CLEAN})
    # Our manifest's hook, run by pre-commit as a local hook: the dropsafe of
    # this test run instead of one pre-commit would install from the network.
    hook = {**hook_manifest(), "language": "system"}
    config = {"repos": [{"repo": "local", "hooks": [hook]}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    git(repo, "add", ".pre-commit-config.yaml")
    env = {"PRE_COMMIT_HOME": str(tmp_path / "cache")}

    # A bad change that is not staged is not this commit's business.
    (repo / "src/other.rs").write_text(UNWRAP)
    (repo / "src/guard.rs").write_text(CLEAN + "// a harmless staged change\n")
    git(repo, "add", "src/guard.rs")
    passed = run(repo, "pre-commit", "run", env=env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "dropsafe" in passed.stdout and "Passed" in passed.stdout

    git(repo, "add", "src/other.rs")
    failed = run(repo, "pre-commit", "run", env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "error[drop-unwrap]" in failed.stdout
    assert "--> src/other.rs:4:24" in failed.stdout
    assert "src/guard.rs" not in failed.stdout


def test_pre_commit_on_the_first_commit_of_a_repository(tmp_path: Path) -> None:
    repo = tmp_path / "new"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "lib.rs").write_text(UNWRAP)
    git(repo, "add", "lib.rs")
    done = run(repo, "dropsafe", "check", "--base", "HEAD", "--format", "json", "lib.rs")
    assert done.returncode == 1, done.stderr
    assert [f["line"] for f in json.loads(done.stdout)["findings"]] == [2, 4]


# --- the GitHub Action -------------------------------------------------------------


def action_steps() -> list[dict]:
    return yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]


def test_the_action_runs_the_script_and_uploads_its_sarif() -> None:
    steps = action_steps()
    check = next(step for step in steps if step.get("id") == "check")
    assert "scripts/action.sh" in check["run"]
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/"))
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["with"]["sarif_file"] == "${{ steps.check.outputs.sarif }}"
    assert "always()" in upload["if"]


def action_repository(tmp_path: Path) -> tuple[Path, str]:
    """A pull request's checkout as actions/checkout leaves it: a shallow clone
    of the head, without the base commit."""
    origin = repository(tmp_path / "origin", {"src/guard.rs": CLEAN, "src/lib.rs": UNWRAP})
    base = git(origin, "rev-parse", "HEAD")
    (origin / "src/guard.rs").write_text(UNWRAP)
    git(origin, "commit", "-q", "-am", "head")
    clone = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(clone))
    assert run(clone, "git", "cat-file", "-e", f"{base}^{{commit}}").returncode != 0
    return clone, base


def run_action(
    clone: Path, tmp_path: Path, base: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    outputs = tmp_path / "github_output"
    outputs.touch()
    env = {
        "DROPSAFE_BASE": base,
        "DROPSAFE": shutil.which("dropsafe", path=str(BIN)) or "dropsafe",
        "GITHUB_OUTPUT": str(outputs),
        "RUNNER_TEMP": str(tmp_path),
    }
    return run(clone, "bash", str(ROOT / "scripts/action.sh"), env=env), outputs


def test_the_action_script_fetches_the_base_and_writes_sarif(tmp_path: Path) -> None:
    clone, base = action_repository(tmp_path)
    done, outputs = run_action(clone, tmp_path, base)
    assert done.returncode == 1, done.stderr
    assert outputs.read_text() == f"sarif={tmp_path / 'dropsafe.sarif'}\n"
    log = json.loads((tmp_path / "dropsafe.sarif").read_text())
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    places = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for r in log["runs"][0]["results"]
    }
    # src/lib.rs did not change: its unwrap is not reported
    assert places == {("drop-unwrap", "src/guard.rs"), ("drop-untested", "src/guard.rs")}
    assert "error[drop-unwrap]" in done.stdout  # the text report, for the log


def test_the_action_script_without_a_base_explains_itself(tmp_path: Path) -> None:
    clone, _ = action_repository(tmp_path)
    done, outputs = run_action(clone, tmp_path, "")
    assert done.returncode == 2
    assert done.stdout.startswith("::error title=dropsafe::no base revision")
    assert outputs.read_text() == ""
