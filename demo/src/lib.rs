//! The README's quick start scans this crate: the Drop bugs dropsafe exists for,
//! as they usually arrive in a pull request. `cleanup` lives in another module,
//! so two of them are only found by following Drop across files.

mod cleanup;

use std::path::PathBuf;

pub struct Workspace {
    dir: PathBuf,
    log: std::fs::File,
}

impl Workspace {
    pub fn new(name: &str) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::File::create(dir.join("log"))?;
        Ok(Workspace { dir, log })
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        use std::io::Write;
        // a panic while the thread unwinds aborts the process
        self.log.flush().unwrap();
        let dir = self.dir.clone();
        // detached: the runtime may shut down before the cleanup runs
        tokio::spawn(async move {
            let _ = tokio::fs::remove_dir_all(dir).await;
        });
        cleanup::report(&self.dir);
    }
}
