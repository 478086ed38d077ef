// Source: https://github.com/lightningdevkit/ldk-node/pull/545
// What happened: `VssStore` owned its own tokio `Runtime`; dropping the store inside async
// code dropped the runtime there and panicked "Cannot drop a runtime in a context where
// blocking is not allowed". The accepted fix drops the runtime inside `block_in_place`.
// The rule still reports that `block_in_place` line (it panics on a current-thread runtime
// and the flavor is not checked); the drop of the runtime itself is fine.
// (Our own reconstruction of the pattern.)
use tokio::runtime::Runtime;

pub struct VssStore {
    runtime: Option<Runtime>,
    client: Client,
}

impl Drop for VssStore {
    fn drop(&mut self) {
        let runtime = self.runtime.take();
        // ok: drop-runtime-context
        tokio::task::block_in_place(move || {
            // ok: drop-runtime-context
            drop(runtime);
        });
    }
}

pub struct Client;
