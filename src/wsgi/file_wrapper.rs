//! `wsgi.file_wrapper`: a response body that is a file. For a regular file
//! with a descriptor, the server hands nginx the file itself (a file
//! buffer, sent with sendfile where nginx is configured for it) from the
//! file's current position; for other file-likes it is an iterable of
//! blocks.

use crate::exchange::FileRange;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;

#[pyclass(module = "ngx_wsgi")]
pub struct FileWrapper {
    filelike: Py<PyAny>,
    block_size: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, block_size=8192))]
    fn new(filelike: Py<PyAny>, block_size: usize) -> FileWrapper {
        FileWrapper {
            filelike,
            block_size: block_size.max(1),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let block = self
            .filelike
            .bind(py)
            .call_method1("read", (self.block_size,))?;
        let empty = match block.cast::<PyBytes>() {
            Ok(b) => b.as_bytes().is_empty(),
            Err(_) => block.len()? == 0,
        };
        Ok((!empty).then_some(block))
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let f = self.filelike.bind(py);
        if f.hasattr("close")? {
            f.call_method0("close")?;
        }
        Ok(())
    }
}

impl FileWrapper {
    /// The rest of the file from its current position, when the wrapped
    /// object is a regular file with a descriptor. `None` means: iterate.
    pub fn file_range(&self, py: Python<'_>) -> Option<FileRange> {
        let f = self.filelike.bind(py);
        let fd: i32 = f.call_method0("fileno").ok()?.extract().ok()?;
        // tell() is the position the app sees; a buffered reader's OS
        // offset may be ahead of it.
        let offset: u64 = match f.call_method0("tell") {
            Ok(pos) => pos.extract().ok()?,
            Err(_) => unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) }
                .try_into()
                .ok()?,
        };
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        let size = st.st_size as u64;
        // Our own descriptor: the app closes its file when the response is
        // done, which may be before nginx has sent it all.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return None;
        }
        Some(FileRange {
            fd: Arc::new(unsafe { OwnedFd::from_raw_fd(dup) }),
            offset,
            len: size.saturating_sub(offset),
        })
    }
}
