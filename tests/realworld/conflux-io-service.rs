// Source: https://github.com/Conflux-Chain/conflux-rust/issues/939 (again: https://github.com/Conflux-Chain/conflux-rust/issues/2379)
// What happened: stopping a node sometimes crashed with "thread 'io_service' panicked at
// 'failed to join thread: Resource deadlock avoided (os error 11)'": the I/O service was
// shared with the handlers running on its own thread, and when the last reference went
// away there, its Drop joined the `io_service` thread from that very thread.
// (Our own reconstruction of the pattern.)
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

pub struct IoService {
    thread: Option<JoinHandle<()>>,
    channel: Channel,
}

pub struct Handler {
    service: Weak<IoService>,
}

impl Handler {
    fn service(&self) -> Option<Arc<IoService>> {
        self.service.upgrade()
    }
}

impl Drop for IoService {
    fn drop(&mut self) {
        self.channel.send_shutdown();
        if let Some(thread) = self.thread.take() {
            // ruleid: drop-self-join
            thread.join().ok();
        }
    }
}

pub struct Channel;

impl Channel {
    fn send_shutdown(&self) {}
}
