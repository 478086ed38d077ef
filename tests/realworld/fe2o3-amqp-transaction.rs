// Source: https://github.com/minghuaw/fe2o3-amqp/issues/185
// What happened: the `Drop` impl of `Transaction` rolled back through the controller with
// `self.controller.inner.blocking_lock()`. tokio's `blocking_lock` is a `block_on` inside,
// so a transaction dropped in async code panicked "Cannot block the current thread from
// within a runtime". (Our own reconstruction of the pattern.)
use std::sync::Arc;

use tokio::sync::Mutex;

pub struct Controller {
    inner: Mutex<ControllerInner>,
}

pub struct Transaction {
    controller: Arc<Controller>,
    id: u64,
    done: bool,
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // ruleid: drop-block-on
        let mut inner = self.controller.inner.blocking_lock();
        inner.rollback(self.id);
    }
}

pub struct ControllerInner;

impl ControllerInner {
    fn rollback(&mut self, _id: u64) {}
}
