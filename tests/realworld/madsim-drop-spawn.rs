// Source: https://github.com/madsim-rs/madsim/issues/228
// What happened: a type spawned a task from its `drop` impl with
// `Handle::current().spawn(..)`; when the drop ran while a simulated node was being killed
// there was no runtime context, and it panicked "there is no reactor running, must be
// called from the context of a Madsim runtime". (Our own reconstruction of the pattern.)
use tokio::runtime::Handle;

pub struct Connection {
    id: u64,
}

impl Drop for Connection {
    fn drop(&mut self) {
        let id = self.id;
        // ruleid: drop-runtime-context, drop-detached-spawn
        Handle::current().spawn(async move { deregister(id).await });
    }
}

async fn deregister(_id: u64) {}
