// Source: https://github.com/databendlabs/databend/pull/20103
// What happened: Databend's `Runtime` moves the tokio runtime into a `wait-to-drop` thread;
// dropping the outer runtime sends a stop signal and joins that thread. When the last
// `Arc<Runtime>` was dropped by one of the runtime's own worker tasks, the worker waited
// for `wait-to-drop`, which waited for the worker: a self-deadlock.
// (Our own reconstruction of the pattern.)
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct Dropper {
    stop: Option<Sender<()>>,
    join_handler: Option<JoinHandle<()>>,
}

pub struct Runtime {
    dropper: Dropper,
}

pub struct PruningContext {
    pruning_runtime: Arc<Runtime>,
}

impl Drop for Dropper {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.join_handler.take() {
            // ruleid: drop-self-join
            let _ = handle.join();
        }
    }
}
