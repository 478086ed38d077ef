// Source: https://github.com/pragma-org/amaru/pull/1298
// What happened: the ledger `State` joins its rewards background thread on Drop so the
// worker cannot outlive the stores it uses. A synchronous callback can release the last
// `State` owner on that worker, and joining from itself would panic, so the join is
// guarded by comparing thread ids (the reviewed and merged form).
// (Our own reconstruction of the pattern.)
use std::sync::Arc;
use std::thread::{self, JoinHandle};

pub struct State {
    rewards: Option<JoinHandle<Rewards>>,
}

pub fn share(state: State) -> Arc<State> {
    Arc::new(state)
}

impl Drop for State {
    fn drop(&mut self) {
        if let Some(handle) = self.rewards.take() {
            join_background_thread(handle);
        }
    }
}

fn join_background_thread<T>(handle: JoinHandle<T>) {
    if handle.thread().id() == thread::current().id() {
        return;
    }
    // ok: drop-self-join, drop-unwrap
    if let Err(panic) = handle.join() {
        eprintln!("rewards thread panicked: {panic:?}");
    }
}

pub struct Rewards;
