// Source: https://github.com/rust-embedded-community/embedded-sdmmc-rs/pull/123
// What happened: the `Drop` impls of volumes, directories and files closed themselves with
// `.expect("Failed to close volume")`; with the card ejected that panics in a destructor.
// The merged PR made them ignore the error (`_ = ...close_volume(..)`).
// (Our own reconstruction of the pattern.)
pub struct VolumeManager;

impl VolumeManager {
    fn close_volume(&mut self, _volume: RawVolume) -> Result<(), Error> {
        Ok(())
    }
}

pub struct Volume<'a> {
    volume_mgr: &'a mut VolumeManager,
    raw_volume: RawVolume,
}

impl Drop for Volume<'_> {
    fn drop(&mut self) {
        self.volume_mgr
            .close_volume(self.raw_volume)
            // ruleid: drop-unwrap
            .expect("Failed to close volume");
    }
}

pub struct FixedVolume<'a> {
    volume_mgr: &'a mut VolumeManager,
    raw_volume: RawVolume,
}

impl Drop for FixedVolume<'_> {
    fn drop(&mut self) {
        // ok: drop-unwrap
        _ = self.volume_mgr.close_volume(self.raw_volume);
    }
}

#[derive(Clone, Copy)]
pub struct RawVolume;

pub struct Error;
