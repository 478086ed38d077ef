// Source: https://github.com/tigerbeetle-rust/tigerbeetle-unofficial/issues/4
// What happened: the client's completion callbacks run on the client's own thread, and
// user code could drop the client from inside `on_completion`. The client's Drop waits for
// that thread to finish, so dropping it there deadlocks the tigerbeetle thread.
// (Our own reconstruction of the pattern.)
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct Client {
    requests: Option<Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

pub struct Callbacks {
    client: Option<Arc<Client>>,
}

impl Callbacks {
    fn on_completion(&mut self, _reply: Reply) {
        // the last reference may go away here, on the client's thread
        self.client = None;
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            // ruleid: drop-self-join
            let _ = thread.join();
        }
    }
}

pub struct Request;
pub struct Reply;
