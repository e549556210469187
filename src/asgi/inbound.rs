//! What a WebSocket client sent, on its way from nginx's event loop (which
//! reads and decodes the frames) to the app's `receive()` on the asyncio
//! loop: whole messages, then the disconnect.
//!
//! Bounded like a streamed request body: once `limit` bytes of messages
//! wait for the app, the event loop stops reading the connection (the
//! client's TCP window then holds it back), and the app's `receive()`
//! nudges it through the exchange once less than half is left. A
//! `receive()` with nothing to take leaves a waker, which the next message
//! or the disconnect calls.

use crate::exchange::{Continuation, Exchange};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A message for `websocket.receive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    Text(String),
    Binary(Vec<u8>),
}

impl Data {
    fn len(&self) -> usize {
        match self {
            Data::Text(t) => t.len(),
            Data::Binary(b) => b.len(),
        }
    }
}

/// What `receive()` takes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Message(Data),
    /// `websocket.disconnect`, with the close code and reason.
    Disconnect(u16, String),
}

#[derive(Default)]
struct State {
    messages: VecDeque<Data>,
    bytes: usize,
    disconnect: Option<(u16, String)>,
    waker: Option<Continuation>,
    /// The event loop stopped reading: the app is behind.
    paused: bool,
}

pub struct Inbound {
    state: Mutex<State>,
    exchange: Arc<Exchange>,
    limit: usize,
}

impl Inbound {
    pub fn new(exchange: Arc<Exchange>, limit: usize) -> Arc<Inbound> {
        Arc::new(Inbound {
            state: Mutex::new(State::default()),
            exchange,
            limit: limit.max(1),
        })
    }

    /// Event loop: a message arrived. False if the app is now behind: stop
    /// reading until the exchange is nudged.
    pub fn push(&self, data: Data) -> bool {
        let (waker, more) = {
            let mut st = self.state.lock().unwrap();
            if st.disconnect.is_some() {
                return true;
            }
            st.bytes += data.len();
            st.messages.push_back(data);
            let more = st.bytes < self.limit;
            st.paused = !more;
            (st.waker.take(), more)
        };
        if let Some(wake) = waker {
            wake();
        }
        more
    }

    /// The connection is over (the client's Close, or it went away, or the
    /// request ended): the first reason given stays. Messages that arrived
    /// before it are still received first.
    pub fn disconnect(&self, code: u16, reason: &str) {
        let waker = {
            let mut st = self.state.lock().unwrap();
            if st.disconnect.is_none() {
                st.disconnect = Some((code, reason.to_owned()));
            }
            st.waker.take()
        };
        if let Some(wake) = waker {
            wake();
        }
    }

    /// Whether the event loop stopped reading and waits for the app to
    /// take enough.
    pub fn is_paused(&self) -> bool {
        self.state.lock().unwrap().paused
    }

    /// Whether a disconnect was given.
    pub fn is_disconnected(&self) -> bool {
        self.state.lock().unwrap().disconnect.is_some()
    }

    /// App: the next message, or the disconnect (again and again once it
    /// came); `None` with `waker` stored, to be called when there is one.
    /// The waker is made outside the lock: making it runs Python, which may
    /// let other threads run, nginx's among them, which must never wait on
    /// this lock for Python.
    pub fn take(&self, waker: impl FnOnce() -> Continuation) -> Option<Received> {
        if let Some(got) = self.pop() {
            return Some(got);
        }
        let waker = waker();
        let mut st = self.state.lock().unwrap();
        if st.messages.is_empty() && st.disconnect.is_none() {
            st.waker = Some(waker);
            return None;
        }
        drop(st);
        // Something came meanwhile: the waker is not needed.
        self.pop()
    }

    fn pop(&self) -> Option<Received> {
        let mut st = self.state.lock().unwrap();
        if let Some(data) = st.messages.pop_front() {
            st.bytes -= data.len();
            if st.paused && st.bytes <= self.limit / 2 {
                st.paused = false;
                drop(st);
                self.exchange.nudge();
            }
            return Some(Received::Message(data));
        }
        st.disconnect
            .as_ref()
            .map(|(code, reason)| Received::Disconnect(*code, reason.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::testing::exchange;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn messages_then_the_disconnect_in_order_and_wakers_called() {
        let (ex, _rx) = exchange(1 << 20);
        let inbound = Inbound::new(ex, 1 << 20);
        let woken = Arc::new(AtomicUsize::new(0));
        let waker = || -> Continuation {
            let w = woken.clone();
            Box::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            })
        };
        assert_eq!(inbound.take(waker), None);
        assert!(inbound.push(Data::Text("a".into())));
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        inbound.push(Data::Binary(vec![1]));
        inbound.disconnect(1000, "bye");
        inbound.disconnect(1006, "ignored: the first reason stays");
        inbound.push(Data::Text("after the disconnect: dropped".into()));
        assert_eq!(
            inbound.take(waker),
            Some(Received::Message(Data::Text("a".into())))
        );
        assert_eq!(
            inbound.take(waker),
            Some(Received::Message(Data::Binary(vec![1])))
        );
        for _ in 0..2 {
            assert_eq!(
                inbound.take(waker),
                Some(Received::Disconnect(1000, "bye".into()))
            );
        }
        assert_eq!(woken.load(Ordering::SeqCst), 1, "no waker was left");
    }

    #[test]
    fn a_message_that_comes_while_the_waker_is_made_is_taken_at_once() {
        let (ex, _rx) = exchange(1 << 20);
        let inbound = Inbound::new(ex, 1 << 20);
        let other = inbound.clone();
        // Making the waker (Python, outside the lock) lets nginx's thread
        // push meanwhile: the message is taken, and no waker is left.
        let got = inbound.take(move || -> Continuation {
            assert!(other.push(Data::Text("meanwhile".into())));
            Box::new(|| panic!("a waker left behind was called"))
        });
        assert_eq!(got, Some(Received::Message(Data::Text("meanwhile".into()))));
        inbound.disconnect(1000, "");
    }

    #[test]
    fn a_full_inbound_pauses_reading_and_the_app_nudges_it_on() {
        let (ex, rx) = exchange(1 << 20);
        let inbound = Inbound::new(ex, 10);
        let nothing = || -> Continuation { Box::new(|| {}) };
        assert!(inbound.push(Data::Binary(vec![0; 4])));
        assert!(
            !inbound.push(Data::Binary(vec![0; 8])),
            "12 bytes wait: stop reading"
        );
        inbound.take(nothing);
        assert!(
            rx.try_recv().is_err(),
            "8 bytes still wait: over half the limit"
        );
        assert!(inbound.is_paused());
        inbound.take(nothing);
        assert!(rx.try_recv().is_ok(), "the event loop is nudged to read on");
        assert!(!inbound.is_paused(), "and finds it may");
    }
}
