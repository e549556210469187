//! The `ngx_wsgi` module that apps can import: what the server raises into
//! them, by name.

use pyo3::prelude::*;
use pyo3::types::PyModule;

pyo3::create_exception!(
    ngx_wsgi,
    RequestTimeout,
    pyo3::exceptions::PyBaseException,
    "Raised into a request's thread when it has spent longer than \
     wsgi_request_timeout in the app. A BaseException, as KeyboardInterrupt \
     is, so that `except Exception` does not swallow it; the response's \
     close() still runs."
);

pyo3::create_exception!(
    ngx_wsgi,
    ClientDisconnected,
    pyo3::exceptions::PyOSError,
    "Raised by an ASGI send() after the client has gone (ASGI spec 2.4: a \
     server-specific subclass of OSError)."
);

/// Build the module and make it importable (`sys.modules["ngx_wsgi"]`).
pub fn install(py: Python<'_>) -> PyResult<()> {
    let m = PyModule::new(py, "ngx_wsgi")?;
    m.add("RequestTimeout", py.get_type::<RequestTimeout>())?;
    m.add("ClientDisconnected", py.get_type::<ClientDisconnected>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    py.import("sys")?
        .getattr("modules")?
        .set_item("ngx_wsgi", m)?;
    Ok(())
}
