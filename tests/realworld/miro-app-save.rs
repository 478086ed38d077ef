// Source: https://github.com/vincent-uden/miro/issues/116
// What happened: `App`'s Drop saved bookmarks and recent files with `.save().unwrap()`;
// when the recent-files path was a directory the viewer panicked on exit ("Is a
// directory (os error 21)"). The maintainer agreed and fixed it. (Our own reconstruction.)
pub struct App {
    bookmark_store: Store,
    recent_files: Store,
}

impl Drop for App {
    fn drop(&mut self) {
        // ruleid: drop-unwrap
        self.bookmark_store.save().unwrap();
        // ruleid: drop-unwrap
        self.recent_files.save().unwrap();
    }
}

pub struct FixedApp {
    bookmark_store: Store,
}

impl Drop for FixedApp {
    fn drop(&mut self) {
        // ok: drop-unwrap
        if let Err(error) = self.bookmark_store.save() {
            eprintln!("could not save bookmarks: {error}");
        }
    }
}

pub struct Store;

impl Store {
    fn save(&self) -> std::io::Result<()> {
        Ok(())
    }
}
