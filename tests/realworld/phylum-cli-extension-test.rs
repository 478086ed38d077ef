// Source: https://github.com/phylum-dev/cli/pull/484
// What happened: a test replaced its hand-written temp dir with
// `TempDir::new().unwrap().into_path()`; the reviewer pointed out that `into_path`
// intentionally leaks the directory and asked to keep the `TempDir` and use `.path()`.
// (Our own reconstruction of the pattern.)
use tempfile::TempDir;

fn extension_is_installed_correctly() {
    // ruleid: temp-path-unguarded
    let tempdir = TempDir::new().unwrap().into_path();
    install_extension(&tempdir);
}

fn extension_is_installed_correctly_fixed() {
    let tempdir = TempDir::new().unwrap();
    // ok: temp-path-unguarded
    install_extension(tempdir.path());
}

fn install_extension(_dir: &std::path::Path) {}
