//! What the patterns' `// PLACEHOLDER` names stand for: a resource that counts
//! its cleanups, so a case can tell "ran exactly once" from "ran twice" or "lost".

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
pub struct Counts {
    synced: AtomicUsize,
    released: AtomicUsize,
}

impl Counts {
    /// How many times (sync cleanup, async cleanup) ran.
    pub fn get(&self) -> (usize, usize) {
        (self.synced.load(Ordering::SeqCst), self.released.load(Ordering::SeqCst))
    }

    /// `Ok` when both cleanups ran exactly once.
    pub fn once(&self) -> Result<String, String> {
        let (synced, released) = self.get();
        if (synced, released) == (1, 1) {
            Ok("sync and async cleanup ran once".into())
        } else {
            Err(format!("sync cleanup ran {synced} times, async cleanup {released} times"))
        }
    }
}

pub struct Resource {
    counts: Arc<Counts>,
}

impl Resource {
    pub fn new() -> (Self, Arc<Counts>) {
        let counts = Arc::new(Counts::default());
        (Self { counts: Arc::clone(&counts) }, counts)
    }

    pub fn release_sync(&mut self) {
        self.counts.synced.fetch_add(1, Ordering::SeqCst);
    }

    /// Real async work: yields to the scheduler and waits on the runtime's timer.
    pub async fn release(self) -> io::Result<()> {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.counts.released.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
