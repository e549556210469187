//! Where `write()` puts the body a slow client is not ready for.
//!
//! An iterable's response parks when the client is behind and frees its
//! thread; `write()` cannot, since PEP 3333 says it returns only once its
//! data is on its way. Past the in-memory bound, the data goes to a temp
//! file (unlinked at once, so it disappears with its last descriptor), and
//! nginx sends the ranges from there, with sendfile where it can: the
//! thread goes on at disk speed, as an upstream server behind nginx's
//! buffering does. Past `max_size` the caller waits for the client instead,
//! as nginx stops reading an upstream at `proxy_max_temp_file_size`.

use crate::exchange::FileRange;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where spill files go and how large one may grow (`wsgi_temp_path`,
/// `wsgi_max_temp_file_size`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpillPolicy {
    pub dir: PathBuf,
    /// 0: never spill.
    pub max_size: u64,
}

/// One response's spill file.
pub struct Spill {
    file: File,
    /// What the ranges handed to nginx keep open.
    fd: Arc<OwnedFd>,
    len: u64,
}

/// Makes spill file names unique within the process.
static SERIAL: AtomicU64 = AtomicU64::new(0);

impl Spill {
    /// A new, already unlinked, file in `dir`.
    pub fn create(policy: &SpillPolicy) -> std::io::Result<Spill> {
        loop {
            let name = format!(
                "wsgi-{}-{}",
                std::process::id(),
                SERIAL.fetch_add(1, Ordering::Relaxed)
            );
            let path = policy.dir.join(name);
            let file = match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
            {
                // Left over by an earlier process with the same pid.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                other => other?,
            };
            std::fs::remove_file(&path)?;
            let fd = Arc::new(OwnedFd::from(file.try_clone()?));
            return Ok(Spill { file, fd, len: 0 });
        }
    }

    /// Whether `more` bytes still fit under the policy's bound.
    pub fn fits(&self, policy: &SpillPolicy, more: usize) -> bool {
        self.len + more as u64 <= policy.max_size
    }

    /// Append `data`; the range it now occupies, for nginx to send.
    pub fn append(&mut self, data: &[u8]) -> std::io::Result<FileRange> {
        self.file.write_all_at(data, self.len)?;
        let range = FileRange {
            fd: self.fd.clone(),
            offset: self.len,
            len: data.len() as u64,
        };
        self.len += data.len() as u64;
        Ok(range)
    }
}

/// A response's way to spill: the policy, and the file once there is one.
pub struct Spiller {
    policy: Arc<SpillPolicy>,
    spill: Option<Spill>,
}

impl Spiller {
    /// `None` where the policy never spills.
    pub fn new(policy: Option<Arc<SpillPolicy>>) -> Option<Spiller> {
        policy.filter(|p| p.max_size > 0).map(|policy| Spiller {
            policy,
            spill: None,
        })
    }

    /// Spill `data`: its range, or `None` when it would pass the bound.
    /// An error says why spilling is not possible at all.
    pub fn put(&mut self, data: &[u8]) -> Result<Option<FileRange>, String> {
        let spill = match &mut self.spill {
            Some(s) => s,
            None => self.spill.insert(Spill::create(&self.policy).map_err(|e| {
                format!(
                    "cannot create a temp file in {}: {e}",
                    self.policy.dir.display()
                )
            })?),
        };
        if !spill.fits(&self.policy, data.len()) {
            return Ok(None);
        }
        spill
            .append(data)
            .map(Some)
            .map_err(|e| format!("cannot write to a temp file: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn ranges_follow_each_other_in_an_unlinked_file() {
        let dir = std::env::temp_dir().join(format!("ngx-wsgi-spill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let policy = SpillPolicy {
            dir: dir.clone(),
            max_size: 10,
        };
        let mut spill = Spill::create(&policy).unwrap();
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "the file has no name left"
        );
        let a = spill.append(b"hello ").unwrap();
        assert!(spill.fits(&policy, 4) && !spill.fits(&policy, 5));
        let b = spill.append(b"world").unwrap();
        assert_eq!((a.offset, a.len, b.offset, b.len), (0, 6, 6, 5));
        assert!(Arc::ptr_eq(&a.fd, &b.fd));
        drop(spill);
        let mut buf = [0u8; 11];
        let n = unsafe { libc::pread(b.fd.as_raw_fd(), buf.as_mut_ptr().cast(), 11, 0) };
        assert_eq!(n, 11, "the ranges keep the file open");
        assert_eq!(&buf, b"hello world");
        std::fs::remove_dir(&dir).unwrap();
    }
}
