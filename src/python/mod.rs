//! The embedded interpreter: start-up, app import, the Python threads.

pub mod app;
pub mod interpreter;
pub mod runtime;
