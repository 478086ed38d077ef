"""drop-untested: an `impl Drop for T` that no test names."""

from __future__ import annotations

from collections.abc import Iterator

from rules.docs import page
from rules.model import TESTED, Hit, Rule
from rules.rust.context import FileContext


def check(ctx: FileContext) -> Iterator[Hit]:
    named = ctx.named_in_test_code({drop.type_name for drop in ctx.drop_impls})
    for drop in ctx.drop_impls:
        name = drop.type_name
        if ctx.is_test(drop.impl) or name in named:
            continue
        yield Hit(drop.impl, f"`impl Drop for {name}` has no test that names `{name}`", whole=True)


RULE = Rule(
    id="drop-untested",
    label="no test names this type",
    help="add a test that creates the value, drops it and checks that the resource is released",
    severity="notice",
    checklist=(TESTED,),
    message="`impl Drop` has no test that names its type",
    needles=(b"Drop",),
    check=check,
    docs=page(
        what="""
            Flags an `impl Drop for T` (also `impl<T> Drop for W<T>`, `impl std::ops::Drop for T`)
            when no test names `T`: neither the file's own test code (`#[cfg(test)]` items,
            `#[test]`/`#[tokio::test]` functions) as an identifier or a type, nor a test file
            changed in the same pull request. A name that appears only in a string or a comment
            does not count. An `impl Drop` that is itself test code is not flagged. The finding
            is about the whole impl: it is reported when any line of the impl is touched.
        """,
        why="""
            Cleanup code runs on paths nobody exercises by hand: early returns, panics, a task
            cancelled mid-way, a value dropped inside an async runtime. A `Drop` that was never
            run in a test is where a `block_on` that panics inside the runtime, a file that is
            never removed, or a double free of a handle waits. The test does not need to be
            elaborate: create the value, drop it, check the resource is gone.
        """,
        example="""
            pub struct TempFileGuard {
                path: PathBuf,
            }

            impl Drop for TempFileGuard {
                fn drop(&mut self) {
                    let _ = std::fs::remove_file(&self.path);
                }
            }
        """,
        instead="""
            #[cfg(test)]
            mod tests {
                use super::*;

                #[test]
                fn guard_removes_its_file_on_drop() {
                    let path = std::env::temp_dir().join("guard-test.txt");
                    std::fs::write(&path, b"x").unwrap();
                    drop(TempFileGuard { path: path.clone() });
                    assert!(!path.exists());
                }
            }
        """,
        references="""
            - [std::ops::Drop](https://doc.rust-lang.org/std/ops/trait.Drop.html)
            - [The Rust Book: how to write tests](https://doc.rust-lang.org/book/ch11-01-writing-tests.html)
            - [tokio: testing (`#[tokio::test]`)](https://docs.rs/tokio/latest/tokio/attr.test.html)
        """,
    ),
)
