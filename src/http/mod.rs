//! The nginx side: the content handler, the hand-off to the Python threads
//! and the asyncio loop, writing responses from the event loop, and
//! WebSocket connections.

pub mod body;
pub mod handler;
pub mod log;
pub mod metrics;
pub mod output;
pub mod request;
pub mod status;
pub mod timeout;
pub mod variables;
pub mod websocket;
pub mod worker;

/// Run `f`, turning a panic into `fallback`: a Rust panic must not unwind
/// into nginx's C frames.
pub fn guard<R>(fallback: R, f: impl FnOnce() -> R) -> R {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        log::NginxLog.log(
            crate::log::Level::Error,
            "wsgi: internal error (panic) in the nginx handler",
        );
        fallback
    })
}

use crate::log::Log;
