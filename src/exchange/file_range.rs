//! A byte range of a file, as a response event: nginx sends it itself
//! (sendfile where it can), from `wsgi.file_wrapper`, a spilled `write()`,
//! or ASGI's `http.response.pathsend`.

use std::os::fd::OwnedFd;
use std::sync::Arc;

/// A byte range of an open file, owned by the server from here on. The
/// descriptor is shared by the ranges of one file (a spilled `write()`).
#[derive(Debug)]
pub struct FileRange {
    pub fd: Arc<OwnedFd>,
    pub offset: u64,
    pub len: u64,
}
