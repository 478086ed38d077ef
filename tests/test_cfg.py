"""cfg predicates read against a crate's default features (`rules.rust.cfg`)."""

import pytest

from rules.rust.cfg import compiled, default_features

FEATURES = frozenset({"std", "poison"})


@pytest.mark.parametrize(
    ("predicates", "expected"),
    [
        ('feature = "std"', True),
        ('feature = "spin"', False),
        ('not(feature = "spin")', True),
        ('all(feature = "std", not(feature = "poison"))', False),
        ('any(feature = "spin", feature = "poison")', True),
        ("test", False),
        ('any(test, feature = "spin")', False),
        ("unix", None),
        ('all(unix, feature = "spin")', False),  # whatever the platform
        ('any(unix, feature = "spin")', None),
        ('feature = "std", not(feature = "spin")', True),  # joined: an impl's and its fn's
        ('feature = "std", feature = "spin"', False),
        ('target_os = "linux"', None),
        ('not(feature = "spin", unix)', None),  # not takes one predicate
        ('all(feature = "std"', None),  # unbalanced
        ('feature = "std"))', None),
        ("", True),
    ],
)
def test_compiled(predicates: str, expected: bool | None) -> None:
    assert compiled(predicates, FEATURES) is expected


def test_features_unknown_without_a_manifest() -> None:
    assert compiled('feature = "std"', None) is None
    assert compiled('all(test, feature = "std")', None) is False


def test_a_deeply_nested_predicate_is_read_without_recursion() -> None:
    deep = "not(" * 50_001 + 'feature = "spin"' + ")" * 50_001
    assert compiled(deep, FEATURES) is True


def test_default_features_follow_what_they_enable() -> None:
    table = {
        "default": ["std", "dep:serde", "tokio/rt", "log?/std"],
        "std": ["poison", "alloc"],
        "alloc": [],
        "poison": ["std"],  # a cycle
        "spin": [],
    }
    assert default_features(table) == {"std", "poison", "alloc", "tokio"}
    assert default_features(None) == frozenset()
    assert default_features({"default": "std"}) == frozenset()
