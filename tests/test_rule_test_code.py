"""Which `#[cfg(..)]` items are test code: the production rules skip them."""

import pytest

from rules.rust.context import FileContext


@pytest.mark.parametrize(
    ("attribute", "is_test"),
    [
        ("#[cfg(test)]", True),
        ("#[cfg(all(test, not(loom)))]", True),
        ('#[cfg(all(test, feature = "std", not(miri)))]', True),
        ("#[cfg(any(all(test, unix), test))]", True),
        ("#[cfg(not(test))]", False),
        ("#[cfg(not(all(loom, test)))]", False),
        ('#[cfg(any(test, feature = "std"))]', False),
        ('#[cfg(all(feature = "x", any(test, loom)))]', False),
    ],
)
def test_cfg_predicates(attribute, is_test):
    ctx = FileContext("src/lib.rs", f"{attribute}\nfn f() {{ x.unwrap(); }}\n".encode())
    call = ctx.occurrences(("unwrap",))[0]
    assert ctx.is_test(call) is is_test


def test_deeply_nested_cfg_is_evaluated_without_recursion():
    attribute = "#[cfg(" + "all(" * 5000 + "test" + ")" * 5000 + ")]"
    ctx = FileContext("src/lib.rs", f"{attribute}\nfn f() {{ x.unwrap(); }}\n".encode())
    assert ctx.is_test(ctx.occurrences(("unwrap",))[0])
