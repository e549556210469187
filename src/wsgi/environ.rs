//! The WSGI environ: the request's CGI variables as latin-1 `str`, plus the
//! `wsgi.*` keys. The constant part is built once per worker and copied;
//! keys are interned once, and a value equal to the previous request's
//! reuses its `str`.

use super::cgi::{visit_cgi_vars, Key, RequestParts, FIXED_KEYS};
use super::input::Input;
use super::log_stream::LogStream;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::collections::HashMap;
use std::sync::Mutex;

/// A native string (PEP 3333): each byte becomes the code point of the same
/// value, so any byte sequence round-trips through `.encode('latin-1')`.
pub fn latin1_str<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        return PyString::new(py, unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    // SAFETY: the decoder copies `bytes` and returns a new reference (or
    // NULL with an exception set, which latin-1 decoding cannot raise).
    unsafe {
        let ptr = pyo3::ffi::PyUnicode_DecodeLatin1(
            bytes.as_ptr().cast(),
            bytes.len() as isize,
            std::ptr::null(),
        );
        Bound::from_owned_ptr(py, ptr).cast_into_unchecked()
    }
}

/// Values longer than this are not remembered between requests.
const MEMO_MAX: usize = 256;
/// At most this many distinct HTTP_* / `wsgi_param` names are kept.
const NAMES_MAX: usize = 256;

/// One name's ready-made key, and the value it had last time: most values
/// (method, protocol, server name, Host, User-Agent, ...) repeat from one
/// request to the next, and a `str` is immutable, so it can be shared.
struct Slot {
    key: Py<PyString>,
    last: Option<(Vec<u8>, Py<PyString>)>,
    /// Values that change with every request are not worth remembering.
    remember: bool,
}

impl Slot {
    fn new(key: Py<PyString>, remember: bool) -> Slot {
        Slot {
            key,
            last: None,
            remember,
        }
    }

    /// `environ[key] = value`.
    fn put(&mut self, environ: &Bound<'_, PyDict>, bytes: &[u8]) -> PyResult<()> {
        let value = self.value(environ.py(), bytes);
        environ.set_item(self.key.bind(environ.py()), value)
    }

    fn value<'py>(&mut self, py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
        if let Some((b, s)) = &self.last {
            if b.as_slice() == bytes {
                return s.bind(py).clone();
            }
        }
        let s = latin1_str(py, bytes);
        if self.remember && bytes.len() <= MEMO_MAX {
            match &mut self.last {
                // Reuse the buffer: no allocation once it is big enough.
                Some((b, old)) => {
                    b.clear();
                    b.extend_from_slice(bytes);
                    *old = s.clone().unbind();
                }
                None => self.last = Some((bytes.to_vec(), s.clone().unbind())),
            }
        }
        s
    }
}

/// Per-name state, touched only with the GIL held (the mutex is never
/// contended; it makes the sharing between threads explicit).
struct Names {
    fixed: Vec<Slot>,
    other: HashMap<Vec<u8>, Slot>,
}

/// The keys every request shares, and interned keys for the others.
pub struct EnvironTemplate {
    /// The constant keys: for the thread pool, and for `wsgi_inline`
    /// (`wsgi.multithread` false).
    base: Py<PyDict>,
    base_inline: Py<PyDict>,
    names: Mutex<Names>,
}

/// Fixed keys whose value differs with every request.
fn changes_every_request(key: &str) -> bool {
    matches!(
        key,
        "QUERY_STRING" | "REQUEST_URI" | "PATH_INFO" | "REMOTE_PORT" | "CONTENT_LENGTH"
    )
}

impl EnvironTemplate {
    /// `errors` is the worker's `wsgi.errors`: one stream for every
    /// request, like `sys.stderr` (it carries no request context).
    pub fn new(py: Python<'_>, multiprocess: bool, errors: LogStream) -> PyResult<EnvironTemplate> {
        let base = PyDict::new(py);
        base.set_item("wsgi.errors", Bound::new(py, errors)?)?;
        base.set_item("wsgi.version", (1, 0))?;
        base.set_item("wsgi.multithread", true)?;
        base.set_item("wsgi.multiprocess", multiprocess)?;
        base.set_item("wsgi.run_once", false)?;
        base.set_item("wsgi.input_terminated", true)?;
        base.set_item(
            "wsgi.file_wrapper",
            py.get_type::<super::file_wrapper::FileWrapper>(),
        )?;
        let fixed = FIXED_KEYS
            .iter()
            .map(|k| Slot::new(PyString::intern(py, k).unbind(), !changes_every_request(k)))
            .collect();
        Ok(EnvironTemplate {
            base_inline: {
                let inline = base.copy()?;
                inline.set_item("wsgi.multithread", false)?;
                inline.unbind()
            },
            base: base.unbind(),
            names: Mutex::new(Names {
                fixed,
                other: HashMap::new(),
            }),
        })
    }

    pub fn build<'py>(
        &self,
        py: Python<'py>,
        parts: &RequestParts,
        single_threaded: bool,
        input: Input,
    ) -> PyResult<Bound<'py, PyDict>> {
        let base = if single_threaded {
            &self.base_inline
        } else {
            &self.base
        };
        let environ = base.bind(py).copy()?;
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let names = &mut *names;
        let mut result = Ok(());
        visit_cgi_vars(parts, |key, value| {
            if result.is_err() {
                return;
            }
            let room = names.other.len() < NAMES_MAX;
            result = match key {
                Key::Fixed(i) => names.fixed[i].put(&environ, value),
                Key::Other(name) => match names.other.get_mut(name) {
                    Some(slot) => slot.put(&environ, value),
                    None if room => {
                        let mut slot = Slot::new(latin1_str(py, name).unbind(), true);
                        let r = slot.put(&environ, value);
                        names.other.insert(name.to_vec(), slot);
                        r
                    }
                    None => environ.set_item(latin1_str(py, name), latin1_str(py, value)),
                },
            };
        });
        result?;
        environ.set_item(
            "wsgi.url_scheme",
            if parts.https { "https" } else { "http" },
        )?;
        environ.set_item("wsgi.input", Bound::new(py, input)?)?;
        Ok(environ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testing::Collect;
    use crate::log::Level;
    use crate::wsgi::cgi::Field;
    use crate::wsgi::input::Body;
    use std::sync::Arc;

    fn environ<'py>(
        py: Python<'py>,
        template: &EnvironTemplate,
        method: &[u8],
        host: &[u8],
    ) -> Bound<'py, PyDict> {
        let mut p = RequestParts::default();
        p.set(Field::Method, method)
            .set(Field::RequestUri, b"/x")
            .add_header(b"Host", host);
        template
            .build(py, &p, false, Input::new(Body::default()))
            .unwrap()
    }

    fn get(environ: &Bound<'_, PyDict>, key: &str) -> String {
        environ.get_item(key).unwrap().unwrap().extract().unwrap()
    }

    #[test]
    fn remembered_values_follow_the_request() {
        Python::initialize();
        Python::attach(|py| {
            let errors = LogStream::new(Arc::new(Collect::default()), Level::Error, String::new());
            let template = EnvironTemplate::new(py, false, errors).unwrap();
            let a = environ(py, &template, b"GET", b"a.example");
            let b = environ(py, &template, b"GET", b"a.example");
            let c = environ(py, &template, b"POST", b"caf\xe9.example");
            let d = environ(py, &template, b"GET", b"a.example");
            assert_eq!(get(&a, "REQUEST_METHOD"), "GET");
            assert_eq!(get(&c, "REQUEST_METHOD"), "POST");
            assert_eq!(get(&c, "HTTP_HOST"), "caf\u{e9}.example");
            assert_eq!(get(&d, "REQUEST_METHOD"), "GET");
            assert_eq!(get(&d, "HTTP_HOST"), "a.example");
            let same = |x: &Bound<'_, PyDict>, y: &Bound<'_, PyDict>, k: &str| {
                x.get_item(k)
                    .unwrap()
                    .unwrap()
                    .is(&y.get_item(k).unwrap().unwrap())
            };
            assert!(same(&a, &b, "HTTP_HOST"), "a repeated value is shared");
            assert!(same(&a, &b, "REQUEST_METHOD"));
            assert!(!same(&a, &c, "HTTP_HOST"));
            assert_eq!(get(&a, "REQUEST_URI"), "/x");
            assert_eq!(get(&a, "wsgi.url_scheme"), "http");
        });
    }

    #[test]
    fn latin1_round_trips_every_byte() {
        Python::initialize();
        Python::attach(|py| {
            let all: Vec<u8> = (0..=255).collect();
            let s = latin1_str(py, &all);
            let back: Vec<u8> = s
                .call_method1("encode", ("latin-1",))
                .unwrap()
                .extract()
                .unwrap();
            assert_eq!(back, all);
        });
    }
}
