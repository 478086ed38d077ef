// Source: https://github.com/barbacane-dev/barbacane/issues/208
// What happened: compiling a manifest with a remote plugin built a runtime to fetch the
// plugin and dropped it inside `#[tokio::main]`: "Cannot drop a runtime in a context where
// blocking is not allowed". The issue found three such sites and asked to fix the pattern.
// (Our own reconstruction of the pattern.)
pub async fn resolve_url_plugin(url: &str) -> Result<Vec<u8>, Error> {
    // ruleid: drop-runtime-context
    let runtime = tokio::runtime::Runtime::new()?;
    let bytes = runtime.spawn(download(url.to_owned())).await??;
    Ok(bytes)
}

pub async fn resolve_url_plugin_fixed(url: &str) -> Result<Vec<u8>, Error> {
    // ok: drop-runtime-context
    download(url.to_owned()).await
}

async fn download(_url: String) -> Result<Vec<u8>, Error> {
    Ok(Vec::new())
}

pub struct Error;
