// Source: https://github.com/tokio-rs/tokio/issues/5056
// What happened: a value was read from a lock as part of a function call's arguments; the
// called async function took the same lock and the program deadlocked. A maintainer
// explained that the guard is a temporary that lives until the end of the statement, so it
// is still held while the call is awaited. (Our own reconstruction of the pattern.)
use std::sync::Arc;

use tokio::sync::Mutex;

pub struct Counter {
    value: Mutex<u64>,
}

pub async fn bump(counter: Arc<Counter>) {
    // ruleid: lock-across-await
    store(&counter, *counter.value.lock().await + 1).await;
}

pub async fn bump_fixed(counter: Arc<Counter>) {
    let next = *counter.value.lock().await + 1;
    // ok: lock-across-await
    store(&counter, next).await;
}

async fn store(counter: &Counter, next: u64) {
    *counter.value.lock().await = next;
}
