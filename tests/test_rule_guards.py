"""Lock guards: which acquisitions are guards, and where they are still held."""

from __future__ import annotations

from rules.rust.context import FileContext
from rules.rust.guards import locks
from rules.rust.parsing import captures


def _ctx(body: str) -> FileContext:
    return FileContext("src/lib.rs", f"async fn f() {{\n{body}\n}}\n".encode())


def _awaits(ctx: FileContext) -> list:
    return captures('(await_expression "await" @a)', ctx.root)["a"]


def test_let_else_binds_the_guard_and_arguments_mean_io():
    ctx = _ctx(
        "let Ok(g) = m.lock() else { return };\n"
        "let n = file.read(&mut buf);\n"
        "let (a, b) = (x.lock(), y.lock());\n"
    )
    found = locks(ctx)
    assert [g.name for g in found.guards] == ["g"]
    assert len(found.acquisitions) == 3  # the two in the tuple are temporaries


def test_drop_after_shadowing_names_the_new_binding():
    ctx = _ctx("let g = m.lock().unwrap();\nlet g = g.len();\ndrop(g);\nx.await;")
    (guard,) = locks(ctx).guards
    assert guard.moves() == []
    assert guard.held_at(_awaits(ctx)[-1])


def test_any_call_taking_the_guard_by_value_releases_it():
    ctx = _ctx("let g = m.lock().await;\nconsume(g);\nx.await;")
    (guard,) = locks(ctx).guards
    assert not guard.held_at(_awaits(ctx)[-1])


def test_a_move_inside_a_closure_does_not_release_the_guard_here():
    ctx = _ctx("let g = m.lock().await;\nlet later = move || drop(g);\nx.await;")
    (guard,) = locks(ctx).guards
    assert guard.held_at(_awaits(ctx)[-1])


def test_deeply_nested_blocks_are_walked_without_recursion():
    depth = 3000
    body = "let g = m.lock().await;\n" + "{" * depth + "x.await;" + "}" * depth
    ctx = _ctx(body)
    (guard,) = locks(ctx).guards
    assert guard.held_at(_awaits(ctx)[-1])
