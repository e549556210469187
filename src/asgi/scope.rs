//! The connection scope of an ASGI request (ASGI 3.0, spec version 2.4),
//! from the same request parts as WSGI's environ:
//!
//! - `path` is the whole decoded path, `root_path` included (as the spec's
//!   WSGI-compatibility note, uvicorn and Granian have it); `root_path` is
//!   the location prefix, as `SCRIPT_NAME` is for WSGI, or a
//!   `wsgi_param SCRIPT_NAME` where one is given;
//! - `raw_path` and `query_string` are the bytes as sent;
//! - `headers` are the request's, in the order received, names
//!   lower-cased, values as sent (repeats kept apart, as ASGI wants);
//! - `client` and `server` are `(host, port)`, the local address for
//!   `server` (a unix socket's path, with `None` for the port).

use crate::wsgi::cgi::{split_script_name, Field, RequestParts};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    WebSocket,
}

/// What every scope of a worker shares.
pub struct ScopeTemplate {
    asgi: Py<PyDict>,
    extensions: Py<PyDict>,
}

/// `HTTP/1.1` → `1.1`, `HTTP/2.0` → `2`.
fn http_version(protocol: &[u8]) -> &str {
    match protocol {
        b"HTTP/2.0" => "2",
        b"HTTP/3.0" => "3",
        b"HTTP/1.0" => "1.0",
        _ => "1.1",
    }
}

/// `(host, port)`: the port as an int, or `None` where there is none
/// (a unix socket).
fn address<'py>(py: Python<'py>, host: &[u8], port: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
    let port = std::str::from_utf8(port)
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
        .map_or_else(
            || py.None().into_bound(py),
            |p| p.into_pyobject(py).unwrap().into_any(),
        );
    PyTuple::new(
        py,
        [
            PyString::new(py, &String::from_utf8_lossy(host)).into_any(),
            port,
        ],
    )
}

impl ScopeTemplate {
    pub fn new(py: Python<'_>) -> PyResult<ScopeTemplate> {
        let asgi = PyDict::new(py);
        asgi.set_item("version", "3.0")?;
        asgi.set_item("spec_version", "2.4")?;
        let extensions = PyDict::new(py);
        extensions.set_item("http.response.pathsend", PyDict::new(py))?;
        Ok(ScopeTemplate {
            asgi: asgi.unbind(),
            extensions: extensions.unbind(),
        })
    }

    pub fn build<'py>(
        &self,
        py: Python<'py>,
        parts: &RequestParts,
        kind: Kind,
        state: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let scope = PyDict::new(py);
        let tls = parts.https;
        let (ty, scheme) = match kind {
            Kind::Http => ("http", if tls { "https" } else { "http" }),
            Kind::WebSocket => ("websocket", if tls { "wss" } else { "ws" }),
        };
        scope.set_item(intern!(py, "type"), ty)?;
        scope.set_item(intern!(py, "asgi"), self.asgi.bind(py))?;
        scope.set_item(
            intern!(py, "http_version"),
            http_version(parts.get(Field::Protocol)),
        )?;
        if kind == Kind::Http {
            scope.set_item(
                intern!(py, "method"),
                PyString::new(py, &String::from_utf8_lossy(parts.get(Field::Method))),
            )?;
        }
        scope.set_item(intern!(py, "scheme"), scheme)?;
        let uri = parts.get(Field::Uri);
        // `wsgi_param SCRIPT_NAME` mounts the app elsewhere than its
        // location's prefix (a regex or nested location).
        let root_path = match parts.params().rev().find(|(k, _)| *k == b"SCRIPT_NAME") {
            Some((_, v)) => v.strip_suffix(b"/").unwrap_or(v),
            None => split_script_name(parts.get(Field::ScriptName), uri).0,
        };
        scope.set_item(intern!(py, "path"), String::from_utf8_lossy(uri))?;
        let request_uri = parts.get(Field::RequestUri);
        let raw_path = request_uri.split(|&c| c == b'?').next().unwrap_or_default();
        scope.set_item(intern!(py, "raw_path"), PyBytes::new(py, raw_path))?;
        scope.set_item(
            intern!(py, "query_string"),
            PyBytes::new(py, parts.get(Field::QueryString)),
        )?;
        scope.set_item(intern!(py, "root_path"), String::from_utf8_lossy(root_path))?;
        let headers = PyList::empty(py);
        let mut subprotocols = Vec::new();
        for (name, value) in parts.headers() {
            let lower = PyBytes::new_with(py, name.len(), |b| {
                b.copy_from_slice(name);
                b.make_ascii_lowercase();
                Ok(())
            })?;
            if kind == Kind::WebSocket && name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
                subprotocols.extend(
                    value
                        .split(|&c| c == b',')
                        .map(|p| String::from_utf8_lossy(p).trim().to_string())
                        .filter(|p| !p.is_empty()),
                );
            }
            headers.append(PyTuple::new(
                py,
                [lower.into_any(), PyBytes::new(py, value).into_any()],
            )?)?;
        }
        scope.set_item(intern!(py, "headers"), headers)?;
        scope.set_item(
            intern!(py, "client"),
            address(
                py,
                parts.get(Field::RemoteAddr),
                parts.get(Field::RemotePort),
            )?,
        )?;
        scope.set_item(
            intern!(py, "server"),
            address(
                py,
                parts.get(Field::ServerAddr),
                parts.get(Field::ServerPort),
            )?,
        )?;
        if kind == Kind::WebSocket {
            scope.set_item(intern!(py, "subprotocols"), subprotocols)?;
        } else {
            scope.set_item(intern!(py, "extensions"), self.extensions.bind(py).copy()?)?;
        }
        if let Some(state) = state {
            scope.set_item(intern!(py, "state"), state.copy()?)?;
        }
        Ok(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> RequestParts {
        let mut p = RequestParts::default();
        p.set(Field::Method, b"POST")
            .set(Field::RequestUri, b"/app/a%20b?x=1")
            .set(Field::Uri, b"/app/a b")
            .set(Field::QueryString, b"x=1")
            .set(Field::Protocol, b"HTTP/2.0")
            .set(Field::ScriptName, b"/app/")
            .set(Field::RemoteAddr, b"10.0.0.1")
            .set(Field::RemotePort, b"5000")
            .set(Field::ServerAddr, b"127.0.0.1")
            .set(Field::ServerPort, b"8080")
            .add_header(b"Host", b"h")
            .add_header(b"X-Multi", b"1")
            .add_header(b"x-multi", b"2")
            .add_header(b"Sec-WebSocket-Protocol", b"chat, superchat");
        p
    }

    #[test]
    fn an_http_scope_has_the_spec_keys() {
        Python::initialize();
        Python::attach(|py| {
            let t = ScopeTemplate::new(py).unwrap();
            let state = PyDict::new(py);
            state.set_item("db", "pool").unwrap();
            let s = t.build(py, &parts(), Kind::Http, Some(&state)).unwrap();
            let get = |k: &str| s.get_item(k).unwrap().unwrap();
            let mut keys: Vec<String> = s.keys().extract().unwrap();
            keys.sort();
            assert_eq!(
                keys,
                [
                    "asgi",
                    "client",
                    "extensions",
                    "headers",
                    "http_version",
                    "method",
                    "path",
                    "query_string",
                    "raw_path",
                    "root_path",
                    "scheme",
                    "server",
                    "state",
                    "type"
                ]
            );
            assert_eq!(get("type").extract::<String>().unwrap(), "http");
            assert_eq!(get("http_version").extract::<String>().unwrap(), "2");
            assert_eq!(
                get("path").extract::<String>().unwrap(),
                "/app/a b",
                "root_path included"
            );
            assert_eq!(get("root_path").extract::<String>().unwrap(), "/app");
            assert_eq!(get("raw_path").extract::<Vec<u8>>().unwrap(), b"/app/a%20b");
            assert_eq!(get("query_string").extract::<Vec<u8>>().unwrap(), b"x=1");
            let headers: Vec<(Vec<u8>, Vec<u8>)> = get("headers").extract().unwrap();
            assert_eq!(headers[0], (b"host".to_vec(), b"h".to_vec()));
            assert_eq!(headers[1].0, b"x-multi");
            assert_eq!(
                headers[2],
                (b"x-multi".to_vec(), b"2".to_vec()),
                "repeats apart"
            );
            assert_eq!(
                get("client").extract::<(String, u16)>().unwrap(),
                ("10.0.0.1".into(), 5000)
            );
            assert_eq!(
                get("server").extract::<(String, u16)>().unwrap(),
                ("127.0.0.1".into(), 8080)
            );
            let mut mounted = parts();
            mounted.add_param(b"SCRIPT_NAME", b"/mounted/");
            let m = t.build(py, &mounted, Kind::Http, None).unwrap();
            let root: String = m.get_item("root_path").unwrap().unwrap().extract().unwrap();
            assert_eq!(root, "/mounted", "wsgi_param SCRIPT_NAME sets root_path");
            let copied = get("state");
            assert!(!copied.is(&state), "each request gets a copy of the state");
            assert_eq!(
                copied.get_item("db").unwrap().extract::<String>().unwrap(),
                "pool"
            );
        });
    }

    #[test]
    fn a_websocket_scope_has_subprotocols_and_no_method() {
        Python::initialize();
        Python::attach(|py| {
            let t = ScopeTemplate::new(py).unwrap();
            let mut p = parts();
            p.https = true;
            let s = t.build(py, &p, Kind::WebSocket, None).unwrap();
            assert!(s.get_item("method").unwrap().is_none());
            assert_eq!(
                s.get_item("scheme")
                    .unwrap()
                    .unwrap()
                    .extract::<String>()
                    .unwrap(),
                "wss"
            );
            let subs: Vec<String> = s
                .get_item("subprotocols")
                .unwrap()
                .unwrap()
                .extract()
                .unwrap();
            assert_eq!(subs, ["chat", "superchat"]);
        });
    }
}
