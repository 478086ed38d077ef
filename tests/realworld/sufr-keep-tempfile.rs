// Source: https://github.com/TravisWheelerLab/sufr/issues/6
// What happened: the suffix-array builder wrote partitions to `NamedTempFile`s and then
// called `.keep()`, so the files were never deleted and accumulated in `/tmp`; the
// maintainers confirmed the files were not being removed. (Our own reconstruction.)
use std::io::Write;
use std::path::PathBuf;

use tempfile::NamedTempFile;

pub fn write_partition(bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let mut file = NamedTempFile::new()?;
    file.write_all(bytes)?;
    // ruleid: temp-path-unguarded
    let (_, path) = file.keep()?;
    Ok(path)
}
