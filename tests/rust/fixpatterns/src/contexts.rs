//! The places a value can be dropped in, each running a closure there and
//! reporting a panic that escaped it (as its message) instead of propagating it.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use tokio::runtime::{Builder, Runtime};

#[derive(Clone, Copy, Debug)]
pub enum Context {
    /// Plain synchronous code, no runtime anywhere on the thread.
    NoRuntime,
    /// Directly inside `Runtime::block_on` of a multi-thread runtime.
    MultiBlockOn,
    /// Directly inside `Runtime::block_on` of a current-thread runtime.
    CurrentBlockOn,
    /// Inside a task from `tokio::spawn` on a multi-thread runtime.
    MultiSpawn,
    /// Inside a task from `tokio::spawn` on a current-thread runtime.
    CurrentSpawn,
    /// Inside `spawn_blocking` of a multi-thread runtime.
    MultiSpawnBlocking,
    /// Inside `spawn_blocking` of a current-thread runtime.
    CurrentSpawnBlocking,
}

pub const ALL: [Context; 7] = [
    Context::NoRuntime,
    Context::MultiBlockOn,
    Context::CurrentBlockOn,
    Context::MultiSpawn,
    Context::CurrentSpawn,
    Context::MultiSpawnBlocking,
    Context::CurrentSpawnBlocking,
];

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::NoRuntime => "no_runtime",
            Context::MultiBlockOn => "multi_thread_block_on",
            Context::CurrentBlockOn => "current_thread_block_on",
            Context::MultiSpawn => "multi_thread_spawn",
            Context::CurrentSpawn => "current_thread_spawn",
            Context::MultiSpawnBlocking => "multi_thread_spawn_blocking",
            Context::CurrentSpawnBlocking => "current_thread_spawn_blocking",
        }
    }

    /// Runs `work` in this context: `Err(panic message)` when it panicked.
    pub fn run(self, work: impl FnOnce() + Send + 'static) -> Result<(), String> {
        match self {
            Context::NoRuntime => catch(work),
            Context::MultiBlockOn => catch(|| multi_thread().block_on(async move { work() })),
            Context::CurrentBlockOn => catch(|| current_thread().block_on(async move { work() })),
            Context::MultiSpawn => joined(multi_thread(), |rt| rt.spawn(async move { work() })),
            Context::CurrentSpawn => joined(current_thread(), |rt| rt.spawn(async move { work() })),
            Context::MultiSpawnBlocking => joined(multi_thread(), |rt| rt.spawn_blocking(work)),
            Context::CurrentSpawnBlocking => joined(current_thread(), |rt| rt.spawn_blocking(work)),
        }
    }
}

pub fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("multi-thread runtime")
}

pub fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().expect("current-thread runtime")
}

fn joined(
    runtime: Runtime,
    start: impl FnOnce(&Runtime) -> tokio::task::JoinHandle<()>,
) -> Result<(), String> {
    let task = start(&runtime);
    match runtime.block_on(task) {
        Ok(()) => Ok(()),
        Err(error) if error.is_panic() => Err(message(&*error.into_panic())),
        Err(error) => Err(format!("task failed: {error}")),
    }
}

pub fn catch(work: impl FnOnce()) -> Result<(), String> {
    panic::catch_unwind(AssertUnwindSafe(work)).map_err(|payload| message(&*payload))
}

pub fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}
