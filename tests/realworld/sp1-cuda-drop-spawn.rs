// Source: https://github.com/succinctlabs/sp1/pull/2921 (issue #2673)
// What happened: `CudaClientInner::drop` called `tokio::spawn` unconditionally; dropping the
// client after the runtime was gone panicked "there is no reactor running, must be called
// from the context of a Tokio 1.x runtime" and the process aborted after a successful prove.
// (Our own reconstruction of the pattern.)
pub struct CudaClientInner {
    session: u64,
}

impl Drop for CudaClientInner {
    fn drop(&mut self) {
        let session = self.session;
        // ruleid: drop-detached-spawn
        tokio::spawn(async move { destroy(session).await });
    }
}

async fn destroy(_session: u64) {}
