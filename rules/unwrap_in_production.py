"""unwrap-in-production: `.unwrap()` / `.expect(..)` outside test code."""

from __future__ import annotations

from collections.abc import Iterator

from rules.docs import page
from rules.model import ERROR_PATHS, Hit, Rule
from rules.rust.context import FileContext
from rules.rust.syntax import method_calls, outside_drop


def check(ctx: FileContext) -> Iterator[Hit]:
    methods = (method for method, _ in method_calls(ctx, ("unwrap", "expect")))
    for method in outside_drop(ctx, methods):
        yield Hit(method, f"`{ctx.text(method)}` in production code panics on the error path")


RULE = Rule(
    id="unwrap-in-production",
    label="panics on the error path",
    help="propagate the error with `?`, or handle it",
    severity="notice",
    checklist=(ERROR_PATHS,),
    message="`unwrap`/`expect` in production code panics on the error path",
    needles=(b"unwrap", b"expect"),
    check=check,
    docs=page(
        what="""
            Flags `.unwrap()` and `.expect(..)` outside test code (`#[cfg(test)]` items,
            `#[test]`/`#[tokio::test]` functions, files under `tests/`, `benches/`,
            `examples/`). Inside `Drop` the stricter `drop-unwrap` reports them instead.
        """,
        why="""
            Each `unwrap` is an error path that ends the thread (or, under `panic = "abort"`,
            the process) instead of reaching the caller. In services that own resources it
            skips the cleanup that the `?` path would have run in order. Keep them where an
            invariant truly holds, and say why with `expect`.
        """,
        example="""
            let port: u16 = std::env::var("PORT").unwrap().parse().unwrap();
        """,
        instead="""
            let port: u16 = std::env::var("PORT")
                .map_err(|_| Error::MissingPort)?
                .parse()
                .map_err(Error::BadPort)?;
        """,
        references="""
            - [clippy: unwrap_used](https://rust-lang.github.io/rust-clippy/master/index.html#unwrap_used)
            - [The Rust Book: recoverable errors](https://doc.rust-lang.org/book/ch09-02-recoverable-errors-with-result.html)
        """,
    ),
)
