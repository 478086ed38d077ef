"""Per-repository settings: valid files, every kind of error, and exclude globs."""

from __future__ import annotations

import pickle

import pytest

from rules.config import Settings, load_settings
from rules.scope import Mode

KNOWN = ("drop-unwrap", "drop-panic", "unwrap-in-production")

DESIGN_EXAMPLE = """\
mode = "added"            # added | diff_context | file
fail_on = "error"         # error | warning | notice | never
exclude = ["benches/**"]  # globs
comment_on = "warning"    # lowest severity posted inline; lower ones: annotations only
[rules]
unwrap-in-production = "off"       # off | notice | warning | error
"""


def test_empty_file_gives_defaults() -> None:
    assert load_settings("", KNOWN) == (Settings(), [])
    default = Settings()
    assert (default.mode, default.fail_on, default.exclude, dict(default.rules)) == (
        Mode.ADDED,
        "error",
        (),
        {},
    )
    assert default.comment_on == "warning"


def test_the_design_example() -> None:
    settings, errors = load_settings(DESIGN_EXAMPLE, KNOWN)
    assert errors == []
    assert settings.exclude == ("benches/**",)
    assert dict(settings.rules) == {"unwrap-in-production": "off"}


def test_every_setting() -> None:
    text = (
        'mode = "diff_context"\nfail_on = "never"\nexclude = []\ncomment_on = "notice"\n'
        '[rules]\ndrop-panic = "notice"\n'
    )
    settings, errors = load_settings(text.encode(), KNOWN)
    assert errors == []
    assert settings == Settings(Mode.DIFF_CONTEXT, "never", (), {"drop-panic": "notice"}, "notice")


def test_tests_opts_test_code_in() -> None:
    assert not Settings().tests
    settings, errors = load_settings("tests = true\n", KNOWN)
    assert (settings.tests, errors) == (True, [])
    assert pickle.loads(pickle.dumps(settings)).tests


def test_settings_are_hashable_and_immutable() -> None:
    settings, _ = load_settings(DESIGN_EXAMPLE, KNOWN)
    assert hash(settings) == hash(load_settings(DESIGN_EXAMPLE, KNOWN)[0])
    with pytest.raises(TypeError):
        settings.rules["drop-panic"] = "off"  # type: ignore[index]


def test_settings_pickle_for_process_pools() -> None:
    example = DESIGN_EXAMPLE.replace('comment_on = "warning"', 'comment_on = "error"')
    settings, _ = load_settings(example, KNOWN)
    copy = pickle.loads(pickle.dumps(settings))
    assert copy == settings and copy.comment_on == "error"
    with pytest.raises(TypeError):
        copy.rules["drop-panic"] = "off"  # type: ignore[index]


def test_severity_of() -> None:
    settings, _ = load_settings('[rules]\ndrop-panic = "off"\ndrop-unwrap = "warning"\n', KNOWN)
    assert settings.severity_of("drop-panic", "error") is None
    assert settings.severity_of("drop-unwrap", "error") == "warning"
    assert settings.severity_of("unwrap-in-production", "notice") == "notice"


def test_toml_syntax_error_gives_defaults_and_says_where() -> None:
    settings, errors = load_settings('fail_on = "warning"\nmode = \n', KNOWN)
    assert settings == Settings()
    assert len(errors) == 1
    assert errors[0].startswith("invalid TOML:")
    assert "line 2" in errors[0]


def test_non_utf8_file_gives_defaults() -> None:
    settings, errors = load_settings(b'mode = "\xff"', KNOWN)
    assert settings == Settings()
    assert errors == ["configuration is not UTF-8 text; using the defaults"]


# Each invalid snippet next to a valid `fail_on`: one error naming the key, and
# the valid setting still applies.
@pytest.mark.parametrize(
    ("snippet", "error"),
    [
        ("mode = 3", "mode: expected a string (added, diff_context, file), got an integer"),
        ('mode = "fast"', 'mode: "fast" is not one of added, diff_context, file'),
        ('comment_on = "all"', 'comment_on: "all" is not one of error, warning, notice, never'),
        ('exclude = "benches/**"', "exclude: expected an array of glob strings, got a string"),
        ('exclude = ["a/**", 1]', "exclude[1]: expected a glob string, got an integer"),
        ('exclude = ["/"]', 'exclude[0]: "/" is not a glob'),
        ("rules = [1]", "rules: expected a table of rule ids, got an array"),
        (
            "[rules]\ndrop-unwrap = true",
            "rules.drop-unwrap: expected a string (off, notice, warning, error), got a boolean",
        ),
        (
            '[rules]\ndrop-unwrap = "loud"',
            'rules.drop-unwrap: "loud" is not one of off, notice, warning, error',
        ),
        (
            '[rules]\ndrop-unwrp = "off"',
            'rules.drop-unwrp: unknown rule (did you mean "drop-unwrap"?)',
        ),
        ('[rules]\nno-such-thing = "off"', "rules.no-such-thing: unknown rule"),
        ("fail-on = 1", 'fail-on: unknown setting (did you mean "fail_on"?)'),
        ("when = 1979-05-27", "when: unknown setting"),
        ('tests = "yes"', "tests: expected true or false, got a string"),
    ],
)
def test_each_invalid_setting_gives_one_error(snippet: str, error: str) -> None:
    settings, errors = load_settings(f'fail_on = "warning"\n{snippet}\n', KNOWN)
    assert errors == [error]
    assert settings.fail_on == "warning"


def test_valid_parts_survive_beside_invalid_ones() -> None:
    text = (
        'mode = "file"\nexclude = ["gen/**", 3]\n[rules]\ndrop-panic = "warning"\nbogus = "off"\n'
    )
    settings, errors = load_settings(text, KNOWN)
    assert settings.mode == Mode.FILE
    assert settings.exclude == ("gen/**",)
    assert dict(settings.rules) == {"drop-panic": "warning"}
    assert len(errors) == 2


@pytest.mark.parametrize(
    ("glob", "path", "excluded"),
    [
        ("benches/**", "benches/a.rs", True),
        ("benches/**", "benches/deep/er/a.rs", True),
        ("benches/**", "src/benches/a.rs", False),
        ("benches/**", "src/benches.rs", False),
        ("**/generated/*.rs", "generated/a.rs", True),
        ("**/generated/*.rs", "crates/x/src/generated/a.rs", True),
        ("**/generated/*.rs", "src/generated/sub/a.rs", False),
        ("**/generated/*.rs", "src/generated.rs", False),
        ("**/generated/*.rs", "src/pregenerated/a.rs", False),
        ("src/**/mod.rs", "src/mod.rs", True),
        ("src/**/mod.rs", "src/a/b/mod.rs", True),
        ("src/*.rs", "src/lib.rs", True),
        ("src/*.rs", "src/a/lib.rs", False),  # `*` stays within one name
        ("src/gen", "src/gen/a.rs", True),  # a directory excludes what it holds
        ("src/gen", "src/generator.rs", False),
        ("target", "crates/a/target/debug/x.rs", True),  # no "/": any depth
        ("/target", "crates/a/target/debug/x.rs", False),  # leading "/": anchored
        ("/target", "target/debug/x.rs", True),
        ("benches/", "benches/a.rs", True),
        ("benches/", "src/benches/a.rs", True),  # a trailing "/" does not anchor
        ("*_generated.rs", "src/deep/foo_generated.rs", True),
        ("*_generated.rs", "src/generated.rs", False),
        ("tests/[ab].rs", "tests/a.rs", True),
        ("tests/[ab].rs", "tests/c.rs", False),
        ("./src/lib.rs", "src/lib.rs", True),
        ("src/lib.rs", "./src/lib.rs", True),
        ("src/lib.rs", "src\\lib.rs", True),
        ("Src/lib.rs", "src/lib.rs", False),  # case-sensitive, like git
    ],
)
def test_exclude_globs(glob: str, path: str, excluded: bool) -> None:
    assert Settings(exclude=(glob,)).excluded(path) is excluded


def test_no_exclude_excludes_nothing() -> None:
    assert not Settings().excluded("src/lib.rs")
