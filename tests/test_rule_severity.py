"""Severity that means something: a lesser form of a rule's hazard is reported
below the rule's level (`Hit.at_most`), and never above what is configured."""

import re

from rules.config import Settings
from rules.engine import SourceFile, analyze

DROP = b"""
struct Pool { in_use: usize, lock: std::sync::Mutex<u32> }

impl Drop for Pool {
    fn drop(&mut self) {
        assert_eq!(self.in_use, 0, "connections leaked");
        if self.in_use > 10 {
            panic!("far too many connections");
        }
        match self.in_use {
            0 => {}
            _ => unreachable!(),
        }
    }
}
"""


def severities(source: bytes, rule: str, settings: Settings | None = None) -> dict[int, str]:
    report = analyze(SourceFile("src/pool.rs", source), settings)
    return {f.line: f.severity for f in report.findings if f.rule == rule}


def test_assertions_in_drop_are_notices_and_panics_errors():
    assert severities(DROP, "drop-panic") == {6: "notice", 8: "error", 12: "notice"}


def test_a_cap_never_raises_a_configured_severity():
    settings = Settings(rules={"drop-panic": "warning"})
    assert severities(DROP, "drop-panic", settings) == {6: "notice", 8: "warning", 12: "notice"}


def test_a_poisoned_lock_unwrap_in_drop_is_a_warning():
    source = b"""
struct Registry { ids: std::sync::Mutex<Vec<u32>>, path: String }

impl Drop for Registry {
    fn drop(&mut self) {
        self.ids.lock().unwrap().clear();
        std::fs::remove_file(&self.path).unwrap();
    }
}

impl Registry {
    fn add(&self, id: u32) {
        self.ids.lock().unwrap().push(id * 2);
    }
}
"""
    assert severities(source, "drop-unwrap") == {6: "warning", 7: "error"}


def annotated(source: bytes) -> dict[int, str]:
    """Line -> severity of the lines that end in `// notice` or `// warning`."""
    marks = (re.search(rb"// (notice|warning)$", line) for line in source.splitlines())
    return {n: m.group(1).decode() for n, m in enumerate(marks, start=1) if m is not None}


# Every critical section of these private std locks is in the file, and none
# of them runs anything that can panic: the locks are never poisoned.
UNPOISONED = b"""
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError, RwLock};

const BITS: usize = 64;

struct Pool {
    idle: Mutex<Vec<u32>>,
    names: Mutex<HashMap<u32, String>>,
    trigger: Mutex<()>,
    ready: Condvar,
    count: AtomicUsize,
    table: RwLock<Vec<u32>>,
    shared: std::sync::Arc<std::sync::Mutex<Vec<u32>>>,
}

impl Pool {
    fn new() -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
            names: Mutex::new(HashMap::new()),
            trigger: Mutex::new(()),
            ready: Condvar::new(),
            count: AtomicUsize::new(0),
            table: RwLock::new(Vec::new()),
            shared: std::sync::Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn share(&self, id: u32) {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).push(id);
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).push(id);
    }

    fn put(&self, id: u32) {
        let mut idle = self.idle.lock().unwrap();
        idle.push(id);
        drop(idle);
        self.log(id);
    }

    fn log(&self, id: u32) {
        println!("released {id}");
    }

    fn rename(&self, id: u32, name: String) {
        let names = &self.names;
        names.lock().unwrap().insert(id, name);
    }

    fn join(&self) {
        let mut guard = self.trigger.lock().unwrap();
        while self.busy() {
            guard = self.ready.wait(guard).unwrap();
        }
        let guard = self.ready.wait(guard).unwrap();
        let _woken = self.ready.wait_while(guard, |_| self.busy()).unwrap();
    }

    fn busy(&self) -> bool {
        self.count.load(Ordering::SeqCst) >> (BITS / 2) > 0
    }

    fn lookup(&self, i: usize) -> u32 {
        let table = self.table.read().unwrap();
        table[i]
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.idle.lock().unwrap().clear(); // notice
        let mut names = self.names.lock().expect("names"); // notice
        names.remove(&0);
        *self.trigger.lock().unwrap() = (); // notice
        self.ready.notify_all();
        self.table.write().unwrap().truncate(0); // notice
        self.shared.lock().unwrap().clear(); // notice
    }
}
"""


def test_a_lock_nothing_that_can_panic_runs_under_is_a_notice():
    """threadpool's `empty_trigger`, rusty_pool's `join_notify_mutex`: a
    condvar's mutex, a stack pushed and popped, a map, a read guard's index
    (a reader's panic does not poison an `RwLock`), a `log` after `drop(guard)`,
    a guard taken from the `PoisonError`, a lock behind `std::sync::Arc`."""
    assert severities(UNPOISONED, "drop-unwrap") == annotated(UNPOISONED)
    report = analyze(SourceFile("src/pool.rs", UNPOISONED))
    (trigger,) = [f for f in report.findings if "trigger" in f.message]
    assert trigger.message == (
        "`unwrap` of a lock in `Drop` that cannot be poisoned: "
        "nothing that can panic runs while `trigger` is held"
    )


# Locks that something that can panic may run under, or whose every critical
# section the file does not show: their unwraps stay warnings.
POISONABLE = b"""
use std::sync::{Mutex, MutexGuard, RwLock};
use std::task::Waker;

struct Shared {
    pub open: Mutex<Vec<u32>>,
    pub(crate) listed: Mutex<Vec<u32>>,
    hook: Mutex<Option<Box<dyn Fn()>>>,
    waker: Mutex<Option<Waker>>,
    slots: Mutex<Vec<u32>>,
    handed: Mutex<Vec<u32>>,
    escaping: Mutex<u32>,
    counted: Mutex<u32>,
    logged: Mutex<u32>,
    reported: Mutex<u32>,
    table: RwLock<Vec<u32>>,
    shadowed: Mutex<u32>,
    nested: Mutex<u32>,
    waited: Mutex<Vec<u32>>,
    ready: std::sync::Condvar,
    traced: Mutex<u32>,
    printed: Mutex<u32>,
}

struct Waits {
    a: Mutex<u32>,
    b: Mutex<u32>,
    cv: std::sync::Condvar,
}

impl Waits {
    fn both(&self) {
        let g = self.b.lock().unwrap();
        let a = self.a.lock().unwrap();
        let g = self.cv.wait(g).unwrap();
    }

    fn add(&self) -> u32 {
        let b = self.b.lock().unwrap();
        *b + 1
    }
}

impl Drop for Waits {
    fn drop(&mut self) {
        *self.a.lock().unwrap() = 0; // warning
    }
}

trait Trace {
    fn trace(&self);
}

impl Trace for Shared {
    fn trace(&self) {}
}

fn keep(_guard: MutexGuard<'_, Vec<u32>>) {}

fn report(_lock: &Mutex<u32>) {}

fn tick() {}

fn checked(n: u32) -> u32 {
    assert!(n > 0);
    n
}

impl Shared {
    fn call_hook(&self) {
        let hook = self.hook.lock().unwrap();
        if let Some(call) = hook.as_ref() {
            call();
        }
    }

    fn wake(&self) {
        if let Some(waker) = self.waker.lock().unwrap().take() {
            waker.wake();
        }
    }

    fn fill(&self) {
        let mut slots = self.slots.lock().unwrap();
        slots[0] = 1;
    }

    fn hand(&self) {
        let handed = self.handed.lock().unwrap();
        keep(handed);
    }

    fn count(&self) {
        *self.counted.lock().unwrap() += 1;
    }

    fn log(&self) {
        let logged = self.logged.lock().unwrap();
        println!("{}", *logged);
    }

    fn report(&self) {
        report(&self.reported);
    }

    fn resize(&self) {
        let mut table = self.table.write().unwrap();
        table.truncate(checked(3) as usize);
    }

    fn tick(&self) {
        let tick = || panic!("not the fn");
        let shadowed = self.shadowed.lock().unwrap();
        tick();
    }

    fn nest(&self) {
        *self.nested.lock().unwrap() = self.helper();
    }

    fn trace_locked(&self, other: &dyn Trace) {
        let traced = self.traced.lock().unwrap();
        other.trace();
    }

    fn print(&self) {
        println!("{:?}", self.printed);
    }

    fn wait(&self) {
        let waited = self.waited.lock().unwrap();
        let waited = self.ready.wait(waited).unwrap();
        keep(waited);
    }

    fn escaping(&self) -> MutexGuard<'_, u32> {
        self.escaping.lock().unwrap()
    }

    fn helper(&self) -> u32 {
        self.helper()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.open.lock().unwrap().clear(); // warning
        self.listed.lock().unwrap().clear(); // warning
        self.hook.lock().unwrap().take(); // warning
        self.waker.lock().unwrap().take(); // warning
        self.slots.lock().unwrap().clear(); // warning
        self.handed.lock().unwrap().clear(); // warning
        *self.escaping.lock().unwrap() = 0; // warning
        *self.counted.lock().unwrap() = 0; // warning
        *self.logged.lock().unwrap() = 0; // warning
        *self.reported.lock().unwrap() = 0; // warning
        self.table.read().unwrap().len(); // warning
        *self.shadowed.lock().unwrap() = 0; // warning
        *self.nested.lock().unwrap() = 0; // warning
        self.waited.lock().unwrap().clear(); // warning
        *self.traced.lock().unwrap() = 0; // warning
        *self.printed.lock().unwrap() = 0; // warning
    }
}
"""


def test_a_lock_something_may_panic_under_or_used_out_of_view_stays_a_warning():
    """A `pub` field; a closure, a waker, an index, arithmetic, a macro, a
    panicking or recursive helper, or a local closure named like a harmless
    `fn` under the lock, or a trait's method (its impl here need not be the
    one called); a guard passed to a function (also once a condvar
    gave it back) or returned; the lock handed to a function or a macro
    (`Debug` formats the value under the lock); an `RwLock`
    written under a panic; a `wait` under `a` on a guard of `b`, which a
    panic may have poisoned."""
    assert severities(POISONABLE, "drop-unwrap") == annotated(POISONABLE)


def test_a_field_of_another_files_struct_stays_a_warning():
    """`self.conn.inner` is `Conn`'s field, declared elsewhere: this file's
    private `inner` of the same name says nothing about it."""
    source = b"""
use std::sync::{Arc, Mutex};

struct Local { inner: Mutex<Vec<u32>> }

struct Handle { conn: Arc<crate::conn::Conn>, local: Arc<Local> }

impl Drop for Handle {
    fn drop(&mut self) {
        self.conn.inner.lock().unwrap().clear(); // warning
        self.local.inner.lock().unwrap().clear(); // notice
    }
}
"""
    assert severities(source, "drop-unwrap") == annotated(source)


def test_a_lock_of_a_module_split_across_files_stays_a_warning():
    """`mod queue;` sees this file's private fields: its sections are out of view."""
    source = b"""
mod queue;

struct Queue { items: std::sync::Mutex<Vec<u32>> }

impl Drop for Queue {
    fn drop(&mut self) {
        self.items.lock().unwrap().clear(); // warning
    }
}
"""
    assert severities(source, "drop-unwrap") == annotated(source)
    assert severities(source.replace(b"mod queue;", b"mod queue {}"), "drop-unwrap") == {
        8: "notice"
    }


def test_option_unwraps_and_impossible_arms_in_drop_are_notices():
    source = b"""
struct Receiver { waiters: Vec<u32>, state: Result<u32, Kind> }

impl Drop for Receiver {
    fn drop(&mut self) {
        let last = self.waiters.pop().unwrap();
        match self.state {
            Ok(_) => {}
            Err(Kind::Empty) => panic!("can't be empty"),
            Err(other) => panic!("failed: {:?}", other),
        }
    }
}
"""
    assert severities(source, "drop-unwrap") == {6: "notice"}
    assert severities(source, "drop-panic") == {9: "notice", 10: "error"}


def test_arms_that_bind_nothing_usable_are_impossible_and_notices():
    # futures-timer's heap: a struct pattern's path, `None`, `_right` bind nothing
    source = b"""
struct Heap { index: Vec<Slot>, items: Vec<u32> }

impl Drop for Heap {
    fn drop(&mut self) {
        match self.index[0] {
            Slot::Full { value } => {}
            Slot::Empty { .. } => panic!(),
        }
        match (self.items.get(1), self.items.get(2)) {
            (None, Some(_right)) => panic!("not possible"),
            (None, Some(right)) => panic!("right child {right} without a left one"),
            Slot::Empty { next, .. } => panic!("empty, next {next}"),
            Slot::Full { value: v } => panic!("full of {v}"),
            _ if self.items.is_empty() => panic!("no items"),
            _ => {}
        }
    }
}
"""
    assert severities(source, "drop-panic") == {
        8: "notice",
        11: "notice",
        12: "error",
        13: "error",
        14: "error",
        15: "error",
    }


def test_panics_after_returning_unless_a_debugging_cfg_are_notices():
    source = b"""
struct Heap { items: Vec<u32> }

impl Drop for Heap {
    fn drop(&mut self) {
        for item in &self.items {
            if !cfg!(unix) { continue; }
            if *item == 0 { panic!("unix only"); }
        }
        for item in &self.items {
            if !cfg!(feature = "checks") { continue; }
            if *item == 1 { panic!("with the feature"); }
        }
        for item in &self.items {
            if cfg!(debug_assertions) { continue; }
            if *item == 2 { panic!("release only"); }
        }
        if !cfg!(assert_heap_consistent) {
            return;
        }
        for item in &self.items {
            if *item == 3 { panic!("bad item"); }
        }
    }
}
"""
    assert severities(source, "drop-panic") == {
        8: "error",
        12: "error",
        16: "error",
        22: "notice",
    }


def test_a_panic_on_running_out_of_memory_is_a_notice():
    # dbus's WatchMap: Rust aborts on allocation failure anyway
    source = b"""
struct WatchMap { conn: *mut u8, rooms: usize }

impl Drop for WatchMap {
    fn drop(&mut self) {
        if unsafe { set_watch_functions(self.conn) } == 0 {
            panic!("Cannot disable watch tracking (OOM?)")
        }
        if self.rooms > 0 {
            panic!("{} rooms still in use; out of memory soon?", self.rooms)
        }
        if self.rooms > 1 {
            panic!("no room for {} more", self.rooms)
        }
    }
}
"""
    assert severities(source, "drop-panic") == {7: "notice", 10: "notice", 13: "error"}


def test_an_assertion_on_a_system_call_naming_the_os_error_is_an_error():
    # memmap's MmapInner::drop; the invariant assertion beside it stays a notice
    source = b"""
struct MmapInner { ptr: *mut u8, len: usize }

impl Drop for MmapInner {
    fn drop(&mut self) {
        assert!(
            unsafe { libc::munmap(self.ptr, self.len) } == 0,
            "unable to unmap mmap: {}",
            std::io::Error::last_os_error()
        );
        assert!(self.len > 0, "empty map");
    }
}
"""
    assert severities(source, "drop-panic") == {6: "error", 11: "notice"}


def test_a_panic_on_a_value_dropped_on_the_wrong_thread_is_a_notice():
    # glib's ThreadGuard: moving the value to another thread is the bug it reports
    source = b"""
struct ThreadGuard { thread_id: usize, owner: std::thread::ThreadId, ok: bool }

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        if self.thread_id != thread_id() {
            panic!("Value dropped on a different thread than where it was created");
        }
        if std::thread::current().id() != self.owner {
            panic!("dropped on another thread");
        }
        if unsafe { make_current(thread_id()) } == 0 {
            panic!("`make_current` failed");
        }
        if self.ok {
            panic!("thread_id() failed");
        }
    }
}
"""
    assert severities(source, "drop-panic") == {
        7: "notice",
        10: "notice",
        13: "error",  # the `if` calls an FFI function: the test is of its failure
        16: "error",
    }


def test_unwrapping_what_a_function_declared_returning_option_gives_is_a_notice():
    # h2's `Queue::pop`: `N::take_next(..)` is a trait's `fn take_next(..) -> Option<Key>`
    source = b"""
trait Next { fn take_next(stream: &mut Stream) -> Option<Key>; }
struct Queue { head: Key }

impl Drop for Queue {
    fn drop(&mut self) {
        self.head = N::take_next(&mut self.stream).unwrap();
        let key = self.next_key().unwrap();
        let path = self.path().unwrap();
        let other = self.elsewhere().unwrap();
    }
}

impl Queue {
    fn next_key(&self) -> Option<Key> { None }
    fn path(&self) -> Result<String, Error> { todo!() }
}
"""
    assert severities(source, "drop-unwrap") == {
        7: "notice",
        8: "notice",
        9: "notice",
        10: "notice",
    }


def test_an_unwrap_in_drop_is_an_error_only_where_the_world_makes_it_fail():
    """Files, sockets, processes and threads fail from outside the program; a
    channel send, a header parse or an encode fails only if the code's own
    invariants break (on real crates they almost never could): a notice."""
    source = b"""
struct Conn { file: File, socket: TcpStream, worker: Option<JoinHandle<()>>, tx: Sender<u8> }

impl Drop for Conn {
    fn drop(&mut self) {
        self.file.flush().unwrap();
        self.socket.shutdown(Shutdown::Both).expect("shutdown");
        std::fs::remove_file(&self.path).unwrap();
        self.worker.take().unwrap().join().unwrap();
        self.tx.send(0).unwrap();
        let header = Header::from_bytes("Connection", "close").unwrap();
        frontend::close(b'S', &self.name, &mut buf).unwrap();
        writeln!(io::stderr(), "closed {}", self.name).expect("stderr");
        format!("{}", self.name).parse::<u8>().unwrap();
        let mut line = String::new();
        line.write_fmt(format_args!("{}", self.name)).unwrap();
        writeln!(line, "closed").unwrap();
        self.file.write_fmt(format_args!("{}", self.name)).unwrap();
    }
}
"""
    assert severities(source, "drop-unwrap") == {
        6: "error",
        7: "error",
        8: "error",
        9: "error",  # the `join()` (the `take().unwrap()` before it is an Option's: a notice)
        10: "notice",
        11: "notice",
        12: "notice",
        13: "error",  # `writeln!` is a `write_fmt`: stderr may be a closed pipe (bindgen's Timer)
        14: "notice",
        16: "notice",  # into a `String` (fmt::Write): it cannot fail (indicatif's style)
        17: "notice",
        18: "error",  # `file: File`, declared in the struct
    }


def test_a_panic_drop_reaches_only_through_calls_is_at_most_a_warning():
    """Reach does not follow branches: the callee may panic only on a path this
    drop never takes. The unwrap of what fails from outside stays an error."""
    source = b"""
struct Pool { file: File }

impl Drop for Pool {
    fn drop(&mut self) {
        self.close();
    }
}

impl Pool {
    fn close(&mut self) {
        if self.broken() {
            panic!("pool state is broken");
        }
        self.file.sync_all().unwrap();
    }
}
"""
    assert severities(source, "drop-panic") == {13: "warning"}
    assert severities(source, "drop-unwrap") == {15: "error"}


def test_an_executors_block_on_in_drop_is_a_warning_a_runtimes_an_error():
    source = b"""
impl Drop for File {
    fn drop(&mut self) {
        let _ = futures_lite::future::block_on(self.flush());
        tokio::runtime::Handle::current().block_on(self.close());
    }
}
"""
    assert severities(source, "drop-block-on") == {4: "warning", 5: "error"}


def test_an_async_locks_guard_across_await_is_a_notice_a_blocking_locks_a_warning():
    source = b"""
async fn flush(state: &std::sync::Mutex<u32>, queue: &tokio::sync::Mutex<u32>, sink: &Sink) {
    let counted = state.lock().unwrap();
    sink.flush().await;
    drop(counted);
    let pending = queue.lock().await;
    sink.flush().await;
}
"""
    assert severities(source, "lock-across-await") == {4: "warning", 7: "notice"}


def test_mem_forget_is_a_notice_unless_configured_higher():
    source = b"pub fn leak(v: Vec<u8>) {\n    std::mem::forget(v);\n}\n"
    assert severities(source, "mem-forget") == {2: "notice"}
    settings = Settings(rules={"mem-forget": "warning"})
    assert severities(source, "mem-forget", settings) == {2: "warning"}


def test_a_detached_thread_in_drop_is_a_warning_a_detached_task_an_error():
    # threadpool's `Sentinel::drop` starts a replacement worker with `thread::Builder`
    source = b"""
impl Drop for Sentinel {
    fn drop(&mut self) {
        let builder = std::thread::Builder::new();
        builder.spawn(move || work()).unwrap();
        std::thread::spawn(move || work());
        tokio::spawn(async move { release().await });
        tokio::task::spawn_blocking(move || release_now());
    }
}
"""
    assert severities(source, "drop-detached-spawn") == {
        5: "warning",
        6: "warning",
        7: "error",
        8: "error",
    }


def test_a_detached_task_that_reports_back_or_is_driven_by_its_pair_is_a_notice():
    # reqwest's per-request task answers through `req_tx`; tower's buffer worker
    # lives as long as the `service` half the constructor returns
    source = b"""
async fn serve(client: Client, mut rx: Receiver<(Request, Responder)>) {
    while let Some((req, req_tx)) = rx.recv().await {
        tokio::spawn(forward(client.execute(req), req_tx));
        tokio::spawn(forward(client.execute(req), req));
    }
}

fn lookup_in_background(name: String, tx: oneshot::Sender<Addr>) {
    tokio::spawn(async move { let _ = tx.send(lookup(&name).await); });
}

fn new(service: Service) -> Buffer {
    let (service, worker) = pair(service);
    tokio::spawn(worker);
    service
}
"""
    assert severities(source, "detached-spawn") == {
        4: "notice",
        5: "warning",
        10: "notice",
        15: "notice",
    }
