//! A piece of response body on its way from a Python thread to nginx.
//!
//! A large `bytes` item is not copied: the chunk keeps a reference to the
//! object and nginx sends straight from its buffer. A `bytes` object is
//! immutable, so its buffer stays valid and unchanged while the reference
//! is held, and reading it needs no GIL. The reference may be dropped on
//! the event loop, without the GIL: pyo3 then defers the decref to the next
//! time a thread attaches, which the producer does on its next chunk
//! (`release_dropped`), so at most the chunks in flight are pending.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Below this size a copy costs less than the reference and its deferred
/// release.
const SHARE_MIN: usize = 16 * 1024;

pub enum Chunk {
    Owned(Vec<u8>),
    Shared(SharedBytes),
}

pub struct SharedBytes {
    /// Keeps `ptr..ptr+len` alive.
    _owner: Py<PyBytes>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pointer is into the immutable buffer of the bytes object that
// `_owner` keeps alive; `Py` itself is Send.
unsafe impl Send for SharedBytes {}

impl Chunk {
    /// The first `len` bytes of `bytes`, shared when large enough.
    pub fn of_bytes(bytes: &Bound<'_, PyBytes>, len: usize) -> Chunk {
        let data = &bytes.as_bytes()[..len];
        if len < SHARE_MIN {
            return Chunk::Owned(data.to_vec());
        }
        Chunk::Shared(SharedBytes {
            _owner: bytes.clone().unbind(),
            ptr: data.as_ptr(),
            len,
        })
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            // SAFETY: see `SharedBytes`.
            Chunk::Shared(s) => unsafe { std::slice::from_raw_parts(s.ptr, s.len) },
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Chunk::Owned(_) => "Owned",
            Chunk::Shared(_) => "Shared",
        };
        write!(f, "Chunk::{kind}({} bytes)", self.len())
    }
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<Vec<u8>> for Chunk {
    fn from(v: Vec<u8>) -> Chunk {
        Chunk::Owned(v)
    }
}

/// Release the references to chunks that the event loop has sent and
/// dropped (pyo3 runs deferred decrefs whenever a thread attaches).
pub fn release_dropped(_py: Python<'_>) {
    Python::attach(|_| ());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(obj: &Bound<'_, PyBytes>) -> isize {
        // SAFETY: a live object, read with the GIL held.
        unsafe { pyo3::ffi::Py_REFCNT(obj.as_ptr()) }
    }

    #[test]
    fn large_bytes_are_shared_small_ones_copied() {
        Python::initialize();
        Python::attach(|py| {
            let big = PyBytes::new(py, &vec![7u8; SHARE_MIN * 2]);
            let chunk = Chunk::of_bytes(&big, SHARE_MIN + 1);
            assert!(matches!(chunk, Chunk::Shared(_)));
            assert_eq!(
                chunk.as_slice().as_ptr(),
                big.as_bytes().as_ptr(),
                "no copy"
            );
            assert_eq!(chunk.len(), SHARE_MIN + 1);
            let before = refs(&big);
            // Dropped on a thread that is not attached (as on the event
            // loop): pending until this thread releases it.
            std::thread::spawn(move || drop(chunk)).join().unwrap();
            assert_eq!(refs(&big), before);
            release_dropped(py);
            assert_eq!(refs(&big), before - 1);

            let small = PyBytes::new(py, b"hello");
            assert!(matches!(Chunk::of_bytes(&small, 5), Chunk::Owned(_)));
        });
    }
}
