// Source: https://github.com/slog-rs/async/issues/11 (fixed by https://github.com/slog-rs/async/pull/12)
// What happened: `AsyncCore::drop` joined the logger thread. The drain's `log()` runs on
// that thread, so when the last logger was dropped there (a panic hook replacing the
// global logger), the thread joined itself: "failed to join thread: Resource deadlock
// avoided". The fix joins only when the current thread is not the logger thread.
// (Our own reconstruction of the pattern.)
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

pub struct AsyncCore {
    tx: Mutex<Option<Sender<Msg>>>,
    join: Mutex<Option<JoinHandle<()>>>,
}

pub struct Logger {
    core: Arc<AsyncCore>,
}

impl Drop for AsyncCore {
    fn drop(&mut self) {
        let _ = self.tx.lock().map(|mut tx| tx.take());
        if let Ok(mut join) = self.join.lock() {
            if let Some(handle) = join.take() {
                // ruleid: drop-self-join
                let _ = handle.join();
            }
        }
    }
}

pub struct FixedCore {
    tx: Mutex<Option<Sender<Msg>>>,
    join: Mutex<Option<JoinHandle<()>>>,
}

impl FixedCore {
    pub fn shared(self) -> Arc<FixedCore> {
        Arc::new(self)
    }
}

impl Drop for FixedCore {
    fn drop(&mut self) {
        let _ = self.tx.lock().map(|mut tx| tx.take());
        if let Ok(mut join) = self.join.lock() {
            if let Some(handle) = join.take() {
                if handle.thread().id() != thread::current().id() {
                    // ok: drop-self-join
                    let _ = handle.join();
                }
            }
        }
    }
}

pub enum Msg {
    Record(String),
}
