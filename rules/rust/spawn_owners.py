"""Who answers for a task whose `JoinHandle` is dropped, read off the syntax.

detached-spawn reports a spawned task nobody owns. Three shapes of real code
detach on purpose, and someone else does answer for the task:

- an **executor adapter** spawns the future it was given (hyper's
  `Exec::execute(&self, fut)`, quinn's `impl Runtime for TokioRuntime { fn
  spawn(&self, future) { tokio::spawn(future); } }`): detaching is its
  contract, and whoever calls it chose to detach (`spawns_own_parameter`);
- a task that **reports back through a channel** it takes along (reqwest's
  per-request `tokio::spawn(forward(req_fut, req_tx))`, an `async move` block
  calling `tx.send(..)`): its result is not lost (`reports_through_channel`);
- a **worker paired** with a handle the function returns (tower's `let
  (service, worker) = Self::pair(..); tokio::spawn(worker); service`, hyper's
  `let (sender, conn) = handshake(io).await?; tokio::spawn(conn)`): the worker
  lives as long as the returned half's channel (`drives_returned_pair`).
"""

from __future__ import annotations

import bisect
import re

from tree_sitter import Node

from rules.rust.context import FileContext
from rules.rust.locals import Binding, binding_of
from rules.rust.parsing import walk

# Calls that box or pin a future and hand it on unchanged.
_WRAPPERS = frozenset({"Box::pin", "Box::new", "Pin::from", "std::boxed::Box::pin"})
_WRAPPER_METHODS = frozenset({"boxed", "boxed_local"})
# A channel's sending half, by the names Rust code gives it (`tx`, `req_tx`,
# `reply_sender`, `done_tx2`).
_SENDER_NAME = re.compile(r"(^|_)(tx|sender)\d*$", re.I)
_SEND_METHODS = frozenset({"send", "try_send", "send_async", "unbounded_send", "send_replace"})
_SENDS_LOOKED_AT = 64


def spawns_own_parameter(ctx: FileContext, call: Node) -> bool:
    """True when the spawned future is a parameter of the enclosing function,
    as given or boxed/pinned (`tokio::spawn(fut)`, `spawn(Box::pin(fut))`)."""
    future = _unwrapped(ctx, _spawned(call))
    if future is None or future.type != "identifier":
        return False
    binding = binding_of(future, ctx.root)
    return binding is not None and _is_fn_parameter(binding)


def reports_through_channel(ctx: FileContext, call: Node) -> bool:
    """True when the spawned future takes a channel's sending half along: an
    argument named like a sender (`forward(fut, req_tx)`), or an `async`
    block/closure that calls `.send(..)` on a sender it captures."""
    future = _unwrapped(ctx, _spawned(call))
    if future is None:
        return False
    if future.type == "call_expression":
        arguments = future.child_by_field_name("arguments")
        names = (ctx.text(a) for a in (arguments.named_children if arguments else []))
        return any(_SENDER_NAME.search(name) for name in names)
    if future.type in {"async_block", "closure_expression"}:
        sends = ctx.memo(_send_calls)
        first = bisect.bisect_left(sends, future.start_byte, key=_start)
        last = bisect.bisect_left(sends, future.end_byte, key=_start)
        # a bounded look: nested spawns each hold every send inside them
        inside = sends[first : min(last, first + _SENDS_LOOKED_AT)]
        return any(_sends_captured(ctx, node, future) for node in inside)
    return False


def _send_calls(ctx: FileContext) -> list[Node]:
    """The `x.send` (and kin) field expressions of the file, in order: found
    once by name, not by walking every spawned future (nested spawns would
    walk the same code once per level)."""
    return ctx.holders(_SEND_METHODS, ("field_identifier",), ("field_expression",))


def _start(node: Node) -> int:
    return node.start_byte


def drives_returned_pair(ctx: FileContext, call: Node) -> bool:
    """True when the spawned future was taken from a tuple (`let (service,
    worker) = ..`) whose other half the enclosing function returns as its
    tail expression."""
    future = _unwrapped(ctx, _spawned(call))
    if future is None or future.type != "identifier":
        return False
    binding = binding_of(future, ctx.root)
    if binding is None or binding.value is None or binding.pattern is None:
        return False
    if binding.pattern.type != "tuple_pattern":
        return False
    others = {
        ctx.text(part)
        for part in binding.pattern.named_children
        if part.type == "identifier" and part.text != future.text
    }
    tail = _function_tail(ctx, call)
    if tail is None:
        return False
    return any(node.type == "identifier" and ctx.text(node) in others for node in walk(tail))


def _spawned(call: Node) -> Node | None:
    arguments = call.child_by_field_name("arguments")
    if arguments is None or not arguments.named_children:
        return None
    return arguments.named_children[0]


def _unwrapped(ctx: FileContext, node: Node | None) -> Node | None:
    """The future inside `Box::pin(..)`, `Box::new(..)`, `Pin::from(..)`, `.boxed()`."""
    while node is not None and node.type == "call_expression":
        function = node.child_by_field_name("function")
        if function is None:
            return node
        if function.type == "field_expression":
            method = function.child_by_field_name("field")
            if method is None or ctx.text(method) not in _WRAPPER_METHODS:
                return node
            node = function.child_by_field_name("value")
        elif ctx.resolve(ctx.text(function)) in _WRAPPERS:
            node = _spawned(node)
        else:
            return node
    return node


def _is_fn_parameter(binding: Binding) -> bool:
    pattern = binding.pattern
    if binding.closure is not None or pattern is None or pattern.parent is None:
        return False
    parameters = pattern.parent.parent
    owner = parameters.parent if parameters is not None else None
    return (
        pattern.parent.type == "parameter" and owner is not None and owner.type == "function_item"
    )


def _sends_captured(ctx: FileContext, node: Node, future: Node) -> bool:
    """`tx.send(..)` inside `future` on a sender bound outside it."""
    if node.type != "field_expression":
        return False
    method, receiver = node.child_by_field_name("field"), node.child_by_field_name("value")
    if method is None or receiver is None or ctx.text(method) not in _SEND_METHODS:
        return False
    if receiver.type != "identifier" or not _SENDER_NAME.search(ctx.text(receiver)):
        return False
    binding = binding_of(receiver, ctx.root)
    bound_at = binding.pattern if binding is not None else None
    inside = bound_at is not None and future.start_byte <= bound_at.start_byte < future.end_byte
    return not inside


def _function_tail(ctx: FileContext, node: Node) -> Node | None:
    """The tail expression of the function that holds `node`."""
    parent = ctx.parent(node)
    while parent is not None and parent.type not in {"function_item", "closure_expression"}:
        parent = ctx.parent(parent)
    body = parent.child_by_field_name("body") if parent is not None else None
    if body is None or body.type != "block" or not body.named_children:
        return None
    last = body.named_children[-1]
    return None if last.type in {"expression_statement", "let_declaration"} else last
