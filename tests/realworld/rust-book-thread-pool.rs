// Source: https://github.com/rust-lang/book (ch20-03 "Graceful Shutdown and Cleanup")
// Accepted pattern: the book's `ThreadPool` drops the sender, then joins every worker in
// Drop. The pool has one owner and is never shared with its workers, so it is never dropped
// on a worker thread: no self-join. (The book's `join().unwrap()` is still an unwrap in
// Drop, which drop-unwrap reports.) (Our own reconstruction of the pattern.)
use std::sync::mpsc;
use std::thread;

type Job = Box<dyn FnOnce() + Send + 'static>;

pub struct ThreadPool {
    workers: Vec<Worker>,
    sender: Option<mpsc::Sender<Job>>,
}

struct Worker {
    id: usize,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        drop(self.sender.take());
        for worker in &mut self.workers {
            println!("Shutting down worker {}", worker.id);
            if let Some(thread) = worker.thread.take() {
                // ok: drop-self-join
                thread.join().unwrap();
            }
        }
    }
}
