//! The WSGI environ: the request's CGI variables as latin-1 `str`, plus the
//! `wsgi.*` keys. The constant part is built once per worker and copied.

use super::cgi::Vars;
use super::input::Input;
use super::log_stream::LogStream;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

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

/// The keys every request shares.
pub struct EnvironTemplate {
    base: Py<PyDict>,
}

impl EnvironTemplate {
    pub fn new(py: Python<'_>, multiprocess: bool) -> PyResult<EnvironTemplate> {
        let base = PyDict::new(py);
        base.set_item("wsgi.version", (1, 0))?;
        base.set_item("wsgi.multithread", true)?;
        base.set_item("wsgi.multiprocess", multiprocess)?;
        base.set_item("wsgi.run_once", false)?;
        base.set_item("wsgi.input_terminated", true)?;
        base.set_item(
            "wsgi.file_wrapper",
            py.get_type::<super::file_wrapper::FileWrapper>(),
        )?;
        Ok(EnvironTemplate {
            base: base.unbind(),
        })
    }

    pub fn build<'py>(
        &self,
        py: Python<'py>,
        vars: &Vars,
        https: bool,
        single_threaded: bool,
        input: Input,
        errors: LogStream,
    ) -> PyResult<Bound<'py, PyDict>> {
        let environ = self.base.bind(py).copy()?;
        for (key, value) in vars {
            environ.set_item(latin1_str(py, key), latin1_str(py, value))?;
        }
        environ.set_item("wsgi.url_scheme", if https { "https" } else { "http" })?;
        if single_threaded {
            environ.set_item("wsgi.multithread", false)?;
        }
        environ.set_item("wsgi.input", Bound::new(py, input)?)?;
        environ.set_item("wsgi.errors", Bound::new(py, errors)?)?;
        Ok(environ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
