//! The module's metrics, as plain data: no nginx, no Python.

mod local;
mod lock;

pub use local::*;
