// Source: https://github.com/esrlabs/northstar/issues/382
// What happened: the NPK tests created scratch directories with
// `tempfile::TempDir::new().expect(..).into_path()`. `into_path` consumes the guard
// without deleting the directory, so every test run left more `/tmp/.tmp*` directories.
// (Our own reconstruction of the pattern.)
use std::path::{Path, PathBuf};

fn create_tmp_dir() -> PathBuf {
    // ruleid: temp-path-unguarded
    tempfile::TempDir::new().expect("Create tmp dir").into_path()
}

fn pack(manifest: &Path) -> PathBuf {
    let out = create_tmp_dir();
    std::fs::copy(manifest, out.join("manifest.yaml")).ok();
    out
}

// The fix: the test keeps the `TempDir` and lends out its path.
fn pack_fixed(manifest: &Path) -> std::io::Result<tempfile::TempDir> {
    let out = tempfile::TempDir::new()?;
    // ok: temp-path-unguarded
    std::fs::copy(manifest, out.path().join("manifest.yaml"))?;
    Ok(out)
}
