// Source: https://github.com/dbus2/zbus (zbus/src/owned_fd.rs)
// Accepted pattern: an owned file descriptor closes itself in Drop, and its
// `IntoRawFd::into_raw_fd` hands the descriptor to the caller with `forget(self)` so
// that Drop does not close it: skipping Drop is the method's contract.
// (Our own reconstruction of the pattern.)
use std::mem::forget;
use std::os::unix::io::{FromRawFd, IntoRawFd, RawFd};

pub struct OwnedFd {
    inner: RawFd,
}

impl FromRawFd for OwnedFd {
    unsafe fn from_raw_fd(fd: RawFd) -> OwnedFd {
        OwnedFd { inner: fd }
    }
}

impl IntoRawFd for OwnedFd {
    fn into_raw_fd(self) -> RawFd {
        let fd = self.inner;
        // ok: mem-forget
        forget(self);
        fd
    }
}

impl Drop for OwnedFd {
    fn drop(&mut self) {
        // ok: drop-unwrap
        let _ = close(self.inner);
    }
}

fn close(_fd: RawFd) -> Result<(), ()> {
    Ok(())
}
