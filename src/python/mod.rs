//! The embedded interpreter: start-up, app import, the Python threads.

pub mod app;
pub mod event_loop;
pub mod interpreter;
pub mod interrupt;
pub mod ngx_wsgi;
pub mod runtime;
