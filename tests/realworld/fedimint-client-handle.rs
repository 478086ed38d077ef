// Source: https://github.com/fedimint/fedimint/issues/9053 (fixed by https://github.com/fedimint/fedimint/pull/9062)
// What happened: `ClientHandle`'s Drop called `tokio::runtime::Handle::current()`, which
// panics "there is no reactor running, must be called from the context of a Tokio 1.x
// runtime" when the last handle is dropped on a thread without a runtime. Inside an
// unwinding thread that turned every test failure into an abort. The same review found a
// second panic reachable from Drop: `stop_executor()` did `state.write().expect(..)`.
// The fix asks `Handle::try_current()` and falls back to a partial, synchronous shutdown.
// (Our own reconstruction of the pattern, not the project's code.)
use std::sync::{Arc, RwLock};

use tokio::runtime::{Handle, RuntimeFlavor};

pub struct ClientHandle {
    inner: Option<Arc<Client>>,
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        let Some(client) = self.inner.take() else { return };
        // ruleid: drop-runtime-context
        let handle = Handle::current();
        if handle.runtime_flavor() == RuntimeFlavor::MultiThread {
            tokio::task::block_in_place(|| handle.block_on(client.shutdown()));
        }
        client.stop_executor();
    }
}

pub struct Client {
    state: RwLock<Executor>,
}

impl Client {
    async fn shutdown(&self) {}

    fn stop_executor(&self) {
        // ruleid: drop-unwrap
        let mut state = self.state.write().expect("executor lock poisoned");
        state.stop();
    }
}

// After the fix.
pub struct FixedClientHandle {
    inner: Option<Arc<Client>>,
}

impl Drop for FixedClientHandle {
    fn drop(&mut self) {
        let Some(client) = self.inner.take() else { return };
        // ok: drop-runtime-context
        match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                // ok: drop-runtime-context, drop-block-on
                tokio::task::block_in_place(|| handle.block_on(client.shutdown()));
            }
            _ => eprintln!("client dropped without a multi-thread runtime: partial shutdown"),
        }
    }
}

pub struct Executor;

impl Executor {
    fn stop(&mut self) {}
}
