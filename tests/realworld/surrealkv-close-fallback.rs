// Source: https://github.com/surrealdb/surrealkv/pull/127
// What happened: a `Store` dropped without an explicit close during program shutdown failed
// with "no reactor running" errors. The merged change closes on the current runtime when
// there is one and otherwise falls back to a temporary runtime of its own.
// (Our own reconstruction of the pattern.)
use std::sync::Arc;

use tokio::runtime::{Builder, Handle};

pub struct Store {
    core: Arc<Core>,
}

impl Drop for Store {
    fn drop(&mut self) {
        let core = self.core.clone();
        match Handle::try_current() {
            // closing on the running runtime is not part of this case
            Ok(_) => {}
            Err(_) => {
                // ok: drop-runtime-context
                if let Ok(runtime) = Builder::new_current_thread().enable_all().build() {
                    // ok: drop-block-on
                    let _ = runtime.block_on(core.close());
                }
            }
        }
    }
}

pub struct Core;

impl Core {
    async fn close(&self) -> Result<(), ()> {
        Ok(())
    }
}
