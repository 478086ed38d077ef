use std::path::Path;

/// Called from `Drop for Workspace` in lib.rs.
pub fn report(dir: &Path) {
    // panics when the value is dropped outside a tokio runtime
    let handle = tokio::runtime::Handle::current();
    // panics when it is dropped inside one
    handle.block_on(async { println!("removed {}", dir.display()) });
}
