//! Every case the harness runs, each in a child process of its own (so an
//! abort is observed, not suffered). `Ok(detail)` means the case held.

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::contexts::{self, Context, ALL};
use crate::patterns::{naive_drop, safe_drop, temp_file_guard::{scratch_size, TempFileGuard}};
use crate::placeholders::{Counts, Resource};

pub type Outcome = Result<String, String>;

pub struct Case {
    pub name: String,
    /// The case is expected to abort the process (a panic while unwinding).
    pub aborts: bool,
    pub run: Box<dyn Fn() -> Outcome + Send + Sync>,
}

const INTENTIONAL: &str = "intentional panic with a guard alive";
const NESTED_RUNTIME: &str = "Cannot start a runtime from within a runtime";

fn case(name: String, run: impl Fn() -> Outcome + Send + Sync + 'static) -> Case {
    Case { name, aborts: false, run: Box::new(run) }
}

pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    for context in ALL {
        let name = context.name();
        cases.push(case(format!("safe_drop/{name}"), move || safe_drop_in(context)));
        cases.push(case(format!("safe_drop/unwinding/{name}"), move || safe_unwind_in(context)));
        cases.push(case(format!("naive/{name}"), move || naive_in(context)));
    }
    for context in [Context::MultiSpawn, Context::CurrentBlockOn] {
        let name = format!("naive/unwinding/{}", context.name());
        cases.push(Case { aborts: true, ..case(name, move || naive_unwind_in(context)) });
    }
    cases.push(case("safe_drop/shutdown/multi_thread".into(), || at_shutdown(contexts::multi_thread())));
    cases.push(case("safe_drop/shutdown/current_thread".into(), || at_shutdown(contexts::current_thread())));
    cases.push(case("safe_drop/close".into(), safe_close));
    cases.push(case("safe_drop/limit/current_thread_foreign_io".into(), limit_foreign_io));
    cases.push(case("safe_drop/limit/multi_thread_same_io".into(), multi_thread_same_io));
    cases.push(case("safe_drop/limit/multi_thread_pending".into(), multi_thread_pending));
    cases.push(case("safe_drop/limit/multi_thread_without_timers".into(), multi_thread_without_timers));
    cases.push(case("temp_file_guard/file".into(), || guard_removes(Kind::File, Exit::Normal)));
    cases.push(case("temp_file_guard/dir".into(), || guard_removes(Kind::Dir, Exit::Normal)));
    cases.push(case("temp_file_guard/file_question_mark".into(), || guard_removes(Kind::File, Exit::Question)));
    cases.push(case("temp_file_guard/dir_question_mark".into(), || guard_removes(Kind::Dir, Exit::Question)));
    cases.push(case("temp_file_guard/file_unwind".into(), || guard_removes(Kind::File, Exit::Unwind)));
    cases.push(case("temp_file_guard/dir_unwind".into(), || guard_removes(Kind::Dir, Exit::Unwind)));
    cases.push(case("temp_file_guard/already_removed".into(), guard_already_removed));
    cases.push(case("temp_file_guard/symlink_not_followed".into(), guard_symlink));
    cases.push(case("temp_file_guard/tempfile_example".into(), tempfile_example));
    cases
}

fn guard() -> (safe_drop::Guard, Arc<Counts>) {
    let (resource, counts) = Resource::new();
    (safe_drop::Guard::new(resource), counts)
}

fn safe_drop_in(context: Context) -> Outcome {
    let (guard, counts) = guard();
    context.run(move || drop(guard)).map_err(|panic| format!("drop panicked: {panic}"))?;
    counts.once()
}

/// The thread is unwinding from a panic when the guard drops: cleanup must run,
/// and the only panic seen must be the intentional one (a second one aborts).
fn safe_unwind_in(context: Context) -> Outcome {
    let (guard, counts) = guard();
    let result = context.run(move || {
        let _alive = guard;
        panic!("{INTENTIONAL}");
    });
    match result {
        Err(panic) if panic == INTENTIONAL => counts.once().map(|done| format!("{done} while unwinding")),
        Err(panic) => Err(format!("unexpected panic: {panic}")),
        Ok(()) => Err("the intentional panic was lost".into()),
    }
}

fn naive_guard() -> (naive_drop::Guard, Arc<Counts>) {
    let (resource, counts) = Resource::new();
    (naive_drop::Guard::new(resource), counts)
}

/// The shortcut panics inside async code and silently skips the cleanup with no
/// runtime. In `spawn_blocking` there is a handle and no runtime is entered, so it works.
fn naive_in(context: Context) -> Outcome {
    let (guard, counts) = naive_guard();
    let result = context.run(move || drop(guard));
    let (synced, released) = counts.get();
    match (context, result) {
        (Context::NoRuntime, Ok(())) if released == 0 && synced == 1 => {
            Ok("no panic, async cleanup silently skipped".into())
        }
        (Context::MultiSpawnBlocking | Context::CurrentSpawnBlocking, Ok(())) => counts.once(),
        (_, Err(panic)) if panic.contains(NESTED_RUNTIME) => Ok(format!("panicked as documented: {panic}")),
        (_, result) => Err(format!("unexpected: {result:?}, cleanups ({synced}, {released})")),
    }
}

/// Inside async code, while unwinding: the shortcut's panic aborts the process.
/// Reaching the end of this function is the failure.
fn naive_unwind_in(context: Context) -> Outcome {
    let (guard, _counts) = naive_guard();
    let result = context.run(move || {
        let _alive = guard;
        panic!("{INTENTIONAL}");
    });
    Err(format!("the process survived: {result:?}"))
}

/// A task still holding a guard when its runtime shuts down: the runtime drops it.
fn at_shutdown(runtime: tokio::runtime::Runtime) -> Outcome {
    let (guard, counts) = guard();
    let started = Arc::new(std::sync::Barrier::new(2));
    let task_started = Arc::clone(&started);
    // dropsafe:allow(detached-spawn) the runtime's shutdown is what drops this task
    runtime.spawn(async move {
        let _alive = guard;
        task_started.wait();
        std::future::pending::<()>().await;
    });
    std::thread::spawn(move || started.wait());
    contexts::catch(move || drop(runtime)).map_err(|panic| format!("shutdown panicked: {panic}"))?;
    counts.once()
}

fn safe_close() -> Outcome {
    let (guard, counts) = guard();
    contexts::current_thread()
        .block_on(guard.close())
        .map_err(|error| format!("close failed: {error}"))?;
    counts.once().map(|done| format!("{done} (close, then no second cleanup in Drop)"))
}

/// A socket registered with a current-thread runtime, awaited from Drop on that
/// runtime: the cleanup moves to another thread and runtime, the original one
/// cannot drive the socket while it waits, so the cleanup is abandoned at the limit.
fn limit_foreign_io() -> Outcome {
    let limit = Duration::from_millis(300);
    let runtime = contexts::current_thread();
    let (waited, elapsed) = runtime.block_on(async {
        let socket = readable_socket()?;
        let started = Instant::now();
        let waited = safe_drop::block_on_cleanup(async move { socket.readable().await }, limit);
        Ok::<_, String>((waited, started.elapsed()))
    })?;
    match waited {
        None if elapsed >= limit && elapsed < limit * 10 => {
            Ok(format!("abandoned after {elapsed:?} with a warning, no hang, no panic"))
        }
        other => Err(format!("expected abandonment at the limit, got {other:?} after {elapsed:?}")),
    }
}

/// The same socket on a multi-thread runtime: the cleanup runs on that runtime.
fn multi_thread_same_io() -> Outcome {
    let runtime = contexts::multi_thread();
    let waited = runtime.block_on(async {
        let socket = readable_socket()?;
        let limit = Duration::from_secs(5);
        Ok::<_, String>(safe_drop::block_on_cleanup(async move { socket.readable().await }, limit))
    })?;
    match waited {
        Some(Ok(())) => Ok("the runtime's own socket became readable in the cleanup".into()),
        other => Err(format!("expected the socket to be readable, got {other:?}")),
    }
}

/// A cleanup that never finishes, on a multi-thread runtime: abandoned at the limit.
fn multi_thread_pending() -> Outcome {
    let limit = Duration::from_millis(300);
    let started = Instant::now();
    let waited = contexts::multi_thread()
        .block_on(async { safe_drop::block_on_cleanup(std::future::pending::<()>(), limit) });
    let elapsed = started.elapsed();
    match waited {
        None if elapsed >= limit && elapsed < limit * 10 => Ok(format!("abandoned after {elapsed:?}")),
        other => Err(format!("expected abandonment at the limit, got {other:?} after {elapsed:?}")),
    }
}

/// A multi-thread runtime built without timers cannot time the cleanup: the
/// cleanup task fails, and Drop logs it instead of panicking.
fn multi_thread_without_timers() -> Outcome {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()
        .map_err(|e| e.to_string())?;
    let result = contexts::catch(|| {
        let waited = runtime.block_on(async { safe_drop::block_on_cleanup(async { 1 }, Duration::from_secs(5)) });
        assert_eq!(waited, None, "the cleanup cannot have run without timers");
    });
    result.map(|()| "no panic; the failure is logged and the cleanup is skipped".to_string())
}

/// One end of a socket pair, registered with the current runtime, with a byte waiting.
fn readable_socket() -> Result<tokio::net::UnixStream, String> {
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().map_err(|e| e.to_string())?;
    theirs.write_all(b"x").map_err(|e| e.to_string())?;
    ours.set_nonblocking(true).map_err(|e| e.to_string())?;
    tokio::net::UnixStream::from_std(ours).map_err(|e| e.to_string())
}

#[derive(Clone, Copy)]
enum Kind {
    File,
    Dir,
}

#[derive(Clone, Copy)]
enum Exit {
    Normal,
    Question,
    Unwind,
}

/// A fresh path for one case; the case puts it under a `TempFileGuard`.
// dropsafe:allow(temp-path-unguarded)
fn scratch_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("dropsafe-fixpatterns-{}-{tag}", std::process::id()))
}

/// Creates the file, or a directory tree with nested files, under the guard.
fn fill(guard: &TempFileGuard, kind: Kind) -> io::Result<()> {
    match kind {
        Kind::File => fs::write(guard.path(), b"scratch"),
        Kind::Dir => {
            let nested = guard.path().join("a/b");
            fs::create_dir_all(&nested)?;
            fs::write(guard.path().join("top.txt"), b"top")?;
            fs::write(nested.join("deep.txt"), b"deep")
        }
    }
}

fn use_and_fail(path: PathBuf, kind: Kind) -> io::Result<()> {
    let guard = TempFileGuard::new(path);
    fill(&guard, kind)?;
    fs::read(guard.path().join("missing"))?; // fails: leaves through `?`
    Ok(())
}

fn guard_removes(kind: Kind, exit: Exit) -> Outcome {
    let path = scratch_path("removes");
    let exited = match exit {
        Exit::Normal => {
            let guard = TempFileGuard::new(path.clone());
            fill(&guard, kind).map_err(|e| e.to_string())?;
            if !path.exists() {
                return Err("nothing was created".into());
            }
            drop(guard);
            "normal drop"
        }
        Exit::Question => match use_and_fail(path.clone(), kind) {
            Err(_) => "early return through `?`",
            Ok(()) => return Err("the early return did not happen".into()),
        },
        Exit::Unwind => {
            let result = contexts::catch(|| {
                let guard = TempFileGuard::new(path.clone());
                if fill(&guard, kind).is_ok() {
                    panic!("{INTENTIONAL}");
                }
            });
            match result {
                Err(panic) if panic == INTENTIONAL => "unwinding panic",
                other => return Err(format!("expected the intentional panic, got {other:?}")),
            }
        }
    };
    match fs::symlink_metadata(&path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(format!("gone after {exited}")),
        other => Err(format!("still there after {exited}: {other:?}")),
    }
}

fn guard_already_removed() -> Outcome {
    let path = scratch_path("already-removed");
    let guard = TempFileGuard::new(path.clone());
    fs::write(&path, b"x").map_err(|e| e.to_string())?;
    fs::remove_file(&path).map_err(|e| e.to_string())?;
    contexts::catch(move || drop(guard)).map_err(|panic| format!("drop panicked: {panic}"))?;
    Ok("dropping a guard whose path is gone does not panic".into())
}

/// A guard on a symlink to a directory removes the link, not the directory's contents.
fn guard_symlink() -> Outcome {
    let target = scratch_path("symlink-target");
    let link = scratch_path("symlink");
    let _target_guard = TempFileGuard::new(target.clone());
    fs::create_dir_all(&target).map_err(|e| e.to_string())?;
    fs::write(target.join("keep.txt"), b"keep").map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink(&target, &link).map_err(|e| e.to_string())?;
    drop(TempFileGuard::new(link.clone()));
    match (link.symlink_metadata().is_err(), target.join("keep.txt").exists()) {
        (true, true) => Ok("the link is gone, the directory it pointed to is intact".into()),
        state => Err(format!("(link gone, target intact) = {state:?}")),
    }
}

fn tempfile_example() -> Outcome {
    match scratch_size(b"12345") {
        Ok(5) => Ok("the tempfile example compiles and runs".into()),
        other => Err(format!("expected Ok(5), got {other:?}")),
    }
}
