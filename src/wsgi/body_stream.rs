//! A request body that the app reads while it is still arriving
//! (`wsgi_request_buffering off`): the event loop copies in what nginx
//! receives, the request's Python thread reads it out (without the GIL,
//! blocking until there is enough).
//!
//! The stream is bounded: once `limit` bytes wait unread, the event loop
//! stops reading from the client (`pause`), so a fast uploader cannot fill
//! memory, and the client's TCP window (or HTTP/2 flow control) holds it
//! back. When the reader has taken enough that less than half the limit is
//! left, it nudges the event loop through the request's exchange, which
//! reads on.

use crate::exchange::Exchange;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

/// Why the body ended before it was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over `client_max_body_size` (a chunked or HTTP/2 body: a declared
    /// Content-Length over it is refused before the app is called).
    TooLarge,
    /// The client sent nothing for `client_body_timeout`.
    TimedOut,
    /// The client closed the connection, or sent a malformed body.
    ClientGone,
    /// The request is over (it timed out, or was finalized).
    Cancelled,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyError::TooLarge => "the request body is larger than client_max_body_size",
            BodyError::TimedOut => "the client sent no body for client_body_timeout",
            BodyError::ClientGone => "the client closed the connection while sending the body",
            BodyError::Cancelled => "the request is over",
        })
    }
}

#[derive(Default)]
struct State {
    chunks: VecDeque<Vec<u8>>,
    /// How much of the front chunk was read.
    front_read: usize,
    unread: usize,
    /// The whole body arrived (`Ok`), or why it will not.
    end: Option<Result<(), BodyError>>,
    /// The event loop stopped reading because the stream was full.
    paused: bool,
    /// A reader waits until this many bytes are unread (0: none waits).
    /// Waking it for less would cost a wake-up per buffer nginx reads.
    wake_at: usize,
}

pub struct BodyStream {
    state: Mutex<State>,
    arrived: Condvar,
    /// Whose event loop to nudge when there is room again.
    exchange: Arc<Exchange>,
    limit: usize,
}

/// How a read ends: at `max` bytes, or at (and including) a delimiter.
#[derive(Clone, Copy)]
pub enum Until {
    Bytes(usize),
    Line(usize),
}

impl BodyStream {
    pub fn new(exchange: Arc<Exchange>, limit: usize) -> Arc<BodyStream> {
        Arc::new(BodyStream {
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
            exchange,
            limit: limit.max(1),
        })
    }

    /// Event loop: bytes from the client.
    pub fn push(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut st = self.state.lock().unwrap();
        if st.end.is_some() {
            return;
        }
        st.unread += data.len();
        st.chunks.push_back(data.to_vec());
        let wake = st.wake_at > 0 && st.unread >= st.wake_at;
        drop(st);
        // A notify is a system call even with no one waiting.
        if wake {
            self.arrived.notify_all();
        }
    }

    /// Event loop: may it read more from the client now? If not, the
    /// stream remembers that it paused, and the reader nudges it later.
    pub fn wants_more(&self) -> bool {
        let mut st = self.state.lock().unwrap();
        st.paused = st.end.is_none() && st.unread >= self.limit;
        !st.paused && st.end.is_none()
    }

    /// Event loop: the body is complete (`Ok`), or ended for `why`.
    pub fn end(&self, result: Result<(), BodyError>) {
        let mut st = self.state.lock().unwrap();
        st.end.get_or_insert(result);
        st.wake_at = 1;
        drop(st);
        self.arrived.notify_all();
    }

    /// Whether the body ended, complete or not.
    pub fn ended(&self) -> bool {
        self.state.lock().unwrap().end.is_some()
    }

    /// Reader: append to `out` until `until` is met or the body ends;
    /// blocks while there is nothing to take. Ok even if the body ended
    /// short of `until` (the caller sees fewer bytes); an error only if the
    /// body ended in one and nothing more is left to read.
    pub fn read(&self, until: Until, out: &mut Vec<u8>) -> Result<(), BodyError> {
        let (max, line) = match until {
            Until::Bytes(n) => (n, false),
            Until::Line(n) => (n, true),
        };
        let mut taken = 0;
        let mut st = self.state.lock().unwrap();
        loop {
            while taken < max {
                let Some(front) = st.chunks.front() else {
                    break;
                };
                let avail = &front[st.front_read..];
                let mut n = avail.len().min(max - taken);
                let mut done = false;
                if line {
                    if let Some(i) = avail[..n].iter().position(|&c| c == b'\n') {
                        n = i + 1;
                        done = true;
                    }
                }
                out.extend_from_slice(&avail[..n]);
                taken += n;
                st.front_read += n;
                st.unread -= n;
                if st.front_read == st.chunks.front().map_or(0, Vec::len) {
                    st.chunks.pop_front();
                    st.front_read = 0;
                }
                if done {
                    return self.after_read(st, Ok(()));
                }
            }
            if taken == max {
                return self.after_read(st, Ok(()));
            }
            match st.end {
                Some(Ok(())) => return self.after_read(st, Ok(())),
                Some(Err(e)) if taken == 0 => return self.after_read(st, Err(e)),
                Some(Err(_)) => return self.after_read(st, Ok(())),
                None => {}
            }
            // Nothing left to take (so the event loop is not paused: it
            // pauses only when the stream is full): wait for more, but not
            // for more than half the stream holds, or the event loop would
            // pause with the reader still waiting.
            let need = if line { 1 } else { max - taken };
            st.wake_at = need.min(self.limit / 2).max(1);
            st = self.arrived.wait(st).unwrap();
            st.wake_at = 0;
        }
    }

    /// A read took bytes: if the event loop paused and there is room
    /// enough again, nudge it.
    fn after_read(
        &self,
        mut st: std::sync::MutexGuard<'_, State>,
        result: Result<(), BodyError>,
    ) -> Result<(), BodyError> {
        if st.paused && st.unread < self.limit / 2 {
            st.paused = false;
            drop(st);
            self.exchange.nudge();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::testing::exchange;
    use std::time::Duration;

    #[test]
    fn reads_bytes_and_lines_across_chunks() {
        let (ex, _wakes) = exchange(1024);
        let s = BodyStream::new(ex, 1024);
        s.push(b"first li");
        s.push(b"ne\nsecond\nrest");
        s.end(Ok(()));
        let mut out = Vec::new();
        s.read(Until::Line(100), &mut out).unwrap();
        assert_eq!(out, b"first line\n");
        out.clear();
        s.read(Until::Line(3), &mut out).unwrap();
        assert_eq!(out, b"sec", "a line is cut at its size limit");
        out.clear();
        s.read(Until::Bytes(usize::MAX), &mut out).unwrap();
        assert_eq!(out, b"ond\nrest", "read() takes the rest");
        out.clear();
        s.read(Until::Bytes(10), &mut out).unwrap();
        assert!(out.is_empty(), "at the end: nothing, no error");
    }

    #[test]
    fn a_reader_waits_for_what_it_asked_and_gets_it_as_it_comes() {
        let (ex, _wakes) = exchange(1024);
        let s = BodyStream::new(ex, 1024);
        let reader = {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                s.read(Until::Bytes(6), &mut out).map(|()| out)
            })
        };
        s.push(b"abc");
        std::thread::sleep(Duration::from_millis(30));
        assert!(!reader.is_finished(), "3 of 6 bytes: still waiting");
        s.push(b"defgh");
        assert_eq!(reader.join().unwrap().unwrap(), b"abcdef");
    }

    #[test]
    fn a_full_stream_pauses_the_event_loop_and_the_reader_nudges_it() {
        let (ex, wakes) = exchange(1024);
        let s = BodyStream::new(ex, 8);
        s.push(b"12345678");
        assert!(!s.wants_more(), "full: the event loop stops reading");
        let mut out = Vec::new();
        s.read(Until::Bytes(2), &mut out).unwrap();
        assert!(wakes.try_recv().is_err(), "6 of 8 left: not yet");
        s.read(Until::Bytes(3), &mut out).unwrap();
        assert_eq!(
            wakes.try_recv(),
            Ok(7),
            "under half: the event loop is nudged"
        );
        assert!(s.wants_more());
    }

    #[test]
    fn errors_come_after_the_bytes_that_arrived() {
        let (ex, _wakes) = exchange(1024);
        let s = BodyStream::new(ex, 1024);
        s.push(b"partial");
        s.end(Err(BodyError::ClientGone));
        let mut out = Vec::new();
        s.read(Until::Bytes(100), &mut out).unwrap();
        assert_eq!(out, b"partial");
        out.clear();
        assert_eq!(
            s.read(Until::Bytes(100), &mut out),
            Err(BodyError::ClientGone)
        );
        let cancelled = {
            let (ex, _w) = exchange(1024);
            let s = BodyStream::new(ex, 1024);
            let reader = {
                let s = s.clone();
                std::thread::spawn(move || s.read(Until::Bytes(1), &mut Vec::new()))
            };
            std::thread::sleep(Duration::from_millis(20));
            s.end(Err(BodyError::Cancelled));
            reader.join().unwrap()
        };
        assert_eq!(
            cancelled,
            Err(BodyError::Cancelled),
            "a waiting reader is woken"
        );
    }
}
