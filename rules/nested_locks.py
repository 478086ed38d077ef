"""nested-locks: a lock taken while a guard bound earlier in the block is held."""

from __future__ import annotations

from collections.abc import Iterator

from rules.docs import page
from rules.model import PERFORMANCE, Hit, Rule
from rules.rust.context import FileContext
from rules.rust.guards import NEEDLES, locks


def check(ctx: FileContext) -> Iterator[Hit]:
    found = locks(ctx)
    for acquisition in found.acquisitions:
        # the latest guard still held is the one the reader looks for
        guard = found.holder(acquisition.call)
        if guard is None:
            continue
        message = (
            f"`{ctx.text(acquisition.method)}()` while `{guard.name}` (line {guard.line}) "
            "is still held: lock-order deadlock risk"
        )
        yield Hit(acquisition.method, message)


RULE = Rule(
    id="nested-locks",
    label="a second lock while a guard is held",
    help="take locks in one fixed order, or release the first guard before taking the second",
    severity="notice",
    checklist=(PERFORMANCE,),
    message="a second lock is taken while a guard is held: lock-order deadlock risk",
    needles=NEEDLES,
    check=check,
    docs=page(
        what="""
            Flags a `.lock()`, `.read()` or `.write()` (no arguments) taken while a guard bound
            earlier by `let` in an enclosing block is still held, and names that guard. The
            second acquisition counts whether it is bound or a temporary. A temporary first
            lock (`m.lock().unwrap().len()`) is already released; `drop(first)` before the
            second ends the first; locks taken inside a closure or a spawned `async` block
            run later and are not counted.
            `.read()`/`.write()` count only where the receiver may be a lock: not the value
            behind a guard (tower's hedge policy takes `let mut locked =
            self.histo.lock().unwrap();` and then `locked.read()` of a histogram; a
            `Mutex<RwLock<T>>` still counts), nor a receiver whose declared or constructed
            type names no lock (`command: Command`).
        """,
        why="""
            Two tasks that take the same two locks in opposite orders deadlock as soon as
            each holds its first: nothing in the types says which order is the right one,
            and the hang shows only under load. Taking the same `std::sync::Mutex` twice in
            one thread deadlocks (or panics) at once. Hold one lock at a time where you can;
            where you cannot, document one global order and keep to it.
        """,
        example="""
            fn transfer(&self, from: &Account, to: &Account, amount: u64) {
                let mut a = from.balance.lock().unwrap();
                let mut b = to.balance.lock().unwrap(); // another transfer locks `to` first
                *a -= amount;
                *b += amount;
            }
        """,
        instead="""
            fn transfer(&self, from: &Account, to: &Account, amount: u64) {
                // one global order: by account id
                let (first, second) = if from.id < to.id { (from, to) } else { (to, from) };
                let mut first_balance = first.balance.lock().unwrap();
                let mut second_balance = second.balance.lock().unwrap();
                // ... move `amount` between them
            }
        """,
        references="""
            - [std::sync::Mutex::lock: locking twice in one thread](https://doc.rust-lang.org/std/sync/struct.Mutex.html#method.lock)
            - [The Rustonomicon: data races and race conditions](https://doc.rust-lang.org/nomicon/races.html)
            - [parking_lot: deadlock detection](https://docs.rs/parking_lot/latest/parking_lot/deadlock/index.html)
        """,
    ),
)
