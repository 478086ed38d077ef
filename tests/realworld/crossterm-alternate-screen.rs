// Source: https://github.com/crossterm-rs/crossterm/pull/237
// What happened: "Never panic (`.unwrap()`) in the `drop` function": `AlternateScreen`'s
// Drop switched back with `self.to_main().unwrap()`; the merged PR replaced it with
// `let _ = self.to_main();` after discussing whether swallowing the error is right.
// (Our own reconstruction of the pattern.)
pub struct AlternateScreen;

impl AlternateScreen {
    fn to_main(&self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Before(AlternateScreen);

impl Drop for Before {
    fn drop(&mut self) {
        // ruleid: drop-unwrap
        self.0.to_main().unwrap();
    }
}

pub struct After(AlternateScreen);

impl Drop for After {
    fn drop(&mut self) {
        // ok: drop-unwrap
        let _ = self.0.to_main();
    }
}
