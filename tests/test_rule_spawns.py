"""Spawn calls: what they spawn, whether the handle is thrown away, and the
receiver clues (`rules.rust.bindings`) that decide method spawns."""

from __future__ import annotations

import pytest

from rules.rust.bindings import field_types
from rules.rust.context import FileContext
from rules.rust.spawns import classify_spawn, handle_discarded, spawn_calls


def _ctx(body: str, prelude: str = "") -> FileContext:
    return FileContext("src/lib.rs", f"{prelude}\nfn f() {{\n{body}\n}}\n".encode())


def _only_spawn(ctx: FileContext):
    (call,) = spawn_calls(ctx)
    return call


@pytest.mark.parametrize(
    ("body", "discarded"),
    [
        ("tokio::spawn(a);", True),
        ("let _ = tokio::spawn(a);", True),
        ("_ = tokio::spawn(a);", True),
        ("let _h = tokio::spawn(a);", True),
        ("let h = tokio::spawn(a);\nlet h2 = 1;", True),
        ("drop(tokio::spawn(a));", True),
        ("if x { tokio::spawn(a) } else { tokio::spawn(b) };", True),
        ("match x { _ => tokio::spawn(a), };", True),
        ("unsafe { tokio::spawn(a) };", True),
        ("let _ = std::thread::Builder::new().spawn(a).unwrap();", True),
        ("let _h = tokio::spawn(a);\n_h.await;", False),
        ("handles.push(tokio::spawn(a));", False),
        ("self.task = Some(tokio::spawn(a));", False),
        ("tokio::spawn(a).await;", False),
        ("std::thread::spawn(a).join();", False),
        ('let h = tokio::spawn(a);\nprintln!("{:?}", h);', False),
        ("return tokio::spawn(a);", False),
        ("let (h, x) = (tokio::spawn(a), 1);", False),
    ],
)
def test_discarded_handles(body, discarded):
    ctx = _ctx(body)
    calls = spawn_calls(ctx)
    assert calls, body
    assert handle_discarded(ctx, calls[0]) is discarded


def test_a_tail_expression_is_returned_not_discarded():
    ctx = FileContext("src/lib.rs", b"fn f() -> JoinHandle<()> { tokio::spawn(a) }")
    assert not handle_discarded(ctx, _only_spawn(ctx))


@pytest.mark.parametrize(
    ("prelude", "body", "expected"),
    [
        ("use tokio::task;", "task::spawn(a);", ("tokio::task::spawn", "task")),
        ("use tokio::task::spawn as go;", "go(a);", None),  # not spelled like a spawn
        ("use tokio::spawn;", "spawn(a);", ("tokio::spawn", "task")),
        ("use std::thread;", "thread::spawn(a);", ("std::thread::spawn", "thread")),
        ("", "tokio::task::spawn_blocking(a);", ("tokio::task::spawn_blocking", "blocking")),
        ("", "Handle::current().spawn(a);", ("Handle::current().spawn", "task")),
        ("", "let rt = Runtime::new()?;\nrt.spawn_blocking(a);", ("rt.spawn_blocking", "blocking")),
        ("", "tokio::runtime::Handle::spawn(&h, a);", ("Handle::spawn", "task")),
        ("", "let t = TaskTracker::new();\nt.spawn(a);", None),
        ("", "let set = JoinSet::new();\nset.spawn(a);", None),
        ("", "let rt = JoinSet::new();\nrt.spawn(a);", None),  # the type beats the name
        ("", 'Command::new("ls").spawn();', None),
        ("", 'let cmd = Command::new("ls");\ncmd.spawn();', None),
        ("", "pool.spawn(a);", None),  # unknown receiver
        ("fn spawn(x: u8) {}", "spawn(1);", None),  # a local function
        ("", "std::thread::scope(|s| { s.spawn(a); });", ("s.spawn", "scoped")),
        (
            "",
            "thread::Builder::new().spawn_scoped(s, a);",
            ("thread::Builder::new().spawn_scoped", "scoped"),
        ),
        (
            "use std::thread;",
            "thread::Builder::new().spawn(a);",
            ("thread::Builder::new().spawn", "thread"),
        ),
    ],
)
def test_classify_spawn(prelude, body, expected):
    ctx = _ctx(body, prelude)
    spawns = [classify_spawn(ctx, call) for call in spawn_calls(ctx)]
    found = next((s for s in spawns if s is not None), None)
    assert (None if found is None else (found.name, found.family)) == expected


def test_receivers_are_judged_by_struct_field_types():
    ctx = _ctx(
        "self.jobs.spawn(a);\nself.exec.spawn(b);\nself.rt.spawn(c);",
        "struct S { exec: tokio::runtime::Handle, jobs: TaskTracker, rt: JoinSet<()> }",
    )
    families = [classify_spawn(ctx, call) for call in spawn_calls(ctx)]
    assert [s.family if s else None for s in families] == [None, "task", None]


def test_field_types_pair_each_name_with_its_own_type():
    # captures() groups nodes per capture name in no guaranteed order: the
    # table must come from matches, one declaration at a time.
    source = "\n".join(f"struct S{i} {{ a{i}: A{i}, b{i}: B{i} }}" for i in range(20))
    ctx = FileContext("src/lib.rs", source.encode())
    table = field_types(ctx)
    assert all(table[f"a{i}"] == f"A{i}" and table[f"b{i}"] == f"B{i}" for i in range(20))
