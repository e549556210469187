//! An `asgi_app` WebSocket on nginx's side.
//!
//! Before the app accepts, the request is an HTTP request like the others
//! (a refusal is a `403`, a failure a `500`, through `output::pump`). The
//! app's accept is a `101` head in the exchange: `upgrade` sends it with
//! nginx's header filter, and from then on the connection is this
//! module's, as an upgraded connection is `ngx_http_upstream`'s: `drive`
//! reads the client's bytes with `c->recv` (decoded by
//! `websocket::Reader`, whole messages into the app's `Inbound`) and
//! writes the app's frames with `c->send` (from a `websocket::Outbox`, fed
//! by the exchange with the backpressure of an HTTP response).
//!
//! nginx answers Pings itself and runs the closing handshake: the client's
//! Close is echoed and ends the connection; after the app's Close (or its
//! end), the client has `CLOSE_WAIT` to answer before the connection
//! closes. A protocol error is a Close with its code (1002, 1007, 1009).
//! The request is released once both the connection and the app are done.
//!
//! A client that stays silent for half of `asgi_websocket_timeout` gets a
//! Ping (a live client, a browser included, answers it); one silent for
//! all of it is closed with 1011, as the `websockets` library does for a
//! keepalive that failed: dead clients do not hold connections forever,
//! live idle ones are not cut.
//!
//! A worker that quits (reload, `nginx -s quit`, recycling) closes its
//! WebSockets with 1001, going away, through nginx's own way of closing
//! idle connections at quit: the connection is marked idle, and its read
//! handler, called with `c->close` set, starts the closing handshake
//! instead of dropping the connection.

use super::output::{self, RequestCtx};
use crate::asgi::inbound::{Data, Inbound};
use crate::exchange::{Chunk, Event};
use crate::websocket::{check_request, close, encode_frame, Handshake, HandshakeError};
use crate::websocket::{Message, OpCode, Outbox, Reader};
use ngx::ffi::*;
use std::collections::VecDeque;
use std::sync::Arc;

/// How long the client has to answer the server's Close.
const CLOSE_WAIT: ngx_msec_t = close::CLOSE_WAIT_MS as ngx_msec_t;
const READ_BUF: usize = 16 * 1024;

pub struct Session {
    reader: Reader,
    inbound: Arc<Inbound>,
    outbox: Outbox<Chunk>,
    buf: Box<[u8]>,
    /// The bytes of `buf` read but not yet decoded (the app was behind).
    start: usize,
    end: usize,
    /// A Close is queued: ours, or the app's (its `End` follows its Close).
    close_sent: bool,
    close_received: bool,
    /// The client broke the protocol: close once our Close is out.
    failed: bool,
    /// The connection is of no more use: the request waits for the app.
    socket_done: bool,
    /// The app has finished (its exchange says so).
    app_finished: bool,
    /// When the client last sent anything, and whether we pinged it since.
    heard: ngx_msec_t,
    pinged: bool,
    timeout: ngx_msec_t,
}

/// The handshake of a WebSocket request to an `asgi_app` location;
/// `NotWebSocket` for a plain HTTP request.
pub unsafe fn handshake(r: *mut ngx_http_request_t) -> Result<Handshake, HandshakeError> {
    if (*r).headers_in.upgrade.is_null() {
        // The common case, without a look at the other headers.
        return Err(HandshakeError::NotWebSocket);
    }
    let mut headers = Vec::new();
    super::request::for_each_header(&(*r).headers_in.headers, |h| {
        headers.push((
            super::request::bytes(&h.key),
            super::request::bytes(&h.value),
        ));
    });
    let protocol: &[u8] = match (*r).http_version as u32 {
        NGX_HTTP_VERSION_11 => b"HTTP/1.1",
        NGX_HTTP_VERSION_10 => b"HTTP/1.0",
        _ => b"HTTP/2.0",
    };
    check_request(super::request::bytes(&(*r).method_name), protocol, headers)
}

/// Answer a request that asks for a WebSocket and gets it wrong.
pub unsafe fn refuse(r: *mut ngx_http_request_t, e: &HandshakeError) -> ngx_int_t {
    ngx::ngx_log_error!(
        NGX_LOG_INFO,
        (*(*r).connection).log,
        "wsgi: client sent an invalid WebSocket handshake: {e}"
    );
    if *e == HandshakeError::UnsupportedVersion {
        // The versions this server speaks (RFC 6455 §4.4).
        let h = ngx_list_push(&mut (*r).headers_out.headers) as *mut ngx_table_elt_t;
        if !h.is_null() {
            // Zeroed first: nginx 1.23+ has a `next` field that 1.22 lacks.
            std::ptr::write_bytes(h, 0, 1);
            (*h).hash = 1;
            (*h).key = ngx::ngx_string!("Sec-WebSocket-Version");
            (*h).value = ngx::ngx_string!("13");
            (*h).lowcase_key = ptr_lower("sec-websocket-version");
        }
        return output::send_plain(r, 426, "426 Upgrade Required: WebSocket version 13 only\n");
    }
    output::send_plain(r, 400, "400 Bad Request: invalid WebSocket handshake\n")
}

fn ptr_lower(s: &'static str) -> *mut u8 {
    s.as_ptr().cast_mut()
}

/// The app accepted: send the `101` (the first of `events`), take the
/// connection over, and go on with the rest of `events`.
pub unsafe fn upgrade(
    r: *mut ngx_http_request_t,
    ctx: &mut RequestCtx,
    mut events: VecDeque<Event>,
    finished: bool,
) {
    let c = (*r).connection;
    let Some(Event::Head(head)) = events.pop_front() else {
        return;
    };
    let Some(inbound) = ctx.ws_inbound.take() else {
        return;
    };
    ctx.disarm_timer();
    (*r).set_keepalive(0);
    if !output::send_head(r, ctx, &head) {
        (*c).set_error(1);
    } else if ngx_http_send_special(r, NGX_HTTP_FLUSH as ngx_uint_t) == NGX_ERROR as ngx_int_t {
        (*c).set_error(1);
    }
    let clcf = output::core_loc_conf(r);
    if (*clcf).tcp_nodelay != 0 && ngx_tcp_nodelay(c) != NGX_OK as ngx_int_t {
        (*c).set_error(1);
    }
    let mut session = Session {
        reader: Reader::new(ctx.ws_max_message),
        inbound,
        outbox: Outbox::default(),
        buf: vec![0; READ_BUF].into_boxed_slice(),
        start: 0,
        end: 0,
        close_sent: false,
        close_received: false,
        failed: false,
        socket_done: false,
        app_finished: false,
        heard: ngx_current_msec,
        pinged: false,
        timeout: ctx.ws_timeout,
    };
    if ctx.ws_timeout > 0 {
        ctx.arm_timer(on_silence, (ctx.ws_timeout / 2).max(1));
    }
    // What the client sent right after its handshake, with the request.
    // (All of it: large_client_header_buffers may be larger than our buffer.)
    let hin = (*r).header_in;
    if !hin.is_null() && (*hin).last > (*hin).pos {
        let n = (*hin).last.offset_from((*hin).pos) as usize;
        if n > session.buf.len() {
            session.buf = vec![0; n].into_boxed_slice();
        }
        std::ptr::copy_nonoverlapping((*hin).pos, session.buf.as_mut_ptr(), n);
        session.end = n;
        (*hin).pos = (*hin).pos.add(n);
    }
    session.take(events, finished);
    if ngx_exiting != 0 {
        session.going_away();
    }
    ctx.ws = Some(Box::new(session));
    // The connection's events come here from now on (as for an upgraded
    // upstream connection); idle, so that a quitting worker tells it.
    (*r).read_event_handler = Some(on_request_event);
    (*r).write_event_handler = Some(on_request_event);
    (*(*c).read).handler = Some(on_event);
    (*(*c).write).handler = Some(on_event);
    (*c).set_idle(1);
    drive(r, ctx);
}

/// The connection's timer (`asgi_websocket_timeout`): ping a client that
/// has been silent for half of it, close one silent for all of it.
unsafe extern "C" fn on_silence(ev: *mut ngx_event_t) {
    let r = (*ev).data as *mut ngx_http_request_t;
    let c = (*r).connection;
    super::guard((), || {
        let Some(ctx) = RequestCtx::get(r) else {
            return;
        };
        let Some(s) = ctx.ws.as_mut() else { return };
        if s.inbound.is_paused() || s.start < s.end {
            // We stopped reading (the app is behind): what the client
            // sent, a Pong among it, waits unread; it is not silence.
            s.heard = ngx_current_msec;
            s.pinged = false;
        }
        let silent = ngx_current_msec.wrapping_sub(s.heard);
        let half = (s.timeout / 2).max(1);
        let next = if silent >= s.timeout {
            ngx::ngx_log_error!(
                NGX_LOG_INFO,
                (*c).log,
                "wsgi: the WebSocket client sent nothing for {} ms, not even a Pong (asgi_websocket_timeout): closing with 1011",
                s.timeout
            );
            s.inbound
                .disconnect(close::INTERNAL_ERROR, "keepalive ping timeout");
            s.close_with(Some((close::INTERNAL_ERROR, "keepalive ping timeout")));
            // Do not wait for a client that is likely gone.
            s.failed = true;
            None
        } else if silent >= half {
            if !s.pinged && !s.close_sent {
                s.pinged = true;
                let mut frame = Vec::new();
                let _ = encode_frame(&mut frame, OpCode::Ping, b"");
                s.outbox.push_control(frame);
            }
            Some(s.timeout - silent)
        } else {
            Some(half - silent)
        };
        if let Some(ms) = next {
            ctx.arm_timer(on_silence, ms.max(1));
        }
        drive(r, ctx);
    });
    ngx_http_run_posted_requests(c);
}

unsafe extern "C" fn on_request_event(r: *mut ngx_http_request_t) {
    super::guard((), || {
        if let Some(ctx) = RequestCtx::get(r).filter(|ctx| ctx.ws.is_some()) {
            drive(r, ctx);
        }
    })
}

/// The connection's read and write events. `c->close` on a read: the
/// worker quits (`ngx_close_idle_connections`).
unsafe extern "C" fn on_event(ev: *mut ngx_event_t) {
    let c = (*ev).data as *mut ngx_connection_t;
    let r = (*c).data as *mut ngx_http_request_t;
    super::guard((), || {
        let Some(ctx) = RequestCtx::get(r) else {
            return;
        };
        if ctx.ws.is_none() {
            // Released, and nginx still writes what it buffered (TLS):
            // its own request handling from here, as its handler would.
            if (*c).close() != 0 {
                ngx_http_finalize_request(r, NGX_ERROR as ngx_int_t);
            } else if (*ev).write() != 0 {
                if let Some(h) = (*r).write_event_handler {
                    h(r);
                }
            } else if let Some(h) = (*r).read_event_handler {
                h(r);
            }
            return;
        }
        if (*c).close() != 0 {
            (*c).set_close(0);
            if let Some(s) = ctx.ws.as_mut() {
                s.going_away();
            }
        }
        drive(r, ctx);
    });
    ngx_http_run_posted_requests(c);
}

impl Session {
    /// The app's frames from the exchange into the outbox (dropped once the
    /// client has closed, or the connection is done).
    fn take(&mut self, events: VecDeque<Event>, finished: bool) {
        self.app_finished |= finished;
        for event in events {
            match event {
                // (The app's own Close is Data before its End: `close_sent`
                // is then still false.)
                Event::Data(chunk)
                    if !self.close_sent
                        && !self.close_received
                        && !self.failed
                        && !self.socket_done =>
                {
                    self.outbox.push(chunk)
                }
                // The app's Close went before its End.
                Event::End => self.close_sent = true,
                // Only a broken app: close the connection.
                Event::Abort => self.socket_done = true,
                _ => {}
            }
        }
    }

    /// The worker quits: Close 1001.
    fn going_away(&mut self) {
        self.close_with(Some((close::GOING_AWAY, "the server is going away")));
    }

    /// Queue our own Close (or its echo), after the frame being written.
    fn close_with(&mut self, code: Option<(u16, &str)>) {
        if self.close_sent {
            return;
        }
        self.close_sent = true;
        self.outbox.cut_after_frame();
        let mut frame = Vec::new();
        let _ = close::encode_close(&mut frame, code);
        self.outbox.push_control(frame);
    }

    /// One message from the client; false to stop reading for now.
    fn on_message(&mut self, message: Message) -> bool {
        match message {
            // The app is behind once `push` says so: reading waits for its
            // nudge (`Inbound::take`).
            Message::Text(t) if !self.close_sent => return self.inbound.push(Data::Text(t)),
            Message::Binary(b) if !self.close_sent => return self.inbound.push(Data::Binary(b)),
            Message::Ping(payload) if !self.close_sent => {
                let mut frame = Vec::new();
                let _ = encode_frame(&mut frame, OpCode::Pong, &payload);
                self.outbox.push_pong(frame);
            }
            Message::Close(frame) => {
                self.close_received = true;
                let (code, reason) =
                    frame.map_or((close::NO_STATUS, String::new()), |f| (f.code, f.reason));
                self.inbound.disconnect(code, &reason);
                // Echo the code (none for none).
                let echo = (code != close::NO_STATUS).then_some((code, ""));
                self.close_with(echo);
                return false;
            }
            // After our Close, the client's data is ignored.
            _ => {}
        }
        true
    }
}

/// Read what the client sent, as far as the app keeps up.
unsafe fn read_in(c: *mut ngx_connection_t, s: &mut Session) {
    while !s.inbound.is_paused() && !s.close_received && !s.failed && !s.socket_done {
        if s.start == s.end {
            if (*(*c).read).ready() == 0 {
                return;
            }
            let n = (*c).recv.expect("recv")(c, s.buf.as_mut_ptr(), s.buf.len());
            if n == NGX_AGAIN as isize {
                return;
            }
            if n <= 0 {
                // Gone without a Close (or reset): 1006.
                (*c).set_error(1);
                return;
            }
            s.start = 0;
            s.end = n as usize;
            s.heard = ngx_current_msec;
            s.pinged = false;
        }
        match s.reader.read(&mut s.buf[s.start..s.end]) {
            Ok((used, message)) => {
                s.start += used;
                if let Some(m) = message {
                    if !s.on_message(m) {
                        return;
                    }
                }
            }
            Err(e) => {
                ngx::ngx_log_error!(
                    NGX_LOG_INFO,
                    (*c).log,
                    "wsgi: the WebSocket client broke the protocol: {e}; closing with {}",
                    e.close_code()
                );
                s.inbound.disconnect(e.close_code(), "");
                s.close_with(Some((e.close_code(), "")));
                s.failed = true;
                s.start = s.end;
                return;
            }
        }
    }
}

/// Write what the outbox has, taking more from the exchange as it
/// empties. False if the socket cannot take more now.
unsafe fn write_out(r: *mut ngx_http_request_t, ctx: &mut RequestCtx) -> bool {
    let c = (*r).connection;
    // The 101 may still sit in nginx's output chain, or in its TLS buffer
    // (frames go out by `c->send`, past both): it goes first.
    if (*c).buffered() != 0 {
        if ngx_http_output_filter(r, std::ptr::null_mut()) == NGX_ERROR as ngx_int_t {
            (*c).set_error(1);
            return false;
        }
        if (*c).buffered() != 0 {
            return false;
        }
    }
    let s = ctx.ws.as_mut().expect("a websocket session");
    loop {
        // More from the app whenever none of its frames waits: also while
        // control frames do, which may wait for the rest of an app frame
        // still in the exchange (its header and payload come as two events).
        if !s.outbox.has_app_pieces() && !s.app_finished {
            let batch = ctx.exchange.take();
            s.take(batch.events, batch.finished);
            if s.outbox.is_empty() {
                // All written: a send() that waits for room goes on.
                if let Some(resume) = ctx.exchange.resume_parked() {
                    resume();
                }
                return true;
            }
        }
        let Some(bytes) = s.outbox.next() else {
            return true;
        };
        if (*(*c).write).ready() == 0 {
            return false;
        }
        let n = (*c).send.expect("send")(c, bytes.as_ptr().cast_mut(), bytes.len());
        if n == NGX_AGAIN as isize {
            return false;
        }
        if n < 0 {
            (*c).set_error(1);
            return false;
        }
        s.outbox.advance(n as usize);
    }
}

/// Everything that may happen on the connection: on its events, and when
/// the app sends (the exchange's wake-up goes through `output::pump`).
pub unsafe fn drive(r: *mut ngx_http_request_t, ctx: &mut RequestCtx) {
    let c = (*r).connection;
    if (*(*c).write).timedout() != 0 {
        ngx::ngx_log_error!(
            NGX_LOG_INFO,
            (*c).log,
            "wsgi: WebSocket client timed out (send_timeout)"
        );
        (*c).set_timedout(1);
        (*c).set_error(1);
    }
    {
        let s = ctx.ws.as_mut().expect("a websocket session");
        if (*(*c).read).timedout() != 0 {
            // The client did not answer our Close in time.
            (*(*c).read).set_timedout(0);
            s.socket_done = true;
        }
    }
    // Write, read (which may queue a Pong or a Close), write again.
    for _ in 0..2 {
        if (*c).error() != 0 || ctx.ws.as_ref().is_some_and(|s| s.socket_done) {
            break;
        }
        let writable = write_out(r, ctx);
        let s = ctx.ws.as_mut().expect("a websocket session");
        read_in(c, s);
        if !writable {
            break;
        }
    }
    let s = ctx.ws.as_mut().expect("a websocket session");
    if (*c).error() != 0 {
        // Gone without a Close, reset, or too slow to read: 1006.
        s.socket_done = true;
    }
    if s.close_sent && s.outbox.is_empty() && (s.close_received || s.failed) {
        s.socket_done = true;
    }
    if s.socket_done || s.close_received || s.failed {
        // The app hears it: receive() gives the disconnect, send() raises.
        s.inbound.disconnect(close::ABNORMAL, "");
        if let Some(resume) = ctx.exchange.cancel() {
            resume();
        }
    }
    if s.socket_done {
        if !s.app_finished {
            let batch = ctx.exchange.take();
            s.take(batch.events, batch.finished);
        }
        if s.app_finished {
            output::release_websocket(r, ctx);
        }
        return;
    }
    // Wait: for the client's answer to our Close, for the socket, for the
    // client's next bytes.
    let rev = (*c).read;
    if s.close_sent && s.outbox.is_empty() && (*rev).timer_set() == 0 {
        ngx_add_timer(rev, CLOSE_WAIT);
    }
    if ngx_handle_read_event(rev, 0) != NGX_OK as ngx_int_t {
        (*c).set_error(1);
    }
    let wev = (*c).write;
    let clcf = output::core_loc_conf(r);
    if !s.outbox.is_empty() || (*c).buffered() & NGX_HTTP_WRITE_BUFFERED != 0 {
        if (*wev).ready() == 0 && (*wev).timer_set() == 0 {
            ngx_add_timer(wev, (*clcf).send_timeout);
        }
    } else if (*wev).timer_set() != 0 {
        ngx_del_timer(wev);
    }
    if ngx_handle_write_event(wev, (*clcf).send_lowat) != NGX_OK as ngx_int_t {
        (*c).set_error(1);
    }
}
