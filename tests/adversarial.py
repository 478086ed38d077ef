"""Rust sources shaped to make an analyser slow or make it crash.

Each shape builds a file from a repeat count `n`; doubling `n` roughly doubles
the file, so the time per megabyte shows whether the engine stays linear.
The property tests (tests/test_robustness.py) run them small; the benchmark
(benchmarks/adversarial.py) runs them at the sizes that used to take seconds.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Shape:
    """A family of files: `build(n)` is the source, `path` where it lives
    (under `tests/` for the shapes that exercise test-file handling)."""

    name: str
    path: str
    build: Callable[[int], bytes]
    n: int  # the size the benchmark starts at


def unwrap_chain(n: int) -> bytes:
    """`x.unwrap().unwrap()...`: one expression `n` calls deep."""
    return b"fn f() {\n    x" + b".unwrap()" * n + b";\n}\n"


def nested_spawns(n: int) -> bytes:
    """`tokio::spawn(async move { .. })` inside itself `n` times."""
    opening = b"tokio::spawn(async move {\n"
    return b"fn f() {\n" + opening * n + b"x.unwrap();\n" + b"});\n" * n + b"}\n"


def nested_closures(n: int) -> bytes:
    """`move || { move || { .. } }` `n` deep, inside `fn drop`."""
    return (
        b"struct G;\nimpl Drop for G {\n    fn drop(&mut self) {\n"
        + b"let f = move || {\n" * n
        + b"x.unwrap();\n"
        + b"};\n" * n
        + b"    }\n}\n"
    )


def nested_braces(n: int) -> bytes:
    """Blocks `n` deep."""
    return b"fn f() {" + b"{" * n + b"x.unwrap();" + b"}" * n + b"}\n"


def unclosed_parens(n: int) -> bytes:
    """`n` `(` never closed, in a test file (every node is an error)."""
    return b"fn f() { g" + b"(" * n + b"\n"


def long_lines(n: int) -> bytes:
    """Lines of 100,000 characters: calls, locks and awaits with no newline."""
    line = b"async fn f() { " + b"let g = m.lock().await; a.unwrap(); h.await; " * 2200 + b"}"
    return b"\n".join([line] * max(1, n))


def drop_impls(n: int) -> bytes:
    """`n` small `impl Drop` blocks, each reaching helpers through calls."""
    parts = []
    for i in range(n):
        parts.append(
            f"struct S{i}(Option<u8>);\n"
            f"impl Drop for S{i} {{\n"
            f"    fn drop(&mut self) {{ self.close(); Self::flush(); }}\n"
            f"}}\n"
            f"impl S{i} {{\n"
            f"    fn close(&self) {{ helper{i}(); }}\n"
            f"    fn flush() {{ tokio::spawn(async {{}}); }}\n"
            f"}}\n"
            f"fn helper{i}() {{ lock().unwrap(); }}\n"
        )
    return "".join(parts).encode()


def allow_comments(n: int) -> bytes:
    """`n` functions, each behind allow comments, another comment and an
    attribute: the allow comments' own reading (lines, items they cover)."""
    return b"".join(
        b"// dropsafe:allow(unwrap-in-production)\n// SAFETY: the slot is set\n#[inline]\n"
        b"fn f%d() { y.unwrap(); z.unwrap(); }\n" % i
        for i in range(n)
    )


def one_line_drops(n: int) -> bytes:
    """`n` small `impl Drop` blocks on one line: thousands of findings (whole
    impl ones too) share the line their columns and code are read from."""
    return (
        b" ".join(
            b"struct S%d(Option<u8>); impl Drop for S%d { fn drop(&mut self) { self.close();"
            b" self.0.take().unwrap(); } }" % (i, i)
            for i in range(n)
        )
        + b"\n"
    )


def lock_sections(n: int) -> bytes:
    """A private lock unwrapped in `Drop`, taken `n` times in one block (one
    guard name) and once in each of `n` functions: drop-unwrap judges every
    critical section of it to tell whether it can be poisoned."""
    head = (
        b"struct P { m: std::sync::Mutex<Vec<u32>>, ready: std::sync::Condvar }\n"
        b"impl Drop for P {\n    fn drop(&mut self) { self.m.lock().unwrap().clear(); }\n}\n"
        b"impl P {\n    fn all(&self) {\n"
    )
    block = b"        let mut g = self.m.lock().unwrap();\n        g.push(1);\n" * n
    functions = b"".join(
        b"    fn f%d(&self) {\n        let mut g = self.m.lock().unwrap();\n"
        b"        while g.is_empty() { g = self.ready.wait(g).unwrap(); }\n"
        b"        g.pop();\n    }\n" % i
        for i in range(n)
    )
    return head + block + b"    }\n" + functions + b"}\n"


def random_bytes(n: int) -> bytes:
    """`n` random bytes, error recovery all over. Always the start of one
    seeded stream, so doubling `n` adds bytes of the same kind: parse time
    depends on the bytes (an unclosed `/*` or `"` early makes the rest cheap;
    this seed has none), and a fresh stream per size reads as noise."""
    return random.Random(0).randbytes(n)


def normal(n: int) -> bytes:
    """Ordinary library code: `n` modules with a few types, impls, async fns,
    locks, an `impl Drop` now and then, and a test module."""
    parts = []
    for i in range(n):
        parts.append(
            f"""\
/// A connection pool, part {i}.
pub struct Pool{i} {{
    inner: Arc<Mutex<Vec<Conn>>>,
    size: usize,
}}

impl Pool{i} {{
    pub fn new(size: usize) -> Self {{
        Self {{ inner: Arc::new(Mutex::new(Vec::with_capacity(size))), size }}
    }}

    pub async fn get(&self) -> Result<Conn, Error> {{
        let mut conns = self.inner.lock().await;
        match conns.pop() {{
            Some(conn) => Ok(conn),
            None => Conn::connect(&self.address()).await.map_err(Error::from),
        }}
    }}

    fn address(&self) -> String {{
        format!("127.0.0.1:{{}}", 8000 + self.size)
    }}
}}

impl Drop for Pool{i} {{
    fn drop(&mut self) {{
        if let Ok(mut conns) = self.inner.try_lock() {{
            conns.clear();
        }}
    }}
}}

#[cfg(test)]
mod tests{i} {{
    use super::*;

    #[tokio::test]
    async fn pool_gives_connections() {{
        let pool = Pool{i}::new(4);
        assert!(pool.get().await.is_ok());
        drop(pool);
    }}
}}

"""
        )
    return "".join(parts).encode()


SHAPES = (
    Shape("unwrap chain", "src/chain.rs", unwrap_chain, 8_000),
    Shape("nested tokio::spawn", "src/spawns.rs", nested_spawns, 4_000),
    Shape("nested closures in drop", "src/closures.rs", nested_closures, 5_000),
    Shape("nested braces", "src/braces.rs", nested_braces, 5_000),
    Shape("unclosed ( in tests/", "tests/parens.rs", unclosed_parens, 300_000),
    Shape("100,000-char lines", "src/long.rs", long_lines, 10),
    Shape("many impl Drop", "src/drops.rs", drop_impls, 6_000),
    Shape("impl Drop on one line", "src/oneline.rs", one_line_drops, 6_000),
    Shape("allow comments", "src/allowed.rs", allow_comments, 10_000),
    Shape("lock sections", "src/locks.rs", lock_sections, 5_000),
    Shape("random bytes", "src/random.rs", random_bytes, 200_000),
)
NORMAL = Shape("normal code", "src/normal.rs", normal, 2_000)
