// Source: https://github.com/risingwavelabs/risingwave (BackgroundShutdownRuntime)
// Accepted pattern: a wrapper that owns a nested tokio `Runtime` in a `ManuallyDrop`,
// takes it out in Drop and calls `shutdown_background()`, because "directly dropping a
// nested runtime is not allowed in a parent runtime" (it panics "Cannot drop a runtime in
// a context where blocking is not allowed"). (Our own reconstruction of the pattern.)
use std::mem::ManuallyDrop;

use tokio::runtime::Runtime;

pub struct BackgroundShutdownRuntime(ManuallyDrop<Runtime>);

impl Drop for BackgroundShutdownRuntime {
    fn drop(&mut self) {
        // SAFETY: the runtime is taken out exactly once, here.
        let runtime = unsafe { ManuallyDrop::take(&mut self.0) };
        // ok: drop-runtime-context
        runtime.shutdown_background();
    }
}

impl From<Runtime> for BackgroundShutdownRuntime {
    fn from(runtime: Runtime) -> Self {
        // ok: mem-forget
        Self(ManuallyDrop::new(runtime))
    }
}
