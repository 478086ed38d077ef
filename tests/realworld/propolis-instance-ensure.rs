// Source: https://github.com/oxidecomputer/propolis/issues/838
// What happened: when a VM failed to start, the request handler dropped a tokio `Runtime`
// it had built for the instance, inside the async handler, and the server aborted with
// "Cannot drop a runtime in a context where blocking is not allowed".
// (Our own reconstruction of the pattern.)
use tokio::runtime::Builder;

pub async fn instance_ensure_common(spec: Spec) -> Result<Instance, Error> {
    // ruleid: drop-runtime-context
    let vmm_runtime = Builder::new_multi_thread().enable_all().build()?;
    let instance = vmm_runtime.spawn(start_vm(spec)).await??;
    Ok(instance)
}

pub async fn instance_ensure_fixed(spec: Spec) -> Result<Instance, Error> {
    // ok: drop-runtime-context
    let vmm_runtime = Builder::new_multi_thread().enable_all().build()?;
    let started = vmm_runtime.spawn(start_vm(spec)).await;
    vmm_runtime.shutdown_background();
    started?
}

async fn start_vm(_spec: Spec) -> Result<Instance, Error> {
    Ok(Instance)
}

pub struct Spec;
pub struct Instance;
pub struct Error;
