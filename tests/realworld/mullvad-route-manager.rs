// Source: https://github.com/mullvad/mullvadvpn-app/pull/5931 (follow-up: https://github.com/mullvad/mullvadvpn-app/pull/5934)
// What happened: `RouteManager`'s Drop stopped the routing task with
// `Handle::current().block_on(..)`, which panics "Cannot start a runtime from within a
// runtime" when dropped inside async code (tokio#5843). #5931 wrapped it in
// `block_in_place`; its author could not rule out a current-thread runtime (where
// `block_in_place` panics "can call blocking only when running on the multi-threaded
// runtime"), and the maintainers replaced it the next day with a non-blocking drop that
// only sends the shutdown message. (Our own reconstruction of the pattern.)
use tokio::sync::{mpsc, oneshot};

pub struct RouteManager {
    manage_tx: Option<mpsc::UnboundedSender<RouteCommand>>,
}

pub enum RouteCommand {
    Shutdown(oneshot::Sender<()>),
}

impl RouteManager {
    async fn stop(&mut self) {}

    fn drop_before(&mut self) {}
}

pub struct Before(RouteManager);

impl Drop for Before {
    fn drop(&mut self) {
        // ruleid: drop-block-on, drop-runtime-context
        tokio::runtime::Handle::current().block_on(self.0.stop());
    }
}

pub struct InPlace(RouteManager);

impl Drop for InPlace {
    fn drop(&mut self) {
        let handle = tokio::runtime::Handle::current();
        // ruleid: drop-runtime-context
        tokio::task::block_in_place(|| handle.block_on(self.0.stop()));
    }
}

pub struct NonBlocking(RouteManager);

impl Drop for NonBlocking {
    fn drop(&mut self) {
        if let Some(tx) = self.0.manage_tx.take() {
            let (done_tx, _done_rx) = oneshot::channel();
            // ok: drop-block-on, drop-runtime-context
            let _ = tx.send(RouteCommand::Shutdown(done_tx));
        }
    }
}
