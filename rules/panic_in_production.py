"""panic-in-production: `panic!` / `todo!` / `unimplemented!` outside test code."""

from __future__ import annotations

from collections.abc import Iterator

from rules.docs import page
from rules.model import ERROR_PATHS, Hit, Rule
from rules.rust.context import FileContext
from rules.rust.syntax import macro_calls, macro_name, outside_drop


def check(ctx: FileContext) -> Iterator[Hit]:
    for macro in outside_drop(ctx, macro_calls(ctx, ("panic", "todo", "unimplemented"))):
        yield Hit(macro, f"`{macro_name(macro)}!` in production code")


RULE = Rule(
    id="panic-in-production",
    label="panics in production code",
    help="return an error instead of panicking",
    severity="notice",
    checklist=(ERROR_PATHS,),
    message="`panic!`/`todo!`/`unimplemented!` in production code",
    needles=(b"panic!", b"todo!", b"unimplemented!"),
    check=check,
    docs=page(
        what="""
            Flags `panic!`, `todo!` and `unimplemented!` outside test code. Inside `Drop`
            the stricter `drop-panic` reports them instead.
        """,
        why="""
            A `todo!` that ships is a crash waiting for its input; an explicit `panic!`
            ends the thread without giving the caller the chance to clean up or retry.
            Return an error instead, or document the invariant with `unreachable!` where
            it truly cannot happen.
        """,
        example="""
            fn parse_mode(s: &str) -> Mode {
                match s {
                    "fast" => Mode::Fast,
                    _ => todo!(),
                }
            }
        """,
        instead="""
            fn parse_mode(s: &str) -> Result<Mode, UnknownMode> {
                match s {
                    "fast" => Ok(Mode::Fast),
                    other => Err(UnknownMode(other.to_owned())),
                }
            }
        """,
        references="""
            - [clippy: panic](https://rust-lang.github.io/rust-clippy/master/index.html#panic)
            - [clippy: todo](https://rust-lang.github.io/rust-clippy/master/index.html#todo)
        """,
    ),
)
