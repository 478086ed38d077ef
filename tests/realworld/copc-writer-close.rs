// Source: https://github.com/pka/copc-rs/pull/13
// What happened: `CopcWriter::drop` called `self.close().expect(..)`; a writer that was
// never written to, or whose write failed, panicked on drop, and during unwinding that
// aborts. The merged fix makes Drop a best-effort close that ignores the error.
// (Our own reconstruction of the pattern.)
pub struct CopcWriter {
    is_closed: bool,
}

impl CopcWriter {
    pub fn close(&mut self) -> Result<(), Error> {
        self.is_closed = true;
        Ok(())
    }
}

impl Drop for CopcWriter {
    fn drop(&mut self) {
        if !self.is_closed {
            // ruleid: drop-unwrap
            self.close().expect("Error when dropping the writer");
        }
    }
}

pub struct FixedWriter(CopcWriter);

impl Drop for FixedWriter {
    fn drop(&mut self) {
        if !self.0.is_closed {
            // ok: drop-unwrap
            let _ = self.0.close();
        }
    }
}

pub struct Error;
