// Source: https://github.com/tokio-rs/tokio/issues/5843
// What happened: a `Drop` impl ran async cleanup with
// `tokio::runtime::Handle::current().block_on(..)`; dropped at the end of `#[tokio::main]`
// it panicked "Cannot start a runtime from within a runtime". Wrapping it in
// `tokio::task::block_in_place` works on the multi-thread runtime `#[tokio::main]` starts,
// which is what the reporter used. (Our own reconstruction of the pattern.)
pub struct Foo;

impl Foo {
    async fn bar(&self) {}
}

impl Drop for Foo {
    fn drop(&mut self) {
        // ruleid: drop-block-on, drop-runtime-context
        tokio::runtime::Handle::current().block_on(async {
            self.bar().await;
        });
    }
}
