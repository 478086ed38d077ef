// Source: https://github.com/Quantco/pixi-pack/pull/47
// What happened: the package cache was a `tempfile::tempdir()?.into_path()`, so the
// temporary directory leaked on every unpack; the fix keeps the `TempDir` and passes
// `tmp_dir.path()`. (Our own reconstruction of the pattern.)
use std::path::Path;

pub async fn create_prefix_before(channel_dir: &Path) -> anyhow::Result<()> {
    // ruleid: temp-path-unguarded
    let cache_dir = tempfile::tempdir()?.into_path();
    install(channel_dir, &cache_dir).await
}

pub async fn create_prefix_after(channel_dir: &Path) -> anyhow::Result<()> {
    let tmp_dir = tempfile::tempdir()?;
    // ok: temp-path-unguarded
    let cache_dir = tmp_dir.path();
    install(channel_dir, cache_dir).await
}

async fn install(_channel: &Path, _cache: &Path) -> anyhow::Result<()> {
    Ok(())
}
