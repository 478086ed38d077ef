// Source: https://github.com/near/nearcore/issues/9650
// What happened: the `sync_state_dump` test did
// `if let Some(view_client2) = &*view_client2_holder.write().unwrap() {` and then awaited
// inside the block, holding a std `RwLock` write guard across the await points.
// (Our own reconstruction of the pattern.)
use std::sync::{Arc, RwLock};

pub async fn wait_for_dump(view_client2_holder: Arc<RwLock<Option<ViewClient>>>) {
    if let Some(view_client2) = &*view_client2_holder.write().unwrap() {
        // ruleid: lock-across-await
        view_client2.query_state().await;
    }
}

pub async fn wait_for_dump_fixed(view_client2_holder: Arc<RwLock<Option<ViewClient>>>) {
    let view_client2 = view_client2_holder.read().unwrap().clone();
    if let Some(view_client2) = view_client2 {
        // ok: lock-across-await
        view_client2.query_state().await;
    }
}

#[derive(Clone)]
pub struct ViewClient;

impl ViewClient {
    async fn query_state(&self) {}
}
