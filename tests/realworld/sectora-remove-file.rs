// Source: https://github.com/yasuyuky/sectora/pull/303
// What happened: a Drop impl removed its file with an unwrap on the filesystem result, so a
// failed removal during unwinding aborted the process; the merged PR ignores the error
// (`let _ = f();`). (Our own reconstruction of the pattern.)
use std::path::PathBuf;

pub struct SocketFile {
    path: PathBuf,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        // ruleid: drop-unwrap
        std::fs::remove_file(&self.path).unwrap();
    }
}

pub struct FixedSocketFile {
    path: PathBuf,
}

impl Drop for FixedSocketFile {
    fn drop(&mut self) {
        // ok: drop-unwrap
        let _ = std::fs::remove_file(&self.path);
    }
}
