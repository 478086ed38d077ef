"""temp-path-unguarded: a path under `std::env::temp_dir()` that nothing removes.

The scope is the function around the `temp_dir()` call (the `const`/`static`
item, or the file, outside any function). The call counts when the code makes
a path under the directory (`.join(..)` on it, or `.join`/`.push` on the name
it is bound to); the bare directory (`current_dir(temp_dir())`) is left alone.
The path is tracked through its `let` name and every later `let` whose value
mentions a tracked name. It is guarded when, in the scope:
- a `tempfile` value is made from it (`TempDir::new_in(&dir)`,
  `Builder::new().tempfile_in(path)`: the statement using the crate holds the
  call or a tracked name; a tempfile elsewhere guards its own path), or
- `remove_file`/`remove_dir`/`remove_dir_all` gets a tracked name (or the
  `temp_dir()` call itself), or
- the path flows into `T::f(..)` or `T { .. }` where `T` has an `impl Drop` in
  the file (`Self` inside such a type's impl) or is named like a guard
  (`..Guard`, `Temp..`, `..Cleanup..`): it owns the path and removes it.

A `tempfile` value's path escapes its guard through `keep()`, `into_path()`,
or `persist(..)` to a name derived from its own path; those calls are reported
unless the function removes the result or hands it to a guard.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from rules.docs import page
from rules.fixes import TEMP_FILE_GUARD
from rules.model import RESOURCES_RELEASED, Hit, Rule
from rules.rust.bindings import origin
from rules.rust.context import FileContext
from rules.rust.parsing import captures, enclosing, field_text, matches
from rules.rust.syntax import method_calls

TEMP_DIR_CALLS = """
(call_expression
  function: [(identifier) (scoped_identifier)] @function
  (#match? @function "temp_dir$")
  arguments: (arguments)) @call
"""
_TEMPFILE_USE = """
([(identifier) (type_identifier) (field_identifier)] @use
 (#match? @use "^(tempfile|tempfile_in|tempdir|tempdir_in|NamedTempFile|TempDir|TempPath)$"))
"""
_REMOVALS = """
(call_expression
  function: [(identifier) (scoped_identifier)] @function
  (#match? @function "remove_(file|dir|dir_all)$")
  arguments: (arguments) @args)
"""
_OWNERS = """
(call_expression function: (scoped_identifier path: (_) @owner) arguments: (arguments) @into)
(struct_expression name: (_) @owner body: (_) @into)
"""
_LETS = "(let_declaration pattern: (identifier) @name value: (_) @value)"
_EXTENSIONS = """
(call_expression function: (field_expression value: (identifier) @base
  field: (field_identifier) @method (#any-of? @method "join" "push")))
"""

STD_TEMP_DIR = frozenset({"std::env::temp_dir", "env::temp_dir"})
_STATEMENTS = frozenset({"let_declaration", "expression_statement"})
_TEMPFILE_TYPE = re.compile(r"\b(NamedTempFile|TempDir|TempPath)\b|^tempfile::")
_TEMPFILE_MAKERS = frozenset(
    {"tempfile", "tempfile_in", "tempdir", "tempdir_in", "into_temp_path", "make", "make_in"}
)
_PERSISTS = frozenset({"persist", "persist_noclobber"})
_LEFT_BEHIND = "nothing removes it afterwards; keep the guard alive and use `.path()`"
_ESCAPES = {
    "keep": f"`keep()` takes the file out of its `tempfile` guard: {_LEFT_BEHIND}",
    "into_path": f"`into_path()` takes the directory out of `TempDir`'s guard: {_LEFT_BEHIND}",
    "persist": "`persist` moves the file out of its guard, next to where it was, under a name"
    " nothing removes",
    "persist_noclobber": "`persist_noclobber` moves the file out of its guard, next to where it"
    " was, under a name nothing removes",
}
# methods that keep the value a path (under the temp directory once joined)
_PATH_METHODS = frozenset({"join", "to_path_buf", "as_path", "clone", "to_owned", "into"})
_GUARD_NAME = re.compile(r"Guard$|^Temp(File|Dir|Path)|Cleanup")
_SCOPES = frozenset({"function_item", "const_item", "static_item"})


def check(ctx: FileContext) -> Iterator[Hit]:
    calls = matches(TEMP_DIR_CALLS, ctx.root) if ctx.mentions(b"temp_dir") else []
    for _, match in calls:
        function = match["function"][0]
        if ctx.resolve(ctx.text(function)) not in STD_TEMP_DIR:
            continue
        call = match["call"][0]
        scope = enclosing(call, ctx.root, _SCOPES) or ctx.root
        name, joined = _binding(call)
        names = _tracked(ctx, scope, name) if name else set()
        if not (joined or (name and _extended(ctx, scope, name))):
            continue
        if _removed(ctx, scope, call, names) or _tempfile_owns(ctx, scope, call, names):
            continue
        yield Hit(call, _message(ctx, function, scope, name))
    yield from _escapes(ctx)


def _binding(call: Node) -> tuple[str, bool]:
    """The `let` name the temp path is bound to ('' if none) and whether the
    expression already joins a path onto the directory."""
    node, joined = call, False
    parent = node.parent
    while parent is not None:
        if parent.type in {"try_expression", "reference_expression"}:
            node = parent
        elif (
            parent.type == "field_expression"
            and parent.parent is not None
            and parent.parent.type == "call_expression"
            and field_text(parent, "field") in _PATH_METHODS
        ):
            joined = joined or field_text(parent, "field") == "join"
            node = parent.parent
        else:
            break
        parent = node.parent
    if parent is not None and parent.type == "let_declaration":
        pattern = parent.child_by_field_name("pattern")
        if pattern is not None and pattern.type == "identifier":
            return FileContext.text(pattern), joined
    return "", joined


def _tracked(ctx: FileContext, scope: Node, name: str) -> set[str]:
    """`name` and every later `let` name whose value mentions a tracked one."""
    names = {name}
    for _, match in matches(_LETS, scope):
        value = match["value"][0]
        if _mentions(ctx.text(value), names):
            names.add(ctx.text(match["name"][0]))
    return names


def _extended(ctx: FileContext, scope: Node, name: str) -> bool:
    """The bound directory gets `.join(..)`ed or `.push(..)`ed somewhere."""
    return any(ctx.text(base) == name for base in captures(_EXTENSIONS, scope).get("base", []))


def _removed(ctx: FileContext, scope: Node, call: Node, names: set[str]) -> bool:
    """A removal, or a Drop guard taking ownership, of the path in `scope`."""

    def holds_path(node: Node) -> bool:
        contains_call = node.start_byte <= call.start_byte and call.end_byte <= node.end_byte
        return contains_call or _mentions(ctx.text(node), names)

    if any(holds_path(args) for args in captures(_REMOVALS, scope).get("args", [])):
        return True
    owners = _drop_types(ctx, scope)
    return any(
        holds_path(match["into"][0]) and _owns(ctx.text(match["owner"][0]).split("::")[-1], owners)
        for _, match in matches(_OWNERS, scope)
    )


def _owns(owner: str, drop_types: set[str]) -> bool:
    return owner in drop_types or _GUARD_NAME.search(owner) is not None


def _drop_types(ctx: FileContext, scope: Node) -> set[str]:
    """Types with `impl Drop` in the file, plus `Self` inside one of their impls."""
    names = {impl.type_name for impl in ctx.drop_impls}
    impl = enclosing(scope, ctx.root, {"impl_item"})
    target = impl.child_by_field_name("type") if impl is not None else None
    if target is not None and ctx.text(target).split("<")[0] in names:
        names.add("Self")
    return names


def _tempfile_owns(ctx: FileContext, scope: Node, call: Node, names: set[str]) -> bool:
    """A `tempfile` value made from this path (`tempfile_in(dir)`,
    `TempDir::new_in(&dir)`, `TempPath::from_path(path)`): the statement that
    uses the crate holds the `temp_dir()` call or a tracked name. A tempfile
    elsewhere in the function guards its own path, not this one."""
    for use in captures(_TEMPFILE_USE, scope).get("use", []):
        statement = enclosing(use, scope, _STATEMENTS) or use
        inside = statement.start_byte <= call.start_byte and call.end_byte <= statement.end_byte
        if inside or _mentions(ctx.text(statement), names):
            return True
    return False


def _escapes(ctx: FileContext) -> Iterator[Hit]:
    """`keep()`/`into_path()` on a `tempfile` value, `persist(..)` of one to a
    path under `temp_dir()`: the file leaves its guard, and nothing in the
    function removes it or hands it to another guard."""
    for method, call in method_calls(ctx, tuple(_ESCAPES)):
        name = ctx.text(method)
        callee = call.child_by_field_name("function")
        arguments = call.child_by_field_name("arguments")
        receiver = callee.child_by_field_name("value") if callee is not None else None
        if receiver is None or arguments is None:
            continue
        if not _is_tempfile(ctx, receiver):
            continue
        if name in _PERSISTS:
            destination = arguments.named_children[0] if arguments.named_children else None
            if destination is None or not _next_to_temp_file(ctx, destination):
                continue
        elif arguments.named_child_count:
            continue
        scope = enclosing(call, ctx.root, _SCOPES) or ctx.root
        bound, _ = _binding(call)
        names = _tracked(ctx, scope, bound) if bound else set()
        if _removed(ctx, scope, call, names):
            continue
        yield Hit(method, _ESCAPES[name])


def _is_tempfile(ctx: FileContext, receiver: Node) -> bool:
    clues = origin(ctx, receiver)
    return clues.type_matches(_TEMPFILE_TYPE) or any(n in _TEMPFILE_MAKERS for n in clues.names)


def _next_to_temp_file(ctx: FileContext, destination: Node) -> bool:
    """The destination is derived from a tempfile value's own path
    (`tmp.path().with_extension("bin")`): the file stays in the temp directory
    under a name nothing removes. (A destination under `temp_dir()` is the
    `temp_dir()` check's finding; one elsewhere is the atomic-write pattern.)"""
    clues = origin(ctx, destination)
    return "path" in clues.names and _is_tempfile(ctx, destination)


def _mentions(text: str, names: set[str]) -> bool:
    return any(re.search(rf"\b{re.escape(name)}\b", text) for name in names)


def _message(ctx: FileContext, function: Node, scope: Node, name: str) -> str:
    path = f"`{name}`" if name else "the path"
    if scope.type == "source_file":
        place = "this file"
    else:
        kind = {"function_item": "fn", "const_item": "const"}.get(scope.type, "static")
        place = f"`{kind} {field_text(scope, 'name')}`"
    return (
        f"{path} under `{ctx.text(function)}()` is never removed in {place}: "
        "no guard, `tempfile` or `remove_*` owns it"
    )


RULE = Rule(
    id="temp-path-unguarded",
    label="nothing removes this path",
    help="own the path with a guard whose `Drop` removes it (TempFileGuard), or use `tempfile`",
    severity="warning",
    checklist=(RESOURCES_RELEASED,),
    message="a path under `std::env::temp_dir()` is never removed",
    needles=(b"temp_dir", b"keep", b"into_path", b"persist"),
    check=check,
    fix=TEMP_FILE_GUARD,
    docs=page(
        what="""
            Flags `std::env::temp_dir()` (also `env::temp_dir()` and an imported
            `temp_dir()`) when the code builds a path under it (`.join(..)`, or `.join`/`.push`
            on the name it is bound to) and nothing in the same function removes that path:
            no `remove_file`/`remove_dir`/`remove_dir_all` of it, no `tempfile` value made
            from it (`TempDir::new_in(&dir)`; a `tempfile` value elsewhere in the function
            guards its own path, not this one), and no hand-off to a type that owns it: one
            with an `impl Drop` in the file, or one named like a guard
            (`TempFileGuard::new(path)`, `ScratchGuard { path }`). The path is followed
            through `let` bindings that derive from it. Outside any function the enclosing
            `const`/`static` (or the file) is the scope.

            Also flags a `tempfile` value whose file leaves its guard: `TempDir::into_path()`,
            `keep()` on a `NamedTempFile`, `TempPath` or `TempDir`, and `persist(..)` to a name
            derived from the file's own path (`tmp.path().with_extension("done")`), unless the
            function removes the result. `persist(target)` to the file's real destination is
            the atomic-write pattern and is not flagged.
        """,
        why="""
            Files and directories under the system temp directory outlive the process: every
            run (every test) leaves another one behind until the disk or the inode table fills
            up, and a fixed name (`temp_dir().join("app-artifacts")`) is shared by concurrent
            runs, which then read each other's data. A guard that removes the path in `Drop`
            also cleans up on early returns and panics, where an explicit `remove_file` at the
            end of the function is skipped. If the directory is meant to persist (a cache),
            say so with `// dropsafe:allow(temp-path-unguarded)`.
        """,
        example="""
            fn collect_artifacts(run: &Run) -> io::Result<()> {
                let dir = std::env::temp_dir().join("cleanroom-artifacts");
                fs::create_dir_all(&dir)?;
                run.write_artifacts(&dir)
            }
        """,
        instead="""
            fn collect_artifacts(run: &Run) -> io::Result<()> {
                let dir = tempfile::Builder::new().prefix("cleanroom-artifacts").tempdir()?;
                run.write_artifacts(dir.path())
            } // `dir` is removed here, on every path out
        """,
        references="""
            - [tempfile crate: `TempDir`, `NamedTempFile`](https://docs.rs/tempfile/latest/tempfile/)
            - [std::env::temp_dir](https://doc.rust-lang.org/std/env/fn.temp_dir.html)
            - [std::fs::remove_dir_all](https://doc.rust-lang.org/std/fs/fn.remove_dir_all.html)
        """,
    ),
)
