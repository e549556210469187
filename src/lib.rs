//! ngx-wsgi: an nginx module that runs Python WSGI applications inside the
//! nginx workers (`wsgi_app`).
//!
//! The pure layers (`wsgi`, `python`, `pool`) know nothing of nginx and are
//! unit-tested with `cargo test --no-default-features`; the nginx-facing
//! code lives in `module`, built with the `module` feature.

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
