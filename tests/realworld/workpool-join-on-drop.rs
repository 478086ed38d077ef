// Source: https://github.com/ggriffiniii/workpool (src/thread_util.rs)
// Accepted pattern: `JoinOnDrop` wraps a `JoinHandle` so the thread is joined when the
// wrapper is dropped, ignoring the thread's panic. The wrapper is owned by whoever spawned
// the thread and is not shared with it. (Our own reconstruction of the pattern.)
use std::thread::{self, JoinHandle};

pub struct JoinOnDrop<T>(Option<JoinHandle<T>>);

impl<T> JoinOnDrop<T> {
    pub fn wrap(handle: JoinHandle<T>) -> JoinOnDrop<T> {
        JoinOnDrop(Some(handle))
    }

    pub fn thread(&self) -> Option<&thread::Thread> {
        self.0.as_ref().map(JoinHandle::thread)
    }
}

impl<T> Drop for JoinOnDrop<T> {
    fn drop(&mut self) {
        if let Some(join_handle) = self.0.take() {
            // ok: drop-self-join, drop-unwrap
            let _ = join_handle.join();
        }
    }
}
