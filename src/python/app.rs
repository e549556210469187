//! `wsgi_app MODULE[:CALLABLE]` and `asgi_app MODULE[:CALLABLE]`: parsing
//! the spec (at `nginx -t`) and importing the callable (once per worker).

use pyo3::prelude::*;

/// How the server calls the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    /// PEP 3333, on the thread pool (or inline).
    Wsgi,
    /// ASGI 3, as tasks on the worker's asyncio loop.
    Asgi,
}

/// An app as the configuration gives it to the workers.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub spec: AppSpec,
    /// The `sys.path` entries its location asks for.
    pub sys_path: Vec<String>,
    /// `asgi_lifespan` (ASGI apps only).
    pub lifespan: crate::asgi::lifespan::Mode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    pub module: String,
    /// An attribute path inside the module, e.g. `application` or `app.wsgi_app`.
    pub callable: String,
    pub interface: Interface,
}

impl std::fmt::Display for AppSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.module, self.callable)
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

fn is_dotted(s: &str) -> bool {
    s.split('.').all(is_identifier)
}

impl AppSpec {
    /// `MODULE[:CALLABLE]`; CALLABLE defaults to `application` for WSGI
    /// (as mod_wsgi) and `app` for ASGI (as uvicorn).
    pub fn parse(spec: &str, interface: Interface) -> Result<AppSpec, String> {
        let default = match interface {
            Interface::Wsgi => "application",
            Interface::Asgi => "app",
        };
        let (module, callable) = spec.split_once(':').unwrap_or((spec, default));
        if !is_dotted(module) {
            return Err(format!("\"{module}\" is not a Python module name"));
        }
        if !is_dotted(callable) {
            return Err(format!("\"{callable}\" is not a Python attribute name"));
        }
        Ok(AppSpec {
            module: module.into(),
            callable: callable.into(),
            interface,
        })
    }

    /// Import the module and look the callable up. The error carries the
    /// Python traceback for the log.
    pub fn load(&self, py: Python<'_>) -> Result<Py<PyAny>, String> {
        let tb = |e: PyErr| crate::wsgi::request_log::format_traceback(py, &e);
        let mut obj = py.import(self.module.as_str()).map_err(tb)?.into_any();
        for attr in self.callable.split('.') {
            obj = obj.getattr(attr).map_err(|_| {
                format!(
                    "module \"{}\" has no attribute \"{}\"",
                    self.module, self.callable
                )
            })?;
        }
        if !obj.is_callable() {
            let kind = obj
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            return Err(format!("\"{self}\" is not callable (it is a {kind})"));
        }
        Ok(obj.unbind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!(
            AppSpec::parse("myproj.wsgi", Interface::Wsgi)
                .unwrap()
                .to_string(),
            "myproj.wsgi:application"
        );
        assert_eq!(
            AppSpec::parse("myproj.asgi", Interface::Asgi)
                .unwrap()
                .to_string(),
            "myproj.asgi:app",
            "ASGI's callable defaults to app"
        );
        assert_eq!(
            AppSpec::parse("app:server.wsgi_app", Interface::Wsgi)
                .unwrap()
                .callable,
            "server.wsgi_app"
        );
        for bad in [
            "",
            "a b",
            "mod:",
            ":app",
            "1mod",
            "mod:app:x",
            "mod..x",
            "mod:app()",
        ] {
            assert!(AppSpec::parse(bad, Interface::Wsgi).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn load_reports_what_is_wrong() {
        Python::initialize();
        Python::attach(|py| {
            assert!(AppSpec::parse("os.path:join", Interface::Wsgi)
                .unwrap()
                .load(py)
                .is_ok());
            let e = AppSpec::parse("no_such_module_here", Interface::Wsgi)
                .unwrap()
                .load(py)
                .unwrap_err();
            assert!(e.contains("ModuleNotFoundError"), "{e}");
            let e = AppSpec::parse("os:no_such_attr", Interface::Wsgi)
                .unwrap()
                .load(py)
                .unwrap_err();
            assert!(e.contains("has no attribute"), "{e}");
            let e = AppSpec::parse("os:sep", Interface::Wsgi)
                .unwrap()
                .load(py)
                .unwrap_err();
            assert!(e.contains("not callable"), "{e}");
        });
    }
}
