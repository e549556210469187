//! `wsgi.input`: a file-like reader over the request body where nginx put
//! it, in memory buffers or in its temp file. Nothing is copied up front:
//! each `read` copies just the bytes it returns into a new `bytes`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

/// One piece of the request body.
pub enum Segment {
    /// Memory owned by nginx's request pool.
    Borrowed {
        ptr: *const u8,
        len: usize,
    },
    /// A range of nginx's temp file, read with `pread`.
    File {
        fd: i32,
        offset: u64,
        len: u64,
    },
    Owned(Vec<u8>),
}

impl Segment {
    fn len(&self) -> u64 {
        match self {
            Segment::Borrowed { len, .. } => *len as u64,
            Segment::File { len, .. } => *len,
            Segment::Owned(v) => v.len() as u64,
        }
    }
}

/// The request body as nginx holds it.
///
/// `Borrowed` and `File` segments point into a live nginx request: the
/// module keeps that request open (its reference count raised) until the
/// Python thread has finished with the body, and nginx does not touch the
/// buffers meanwhile. That is what makes sending them to the thread sound.
#[derive(Default)]
pub struct Body {
    segments: Vec<Segment>,
    len: u64,
}

unsafe impl Send for Body {}
unsafe impl Sync for Body {}

impl Body {
    pub fn push(&mut self, segment: Segment) {
        if segment.len() > 0 {
            self.len += segment.len();
            self.segments.push(segment);
        }
    }

    pub fn from_vec(data: Vec<u8>) -> Body {
        let mut b = Body::default();
        b.push(Segment::Owned(data));
        b
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copy bytes starting at `pos` into `out`; returns how many were copied
    /// (less than `out.len()` only at the end of the body).
    pub fn read_at(&self, mut pos: u64, out: &mut [u8]) -> std::io::Result<usize> {
        let mut done = 0;
        let mut start = 0u64;
        for seg in &self.segments {
            let seg_len = seg.len();
            if done == out.len() {
                break;
            }
            if pos >= start + seg_len {
                start += seg_len;
                continue;
            }
            let off = pos - start;
            let n = ((seg_len - off) as usize).min(out.len() - done);
            let dst = &mut out[done..done + n];
            match seg {
                Segment::Borrowed { ptr, .. } => {
                    // SAFETY: see the type's comment: the buffer outlives the body.
                    let src = unsafe { std::slice::from_raw_parts(ptr.add(off as usize), n) };
                    dst.copy_from_slice(src);
                }
                Segment::Owned(v) => dst.copy_from_slice(&v[off as usize..off as usize + n]),
                Segment::File { fd, offset, .. } => pread_exact(*fd, dst, offset + off)?,
            }
            done += n;
            pos += n as u64;
            start += seg_len;
        }
        Ok(done)
    }
}

fn pread_exact(fd: i32, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::FromRawFd;
    // SAFETY: nginx owns the descriptor and keeps it open while the body
    // lives (see `Body`); ManuallyDrop never closes it.
    let file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    file.read_exact_at(buf, offset)
}

const LINE_BLOCK: usize = 8192;

#[pyclass(module = "ngx_wsgi")]
pub struct Input {
    body: Body,
    pos: u64,
}

impl Input {
    pub fn new(body: Body) -> Input {
        Input { body, pos: 0 }
    }

    fn remaining(&self) -> u64 {
        self.body.len() - self.pos
    }

    fn limit(&self, size: Option<i64>) -> usize {
        match size {
            Some(n) if n >= 0 => (n as u64).min(self.remaining()) as usize,
            _ => self.remaining() as usize,
        }
    }

    fn read_bytes<'py>(&mut self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyBytes>> {
        let pos = self.pos;
        let body = &self.body;
        let bytes = PyBytes::new_with(py, n, |buf| {
            let got = body.read_at(pos, buf)?;
            debug_assert_eq!(got, n);
            Ok(())
        })?;
        self.pos += n as u64;
        Ok(bytes)
    }

    /// Bytes up to and including the next newline, at most `max`.
    fn line_len(&self, max: usize) -> PyResult<usize> {
        let mut block = [0u8; LINE_BLOCK];
        let mut scanned = 0;
        while scanned < max {
            let want = (max - scanned).min(LINE_BLOCK);
            let got = self
                .body
                .read_at(self.pos + scanned as u64, &mut block[..want])?;
            if let Some(i) = block[..got].iter().position(|&c| c == b'\n') {
                return Ok(scanned + i + 1);
            }
            if got < want {
                return Ok(scanned + got);
            }
            scanned += got;
        }
        Ok(max)
    }
}

#[pymethods]
impl Input {
    #[pyo3(signature = (size=None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let n = self.limit(size);
        self.read_bytes(py, n)
    }

    #[pyo3(signature = (size=None))]
    fn readline<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<i64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let n = self.line_len(self.limit(size))?;
        self.read_bytes(py, n)
    }

    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(
        &mut self,
        py: Python<'py>,
        hint: Option<i64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let lines = PyList::empty(py);
        let hint = hint.filter(|&h| h > 0).map(|h| h as usize);
        let mut total = 0;
        while self.remaining() > 0 {
            let n = self.line_len(self.remaining() as usize)?;
            lines.append(self.read_bytes(py, n)?)?;
            total += n;
            if hint.is_some_and(|h| total >= h) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if self.remaining() == 0 {
            return Ok(None);
        }
        let n = self.line_len(self.remaining() as usize)?;
        self.read_bytes(py, n).map(Some)
    }

    fn close(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn split_body(data: &[u8], file: &std::fs::File) -> Body {
        // memory, file, memory: the three shapes nginx produces.
        let (a, rest) = data.split_at(data.len() / 3);
        let (b, c) = rest.split_at(rest.len() / 2);
        let mut f = file.try_clone().unwrap();
        f.write_all(b"junk").unwrap();
        f.write_all(b).unwrap();
        let mut body = Body::default();
        body.push(Segment::Borrowed {
            ptr: a.as_ptr(),
            len: a.len(),
        });
        body.push(Segment::File {
            fd: std::os::fd::AsRawFd::as_raw_fd(file),
            offset: 4,
            len: b.len() as u64,
        });
        body.push(Segment::Owned(c.to_vec()));
        body
    }

    fn tmpfile() -> std::fs::File {
        let path = std::env::temp_dir().join(format!("ngx-wsgi-input-{}", std::process::id()));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn read_at_spans_segments() {
        let data: Vec<u8> = (0..30000u32).map(|i| (i % 251) as u8).collect();
        let f = tmpfile();
        let body = split_body(&data, &f);
        assert_eq!(body.len(), data.len() as u64);
        let mut out = vec![0u8; data.len() + 10];
        assert_eq!(body.read_at(0, &mut out).unwrap(), data.len());
        assert_eq!(&out[..data.len()], &data[..]);
        let mut mid = vec![0u8; 15000];
        assert_eq!(body.read_at(9000, &mut mid).unwrap(), 15000);
        assert_eq!(&mid[..], &data[9000..24000]);
    }

    #[test]
    fn file_like_methods() {
        Python::initialize();
        let data = b"first line\nsecond\n\nlast no newline".to_vec();
        let f = tmpfile();
        Python::attach(|py| {
            let input = Py::new(py, Input::new(split_body(&data, &f))).unwrap();
            let input = input.bind(py);
            let line: Vec<u8> = input
                .call_method1("readline", (5,))
                .unwrap()
                .extract()
                .unwrap();
            assert_eq!(line, b"first");
            let line: Vec<u8> = input.call_method0("readline").unwrap().extract().unwrap();
            assert_eq!(line, b" line\n");
            let rest: Vec<Vec<u8>> = input.call_method0("readlines").unwrap().extract().unwrap();
            assert_eq!(
                rest,
                vec![
                    b"second\n".to_vec(),
                    b"\n".to_vec(),
                    b"last no newline".to_vec()
                ]
            );
            let end: Vec<u8> = input.call_method0("read").unwrap().extract().unwrap();
            assert!(end.is_empty());

            let input = Py::new(py, Input::new(Body::from_vec(data.clone()))).unwrap();
            let input = input.bind(py);
            let a: Vec<u8> = input.call_method1("read", (3,)).unwrap().extract().unwrap();
            let b: Vec<u8> = input
                .call_method1("read", (-1,))
                .unwrap()
                .extract()
                .unwrap();
            assert_eq!([a, b].concat(), data);
            let more: Vec<u8> = input
                .call_method1("read", (10,))
                .unwrap()
                .extract()
                .unwrap();
            assert!(more.is_empty(), "never reads past the end");

            let input = Py::new(py, Input::new(Body::from_vec(data.clone()))).unwrap();
            let lines: Vec<Vec<u8>> = input
                .bind(py)
                .try_iter()
                .unwrap()
                .map(|l| l.unwrap().extract().unwrap())
                .collect();
            assert_eq!(lines.len(), 4);
            let input = Py::new(py, Input::new(Body::from_vec(data.clone()))).unwrap();
            let some: Vec<Vec<u8>> = input
                .bind(py)
                .call_method1("readlines", (12,))
                .unwrap()
                .extract()
                .unwrap();
            assert_eq!(some, vec![b"first line\n".to_vec(), b"second\n".to_vec()]);
        });
    }
}
