// Source: https://github.com/citadel-foss/openswap/issues/47
// What happened: clippy reported "this `MutexGuard` is held across an `await` point" for
// `maker.wallet.read()?.store.network,` passed as an argument of an awaited call: the read
// guard is a temporary that lives to the end of the statement. dropsafe anchors the
// finding on the `.await` the guard is held across. (Our own reconstruction.)
use std::sync::{Arc, RwLock};

pub struct Maker {
    wallet: RwLock<Wallet>,
}

pub async fn start_maker(maker: Arc<Maker>) -> Result<(), Error> {
    let server = Server::bind(
        maker.wallet.read()?.store.network,
    )
    // ruleid: lock-across-await
    .await?;
    server.run().await
}

pub async fn start_maker_fixed(maker: Arc<Maker>) -> Result<(), Error> {
    let network = maker.wallet.read()?.store.network;
    // ok: lock-across-await
    let server = Server::bind(network).await?;
    server.run().await
}

pub struct Wallet {
    store: Store,
}

pub struct Store {
    network: u8,
}

pub struct Server;

impl Server {
    async fn bind(_network: u8) -> Result<Server, Error> {
        Ok(Server)
    }

    async fn run(&self) -> Result<(), Error> {
        Ok(())
    }
}

pub struct Error;
