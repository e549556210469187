//! `wsgi.input`: a file-like reader over the request body. Buffered
//! (`wsgi_request_buffering on`): where nginx put it, in memory buffers or
//! in its temp file; nothing is copied up front, each `read` copies just
//! the bytes it returns straight into the new `bytes` (the temp file is
//! read without the GIL), and `readinto` into the caller's buffer.
//! Streamed (`off`): from a `BodyStream` the event loop fills as the body
//! arrives; reads block, without the GIL, until they have their bytes.

use super::body_stream::{BodyError, BodyStream, Until};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyConnectionAbortedError, PyOSError, PyTimeoutError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use std::sync::Arc;

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

/// Where `wsgi.input` reads from.
enum Source {
    /// The whole body, read by nginx first (`wsgi_request_buffering on`).
    Buffered { body: Body, pos: u64 },
    /// The body as it arrives (`wsgi_request_buffering off`).
    Streamed(Arc<BodyStream>),
}

#[pyclass(module = "ngx_wsgi")]
pub struct Input {
    source: Source,
}

impl Input {
    pub fn new(body: Body) -> Input {
        Input {
            source: Source::Buffered { body, pos: 0 },
        }
    }

    pub fn streamed(stream: Arc<BodyStream>) -> Input {
        Input {
            source: Source::Streamed(stream),
        }
    }
}

/// A body error as the exception the app's read raises: an `OSError`
/// (`TimeoutError`, `ConnectionAbortedError`, ...), as a socket's would.
fn body_error(e: BodyError) -> PyErr {
    let msg = e.to_string();
    match e {
        BodyError::TimedOut => PyTimeoutError::new_err(msg),
        BodyError::ClientGone => PyConnectionAbortedError::new_err(msg),
        BodyError::TooLarge | BodyError::Cancelled => PyOSError::new_err(msg),
    }
}

impl Body {
    /// Whether `pos..pos+n` reads from the temp file.
    fn touches_file(&self, pos: u64, n: usize) -> bool {
        let end = pos + n as u64;
        let mut start = 0u64;
        for seg in &self.segments {
            let seg_end = start + seg.len();
            if matches!(seg, Segment::File { .. }) && pos < seg_end && end > start {
                return true;
            }
            if seg_end >= end {
                break;
            }
            start = seg_end;
        }
        false
    }

    /// `read_at`, without the GIL when it reads the temp file.
    fn read_at_py(&self, py: Python<'_>, pos: u64, out: &mut [u8]) -> std::io::Result<usize> {
        if self.touches_file(pos, out.len()) {
            py.detach(|| self.read_at(pos, out))
        } else {
            self.read_at(pos, out)
        }
    }
}

/// Bytes up to and including the next newline, at most `max`, from `pos`.
fn line_len(py: Python<'_>, body: &Body, pos: u64, max: usize) -> PyResult<usize> {
    let mut block = [0u8; LINE_BLOCK];
    let mut scanned = 0;
    while scanned < max {
        let want = (max - scanned).min(LINE_BLOCK);
        let got = body.read_at_py(py, pos + scanned as u64, &mut block[..want])?;
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

/// The most a read may take: `size` if given and not negative.
fn limit(size: Option<i64>) -> usize {
    match size {
        Some(n) if n >= 0 => n as usize,
        _ => usize::MAX,
    }
}

impl Input {
    /// Read up to `until` (a size, or a line of at most a size).
    fn take<'py>(&mut self, py: Python<'py>, until: Until) -> PyResult<Bound<'py, PyBytes>> {
        match &mut self.source {
            Source::Buffered { body, pos } => {
                let remaining = (body.len() - *pos) as usize;
                let n = match until {
                    Until::Bytes(max) => max.min(remaining),
                    Until::Line(max) => line_len(py, body, *pos, max.min(remaining))?,
                };
                let at = *pos;
                // One copy, straight into the new bytes object.
                let bytes = PyBytes::new_with(py, n, |buf| {
                    body.read_at_py(py, at, buf)?;
                    Ok(())
                })?;
                *pos += n as u64;
                Ok(bytes)
            }
            Source::Streamed(stream) => {
                let stream = stream.clone();
                let mut out = Vec::new();
                py.detach(|| stream.read(until, &mut out))
                    .map_err(body_error)?;
                Ok(PyBytes::new(py, &out))
            }
        }
    }
}

#[pymethods]
impl Input {
    #[pyo3(signature = (size=None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        self.take(py, Until::Bytes(limit(size)))
    }

    #[pyo3(signature = (size=None))]
    fn readline<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<i64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.take(py, Until::Line(limit(size)))
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
        loop {
            let line = self.take(py, Until::Line(usize::MAX))?;
            if line.as_bytes().is_empty() {
                break;
            }
            total += line.as_bytes().len();
            lines.append(line)?;
            if hint.is_some_and(|h| total >= h) {
                break;
            }
        }
        Ok(lines)
    }

    /// Read into a writable buffer (a `bytearray`, a `memoryview`):
    /// until it is full or the body ends; returns how many bytes.
    fn readinto(&mut self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<usize> {
        let view = PyBuffer::<u8>::get(buffer)?;
        if view.readonly() || !view.is_c_contiguous() {
            return Err(PyTypeError::new_err(
                "readinto() needs a writable, contiguous buffer",
            ));
        }
        // SAFETY: the view keeps the exporter's memory in place while it
        // lives; it is writable and contiguous (checked above).
        let out =
            unsafe { std::slice::from_raw_parts_mut(view.buf_ptr() as *mut u8, view.len_bytes()) };
        match &mut self.source {
            Source::Buffered { body, pos } => {
                let n = body.read_at_py(py, *pos, out)?;
                *pos += n as u64;
                Ok(n)
            }
            Source::Streamed(_) => {
                let bytes = self.take(py, Until::Bytes(out.len()))?;
                let data = bytes.as_bytes();
                out[..data.len()].copy_from_slice(data);
                Ok(data.len())
            }
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.take(py, Until::Line(usize::MAX))?;
        Ok((!line.as_bytes().is_empty()).then_some(line))
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
    fn only_ranges_in_the_temp_file_touch_it() {
        let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let f = tmpfile();
        let body = split_body(&data, &f); // memory 0..100, file 100..200, memory 200..300
        assert!(!body.touches_file(0, 100));
        assert!(body.touches_file(99, 2));
        assert!(body.touches_file(150, 10));
        assert!(!body.touches_file(200, 100));
        assert!(body.touches_file(0, 300));
    }

    #[test]
    fn readinto_fills_the_callers_buffer() {
        Python::initialize();
        let data: Vec<u8> = (0..30000u32).map(|i| (i % 251) as u8).collect();
        let f = tmpfile();
        Python::attach(|py| {
            let input = Py::new(py, Input::new(split_body(&data, &f))).unwrap();
            let buf = pyo3::types::PyByteArray::new(py, &[0u8; 20000]);
            let n: usize = input
                .bind(py)
                .call_method1("readinto", (&buf,))
                .unwrap()
                .extract()
                .unwrap();
            assert_eq!(n, 20000);
            assert_eq!(buf.to_vec(), data[..20000]);
            let n: usize = input
                .bind(py)
                .call_method1("readinto", (&buf,))
                .unwrap()
                .extract()
                .unwrap();
            assert_eq!(n, 10000, "the rest, at the end of the body");
            assert_eq!(buf.to_vec()[..10000], data[20000..]);
            let err = input
                .bind(py)
                .call_method1("readinto", (PyBytes::new(py, b"ro"),))
                .unwrap_err();
            assert!(err.to_string().contains("writable"), "{err}");
        });
    }

    #[test]
    fn a_streamed_body_reads_as_it_arrives_and_raises_oserror_when_cut() {
        use crate::exchange::testing::exchange;
        Python::initialize();
        let (ex, _wakes) = exchange(1024);
        let stream = BodyStream::new(ex, 1024);
        stream.push(b"line one\nline ");
        let feeder = {
            let stream = stream.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                stream.push(b"two\nend");
                stream.end(Err(BodyError::ClientGone));
            })
        };
        Python::attach(|py| {
            let input = Py::new(py, Input::streamed(stream)).unwrap();
            let input = input.bind(py);
            let lines: Vec<Vec<u8>> = (0..3)
                .map(|_| input.call_method0("readline").unwrap().extract().unwrap())
                .collect();
            assert_eq!(
                lines,
                [
                    b"line one\n".to_vec(),
                    b"line two\n".to_vec(),
                    b"end".to_vec()
                ]
            );
            let err = input.call_method0("read").unwrap_err();
            assert!(err.is_instance_of::<pyo3::exceptions::PyConnectionAbortedError>(py));
            assert!(err.is_instance_of::<pyo3::exceptions::PyOSError>(py));
        });
        feeder.join().unwrap();
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
