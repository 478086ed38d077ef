// Source: https://github.com/mobilecoinfoundation/mobilecoin/pull/96
// What happened: code used `TempDir::into_path`, which leaks the temporary directory
// (nothing cleans it up when it goes out of scope); the PR switched to `TempDir::path`
// and kept the guard alive. (Our own reconstruction of the pattern.)
use tempfile::TempDir;

pub fn open_ledger_before() -> Ledger {
    // ruleid: temp-path-unguarded
    let path = TempDir::new().unwrap().into_path();
    Ledger::create(&path)
}

pub fn open_ledger_after() -> (TempDir, Ledger) {
    let dir = TempDir::new().unwrap();
    // ok: temp-path-unguarded
    let ledger = Ledger::create(dir.path());
    (dir, ledger)
}

pub struct Ledger;

impl Ledger {
    fn create(_path: &std::path::Path) -> Ledger {
        Ledger
    }
}
