//! PEP 3333, in plain pyo3 code that runs (and is tested) without nginx.

pub mod body_stream;
pub mod call;
pub mod cgi;
pub mod environ;
pub mod file_wrapper;
pub mod input;
pub mod log_stream;
pub mod request_log;
pub mod response;
pub mod spill;
