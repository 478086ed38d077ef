"""temp-path-unguarded: a path under `std::env::temp_dir()` that nothing removes.

The scope is the function around the `temp_dir()` call (the `const`/`static`
item, or the file, outside any function). The call counts when the code makes
a path under the directory (`.join(..)` on it, or `.join`/`.push` on the name
it is bound to); the bare directory (`current_dir(temp_dir())`) is left alone.
The path is tracked through its `let` name and every later `let` whose value
mentions a tracked name. It is guarded when, in the scope:
- the `tempfile` crate is used (`tempfile::..`, `NamedTempFile`, `TempDir`,
  `tempdir()`, `Builder::new().tempfile()`), or
- `remove_file`/`remove_dir`/`remove_dir_all` gets a tracked name (or the
  `temp_dir()` call itself), or
- the path flows into `T::f(..)` or `T { .. }` where `T` has an `impl Drop` in
  the file (`Self` inside such a type's impl) or is named like a guard
  (`..Guard`, `Temp..`, `..Cleanup..`): it owns the path and removes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from rules.docs import page
from rules.fixes import TEMP_FILE_GUARD
from rules.model import RESOURCES_RELEASED, Hit, Rule
from rules.rust.context import FileContext
from rules.rust.parsing import captures, enclosing, field_text, matches

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
# methods that keep the value a path (under the temp directory once joined)
_PATH_METHODS = frozenset({"join", "to_path_buf", "as_path", "clone", "to_owned", "into"})
_GUARD_NAME = re.compile(r"Guard$|^Temp(File|Dir|Path)|Cleanup")
_SCOPES = frozenset({"function_item", "const_item", "static_item"})


def check(ctx: FileContext) -> Iterator[Hit]:
    for _, match in matches(TEMP_DIR_CALLS, ctx.root):
        function = match["function"][0]
        if ctx.resolve(ctx.text(function)) not in STD_TEMP_DIR:
            continue
        call = match["call"][0]
        scope = enclosing(call, ctx.root, _SCOPES) or ctx.root
        name, joined = _binding(call)
        names = _tracked(ctx, scope, name) if name else set()
        if not (joined or (name and _extended(ctx, scope, name))):
            continue
        if _removed(ctx, scope, call, names) or _uses_tempfile(scope):
            continue
        yield Hit(call, _message(ctx, function, scope, name))


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


def _uses_tempfile(scope: Node) -> bool:
    return bool(captures(_TEMPFILE_USE, scope))


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
    severity="warning",
    checklist=(RESOURCES_RELEASED,),
    message="a path under `std::env::temp_dir()` is never removed",
    needles=(b"temp_dir",),
    check=check,
    fix=TEMP_FILE_GUARD,
    docs=page(
        what="""
            Flags `std::env::temp_dir()` (also `env::temp_dir()` and an imported
            `temp_dir()`) when the code builds a path under it (`.join(..)`, or `.join`/`.push`
            on the name it is bound to) and nothing in the same function removes that path:
            no `remove_file`/`remove_dir`/`remove_dir_all` of it, no `tempfile` crate use, and
            no hand-off to a type that owns it: one with an `impl Drop` in the file, or one
            named like a guard (`TempFileGuard::new(path)`, `ScratchGuard { path }`). The path
            is followed through `let` bindings that derive from it. Outside any function the
            enclosing `const`/`static` (or the file) is the scope.
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
