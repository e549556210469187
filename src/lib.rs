//! ngx-wsgi: an nginx module that runs Python WSGI and ASGI applications
//! inside the nginx workers (`wsgi_app`, `asgi_app`).
//!
//! The pure layers (`wsgi`, `asgi`, `exchange`, `websocket`, `python`,
//! `pool`) know nothing of nginx and are unit-tested with
//! `cargo test --no-default-features`; the nginx-facing code lives in
//! `module`, `conf` and `http`, built with the `module` feature.

pub mod asgi;
pub mod exchange;
pub mod log;
pub mod metrics;
pub mod pool;
pub mod python;
pub mod uwsgi;
pub mod websocket;
pub mod wsgi;

#[cfg(all(feature = "module", not(test)))]
mod conf;
#[cfg(all(feature = "module", not(test)))]
mod http;
#[cfg(all(feature = "module", not(test)))]
mod module;
