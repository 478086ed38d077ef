"""drop-blocking-call: processes, sleeps and network round trips in Drop."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from rules.docs import page
from rules.fixes import SAFE_DROP
from rules.model import PERFORMANCE, Hit, Rule
from rules.rust.bindings import Origin, origin, short_text
from rules.rust.context import FileContext
from rules.rust.parsing import ancestors
from rules.rust.spawns import closure_on_other_thread
from rules.rust.syntax import calls_query, drop_excuse, in_drop

BLOCKING_CALLS = calls_query(
    *("sleep", "output", "status", "wait", "wait_with_output"),  # threads, processes
    *("connect", "connect_timeout", "bind", "send", "send_to", "recv", "recv_from"),  # sockets
    *("get", "call"),  # reqwest::blocking::get, ureq (and `send` for reqwest)
)
# std's blocking types, spelled through `use` or in full, never tokio's or
# async-std's namesakes (`tokio::process::Command::output` is a future).
_NOT_NESTED = r"(?<![\w:])"
_COMMAND = re.compile(_NOT_NESTED + r"(std::process::|process::)?Command\b")
_CHILD = re.compile(_NOT_NESTED + r"(std::process::|process::)?Child\b")
_SOCKET = re.compile(_NOT_NESTED + r"(std::net::|net::)?(UdpSocket|TcpStream)\b")
_NET_FUNCTIONS = re.compile(r"^(std::net::|net::)?(TcpStream::connect(_timeout)?|UdpSocket::bind)$")
_CHILD_NAME = re.compile(r"child|process", re.I)
_SOCKET_METHODS = frozenset({"send_to", "recv", "recv_from", "send"})
_STOP_FLAG = re.compile(rb"\.store\s*\(\s*true\b")
_NO_ARGUMENTS = frozenset({"output", "status", "wait", "wait_with_output"})


def check(ctx: FileContext) -> Iterator[Hit]:
    for call, scope in in_drop(ctx, BLOCKING_CALLS, "call", on_other_thread):
        name = blocking_call(ctx, call, scope.function)
        if name is not None:
            message = (
                f"`{name}` blocks in `Drop`: whoever drops the value waits, an async"
                " runtime's worker thread included"
            )
            yield Hit(call, message, scope=scope)


def blocking_call(ctx: FileContext, call: Node, function: Node) -> str | None:
    """How to name `call` when it blocks the thread, else None."""
    callee = call.child_by_field_name("function")
    if callee is None:
        return None
    if callee.type != "field_expression":
        path = ctx.resolve(ctx.text(callee))
        if path in {"std::thread::sleep", "thread::sleep"}:
            return "std::thread::sleep"
        if _NET_FUNCTIONS.match(path) and _wakes_an_accept_loop(ctx, call, function):
            return None
        if _NET_FUNCTIONS.match(path) or path == "reqwest::blocking::get":
            return path
        return None
    receiver = callee.child_by_field_name("value")
    method = ctx.text(callee.child_by_field_name("field") or callee)
    if receiver is None or (method in _NO_ARGUMENTS and _has_arguments(call)):
        return None  # a crate's own `wait(mode)`: std's process methods take none
    kind = _receiver_kind(origin(ctx, receiver), method)
    if kind is None or (kind == "Child" and _killed_before(ctx, call, receiver, function)):
        return None
    text = short_text(ctx, callee)
    return f"{text}()" if text is not None else f"{kind}::{method}"


@drop_excuse(b"spawn")
def on_other_thread(ctx: FileContext, node: Node, function: Node) -> bool:
    """Inside a closure that runs on another thread: it does not block the
    dropping thread (joining that thread does, and is deliberately allowed:
    it is how the safe-Drop pattern waits)."""
    return any(
        parent.type == "closure_expression" and closure_on_other_thread(ctx, parent)
        for parent in ancestors(node, function)
    )


def _receiver_kind(clues: Origin, method: str) -> str | None:
    """The blocking type a method is called on, judged by declared types and
    constructors: `Command` runs (`output`, `status`), a `Child` waited for
    (declared, or `Command::new(..).spawn()`; a variable named child/process
    when the file shows no type), std sockets, `reqwest::blocking`, `ureq`."""
    if method in {"output", "status"} and clues.type_matches(_COMMAND):
        return "Command"
    if method in {"wait", "wait_with_output"}:
        spawned = "spawn" in clues.names and clues.type_matches(_COMMAND)
        if spawned or clues.type_matches(_CHILD):
            return "Child"
        if not clues.types and clues.name_matches(_CHILD_NAME):
            return "Child"
    if method in _SOCKET_METHODS and clues.type_matches(_SOCKET):
        return "socket"
    if method == "send" and any(text.startswith("reqwest::blocking::") for text in clues.types):
        return "RequestBuilder"
    if method == "call" and any(text.startswith("ureq::") for text in clues.types):
        return "ureq::Request"
    return None


def _has_arguments(call: Node) -> bool:
    arguments = call.child_by_field_name("arguments")
    return arguments is not None and arguments.named_child_count > 0


def _wakes_an_accept_loop(ctx: FileContext, call: Node, function: Node) -> bool:
    """`self.done.store(true, ..); TcpStream::connect(own_addr)`: a server's
    Drop sets its stop flag, then connects to its own listener so the thread
    blocked in `accept` sees it. The connection is local and returns at once;
    it is how std-only servers stop (tiny_http, ureq's test server)."""
    before = ctx.source[function.start_byte : call.start_byte]
    return _STOP_FLAG.search(before) is not None


def _killed_before(ctx: FileContext, call: Node, receiver: Node, function: Node) -> bool:
    """`child.kill(); child.wait()`: reaping a killed child returns at once
    and is what std's docs ask for, so it is not reported."""
    before = ctx.source[function.start_byte : call.start_byte].decode("utf-8", "replace")
    name = re.escape("".join(ctx.text(receiver).split()))
    return re.search(rf"\b{name}\s*\.\s*kill\s*\(", before) is not None


RULE = Rule(
    only_in_drop=True,
    id="drop-blocking-call",
    label="blocks whoever drops the value",
    help="move the blocking work into an explicit `close()`, or off the dropping thread",
    severity="warning",
    checklist=(PERFORMANCE,),
    message="blocking call in `Drop`: whoever drops the value waits",
    needles=(b"sleep", b"output", b"status", b"wait", b"connect", b"Socket", b"blocking", b"ureq"),
    check=check,
    fix=SAFE_DROP,
    docs=page(
        what="""
            Flags blocking work inside `fn drop` of an `impl Drop` (and in functions of the
            same file that `drop` reaches): running a `std::process::Command` (`.output()`,
            `.status()`, `.spawn()` then `.wait()` / `.wait_with_output()`),
            `std::thread::sleep`, and blocking network calls (`std::net::TcpStream::connect`,
            `UdpSocket::bind`, which resolve host names first, `send_to`/`recv` on std
            sockets, `reqwest::blocking`, `ureq`).
            The receiver's kind is read from the file: constructors such as `Command::new`,
            declared struct field and `let` types, `use` imports; tokio's and async-std's
            namesakes are futures and are not flagged. Not flagged: removing files or
            directories (what a temp-file guard does), `join()` on a thread (how the
            safe-Drop pattern waits), `wait()` right after `kill()` on the same child
            (reaping it), and work inside a closure that runs on another thread.
        """,
        why="""
            `drop` runs wherever the value goes out of scope: at the end of a request
            handler, inside a task, on an async runtime's worker thread. A process run, a
            sleep or a network round trip there stalls that thread for as long as it takes,
            and every task scheduled on the worker with it; on a current-thread runtime the
            whole runtime waits. A slow or hung `docker stop` turns into a hung service,
            and nothing in the caller's code says that dropping a value can take seconds.
        """,
        example="""
            impl Drop for CleanroomGuard {
                fn drop(&mut self) {
                    let _ = std::process::Command::new("docker")
                        .args(["rm", "-f", &self.container_id])
                        .output();
                }
            }
        """,
        instead="""
            impl CleanroomGuard {
                /// The primary path: owners await the cleanup.
                pub async fn close(self) -> std::io::Result<()> {
                    tokio::process::Command::new("docker")
                        .args(["rm", "-f", &self.container_id])
                        .status()
                        .await
                        .map(drop)
                }
            }

            impl Drop for CleanroomGuard {
                fn drop(&mut self) {
                    // the fallback: bounded, off the runtime's workers (see the safe-Drop pattern)
                    let id = std::mem::take(&mut self.container_id);
                    let release = async move {
                        let mut docker = tokio::process::Command::new("docker");
                        docker.args(["rm", "-f", &id]).status().await
                    };
                    if let Some(Err(error)) = block_on_cleanup(release, CLEANUP_LIMIT) {
                        eprintln!("warning: container cleanup failed: {error}");
                    }
                }
            }
        """,
        references="""
            - [std::process::Command::output](https://doc.rust-lang.org/std/process/struct.Command.html#method.output)
            - [std::process::Child::wait](https://doc.rust-lang.org/std/process/struct.Child.html#method.wait)
            - [tokio::task::block_in_place](https://docs.rs/tokio/latest/tokio/task/fn.block_in_place.html)
            - [Alice Ryhl: Async: what is blocking?](https://ryhl.io/blog/async-what-is-blocking/)
            - [clippy: disallowed_methods (to ban chosen blocking calls)](https://rust-lang.github.io/rust-clippy/master/index.html#disallowed_methods)
        """,
    ),
)
