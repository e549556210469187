//! ASGI end to end without nginx: a real asyncio loop thread runs the app;
//! the test plays the event loop's part on the exchange (takes what the app
//! sends, lets a parked task go on, cancels as a leaving client would).

use super::lifespan::Mode;
use super::*;
use crate::exchange::testing::exchange;
use crate::exchange::{CancelReason, Event, ResponseHead};
use crate::log::testing::Collect;
use crate::wsgi::cgi::Field;
use std::io::Read;
use std::sync::mpsc::Receiver;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Run `code`: its globals (the app's `app` among them).
fn define(py: Python<'_>, code: &str) -> Py<PyDict> {
    let globals = PyDict::new(py);
    py.run(&std::ffi::CString::new(code).unwrap(), Some(&globals), None)
        .unwrap();
    globals.unbind()
}

struct Started {
    asgi: Arc<Asgi>,
    log: Arc<Collect>,
    globals: Py<PyDict>,
}

fn start_apps(code: &str, modes: &[Mode]) -> Started {
    Python::initialize();
    let log = Arc::new(Collect::default());
    let globals = Python::attach(|py| define(py, code));
    let app = Python::attach(|py| globals.bind(py).get_item("app").unwrap().unwrap().unbind());
    let to_start = Python::attach(|py| {
        modes
            .iter()
            .enumerate()
            .map(|(index, &lifespan)| AppToStart {
                index,
                callable: app.clone_ref(py),
                lifespan,
            })
            .collect()
    });
    let names = (0..modes.len())
        .map(|i| format!("test:{i}").into())
        .collect();
    let asgi = Asgi::start(LoopChoice::Asyncio, to_start, names, log.clone()).unwrap();
    Started { asgi, log, globals }
}

fn start_app(code: &str, mode: Mode) -> Started {
    start_apps(code, &[mode])
}

/// Wait until the Python expression `expr`, in the app's globals, holds.
fn wait_for_py(globals: &Py<PyDict>, expr: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    let code = std::ffi::CString::new(expr).unwrap();
    loop {
        let (holds, now) = Python::attach(|py| {
            let g = globals.bind(py);
            let holds = py.eval(&code, Some(g), None).unwrap().is_truthy().unwrap();
            (
                holds,
                py.eval(c"seen", Some(g), None)
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            )
        });
        if holds {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{expr} does not hold; seen = {now}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn call(
    asgi: &Arc<Asgi>,
    path: &str,
    body: &[u8],
    high_water: usize,
) -> (Arc<Exchange>, Receiver<usize>) {
    let (ex, rx) = exchange(high_water);
    let mut parts = RequestParts::default();
    parts
        .set(Field::Method, b"POST")
        .set(Field::RequestUri, path.as_bytes())
        .set(Field::Uri, path.as_bytes())
        .set(Field::Protocol, b"HTTP/1.1");
    asgi.call(AsgiCall {
        app: 0,
        parts,
        body: Body::from_vec(body.to_vec()),
        exchange: ex.clone(),
        websocket: None,
    });
    (ex, rx)
}

#[derive(Debug, Default)]
struct Seen {
    head: Option<ResponseHead>,
    body: Vec<u8>,
    ended: bool,
    aborted: bool,
    parked: usize,
}

/// Take what the app sends until it finishes; after `cancel_after` bytes
/// of body (or the head, for 0), cancel for `reason`.
fn drain(ex: &Arc<Exchange>, rx: &Receiver<usize>, cancel: Option<(usize, CancelReason)>) -> Seen {
    let mut seen = Seen::default();
    let mut cancelled = false;
    loop {
        rx.recv_timeout(WAIT).expect("the app wakes the consumer");
        let batch = ex.take();
        for event in batch.events {
            match event {
                Event::Head(h) => seen.head = Some(h),
                Event::Data(c) => seen.body.extend_from_slice(c.as_slice()),
                Event::File(f) => {
                    let mut file = std::fs::File::from(f.fd.try_clone().unwrap());
                    let mut buf = vec![0; f.len as usize];
                    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(f.offset)).unwrap();
                    file.read_exact(&mut buf).unwrap();
                    seen.body.extend(buf);
                }
                Event::End => seen.ended = true,
                Event::Abort => seen.aborted = true,
            }
        }
        if let Some((after, reason)) = cancel {
            if !cancelled && seen.head.is_some() && seen.body.len() >= after {
                cancelled = true;
                if let Some(k) = ex.cancel_for(reason) {
                    k();
                }
            }
        }
        if let Some(k) = ex.resume_parked() {
            seen.parked += 1;
            k();
        }
        if batch.finished {
            return seen;
        }
    }
}

/// Wait until the log has a line containing `what`.
fn wait_for_log(log: &Collect, what: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    while !log.text().contains(what) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {what:?} in:\n{}",
            log.text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

const ECHO: &str = r#"
started = []
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                started.append(1)
                scope["state"]["db"] = "pool"
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        m = await receive()
        body += m["body"]
        if not m["more_body"]:
            break
    out = b"%s %s %s %d" % (scope["path"].encode(), body, scope["state"]["db"].encode(), len(started))
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(out))]})
    await send({"type": "http.response.body", "body": out})
"#;

#[test]
fn a_request_gets_its_body_and_the_lifespan_state() {
    let Started { asgi, log, .. } = start_app(ECHO, Mode::On);
    let (ex, rx) = call(&asgi, "/echo", b"hello", 1 << 20);
    let seen = drain(&ex, &rx, None);
    let head = seen.head.unwrap();
    assert_eq!(head.code, 201);
    assert!(head.status.is_empty(), "nginx's reason phrase");
    assert_eq!(head.content_length, Some(18));
    assert_eq!(seen.body, b"/echo hello pool 1");
    assert!(seen.ended && !seen.aborted);
    asgi.shutdown();
    assert!(!log.text().contains("lifespan"), "{}", log.text());
}

#[test]
fn one_app_in_two_locations_has_one_lifespan() {
    let Started { asgi, .. } = start_apps(ECHO, &[Mode::On, Mode::On]);
    let (ex, rx) = call(&asgi, "/", b"", 1 << 20);
    let seen = drain(&ex, &rx, None);
    assert!(
        seen.body.ends_with(b"pool 1"),
        "{:?}",
        String::from_utf8_lossy(&seen.body)
    );
    asgi.shutdown();
}

#[test]
fn a_large_body_comes_in_pieces() {
    let code = r#"
async def app(scope, receive, send):
    sizes = []
    while True:
        m = await receive()
        sizes.append(len(m["body"]))
        if not m["more_body"]:
            break
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": repr(sizes).encode()})
"#;
    let Started { asgi, .. } = start_app(code, Mode::Off);
    let (ex, rx) = call(&asgi, "/", &vec![b'x'; (5 << 20) / 2], 1 << 20);
    let seen = drain(&ex, &rx, None);
    assert_eq!(
        String::from_utf8(seen.body).unwrap(),
        "[1048576, 1048576, 524288]"
    );
}

const FAILURES: &str = r#"
seen = []
async def app(scope, receive, send):
    path = scope["path"]
    if path == "/before":
        raise ValueError("before the head")
    if path == "/nothing":
        return
    if path == "/exit":
        raise SystemExit(3)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"10")] if path.startswith("/cl") else []})
    if path == "/after":
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise ValueError("after the head")
    if path == "/unended":
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        return
    if path == "/cl-long":
        await send({"type": "http.response.body", "body": b"0123456789abc"})
    if path == "/cl-short":
        await send({"type": "http.response.body", "body": b"012"})
    if path == "/twice":
        await send({"type": "http.response.body", "body": b"done"})
        try:
            await send({"type": "http.response.body", "body": b"more"})
        except RuntimeError as e:
            seen.append(str(e))
"#;

#[test]
fn failures_before_the_head_are_500s_and_after_it_cuts() {
    let Started { asgi, log, globals } = start_app(FAILURES, Mode::Auto);
    for (path, code, body, ended, says) in [
        (
            "/before",
            500,
            &b"500 Internal Server Error\n"[..],
            true,
            "ValueError: before the head",
        ),
        (
            "/nothing",
            500,
            b"500 Internal Server Error\n",
            true,
            "returned without sending a response",
        ),
        (
            "/exit",
            500,
            b"500 Internal Server Error\n",
            true,
            "SystemExit: 3",
        ),
        ("/after", 200, b"part", false, "ValueError: after the head"),
        ("/unended", 200, b"part", false, "more_body was never false"),
        (
            "/cl-long",
            200,
            b"0123456789",
            true,
            "more than its content-length of 10 bytes",
        ),
        ("/cl-short", 200, b"012", false, "sent 3 of the 10 bytes"),
    ] {
        let (ex, rx) = call(&asgi, path, b"", 1 << 20);
        let seen = drain(&ex, &rx, None);
        assert_eq!(seen.head.as_ref().unwrap().code, code, "{path}");
        assert_eq!(seen.body, body, "{path}");
        assert_eq!((seen.ended, seen.aborted), (ended, !ended), "{path}");
        wait_for_log(&log, says);
    }
    // The loop survived SystemExit: the app still answers.
    let (ex, rx) = call(&asgi, "/twice", b"", 1 << 20);
    assert_eq!(drain(&ex, &rx, None).body, b"done");
    wait_for_py(
        &globals,
        "seen == ['the response is complete: nothing more may be sent']",
    );
}

#[test]
fn a_slow_client_parks_the_task_and_loses_nothing() {
    let code = r#"
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200})
    for i in range(200):
        await send({"type": "http.response.body", "body": b"%04d" % i * 250, "more_body": True})
    await send({"type": "http.response.body"})
"#;
    let Started { asgi, .. } = start_app(code, Mode::Auto);
    let (ex, rx) = call(&asgi, "/", b"", 4096);
    let seen = drain(&ex, &rx, None);
    let expected: Vec<u8> = (0..200)
        .flat_map(|i| format!("{i:04}").repeat(250).into_bytes())
        .collect();
    assert!(seen.body == expected, "{} bytes, in order", seen.body.len());
    assert!(seen.ended);
    assert!(seen.parked > 0, "the app had to wait for the client");
}

#[test]
fn a_client_that_leaves_is_a_disconnect_and_send_raises_an_oserror() {
    let code = r#"
seen = []
async def app(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": b"x" * 100, "more_body": True})
    seen.append((await receive())["type"])
    try:
        await send({"type": "http.response.body", "body": b"late", "more_body": True})
    except OSError as e:
        seen.append(type(e).__name__)
        # As Starlette does: its own exception, raised from the server's.
        raise RuntimeError("the framework's own disconnect")
"#;
    let Started {
        asgi, globals, log, ..
    } = start_app(code, Mode::Auto);
    let (ex, rx) = call(&asgi, "/", b"", 1 << 20);
    let seen = drain(&ex, &rx, Some((100, CancelReason::ClientGone)));
    assert_eq!(seen.body.len(), 100);
    wait_for_py(
        &globals,
        "seen == ['http.disconnect', 'ClientDisconnected']",
    );
    wait_for_log(
        &log,
        "client closed the connection while the application was responding",
    );
    assert!(
        !log.text().contains("raised"),
        "no failure logged:\n{}",
        log.text()
    );
}

#[test]
fn a_request_over_its_time_has_its_task_cancelled() {
    let code = r#"
import asyncio
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": b"x", "more_body": True})
    await asyncio.sleep(100)
"#;
    let Started { asgi, log, .. } = start_app(code, Mode::Auto);
    let (ex, rx) = call(&asgi, "/", b"", 1 << 20);
    let seen = drain(&ex, &rx, Some((1, CancelReason::TimedOut)));
    assert_eq!(seen.body, b"x");
    wait_for_log(
        &log,
        "the request's task ended after its wsgi_request_timeout",
    );
}

#[test]
fn pathsend_hands_over_the_file() {
    let path = std::env::temp_dir().join(format!("asgi-pathsend-{}", std::process::id()));
    std::fs::write(&path, b"file contents").unwrap();
    let code = format!(
        r#"
async def app(scope, receive, send):
    assert "http.response.pathsend" in scope["extensions"]
    await send({{"type": "http.response.start", "status": 200}})
    await send({{"type": "http.response.pathsend", "path": {:?}}})
"#,
        path.to_str().unwrap()
    );
    let Started { asgi, .. } = start_app(&code, Mode::Auto);
    let (ex, rx) = call(&asgi, "/", b"", 1 << 20);
    let seen = drain(&ex, &rx, None);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(seen.body, b"file contents");
    assert!(seen.ended);
}

#[test]
fn lifespan_modes() {
    let raises = "async def app(scope, receive, send):\n    if scope['type'] == 'lifespan':\n        raise RuntimeError('no lifespan here')\n";
    let fails = r#"
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})
"#;
    // auto: an app that raises on the lifespan scope serves without it.
    let Started { asgi, log, .. } = start_app(raises, Mode::Auto);
    assert!(asgi.serving_or_wsgi(0));
    wait_for_log(&log, "does not do the lifespan protocol");
    asgi.shutdown();
    // on: it must complete startup.
    let Started { asgi, log, .. } = start_app(raises, Mode::On);
    assert!(!asgi.serving_or_wsgi(0));
    wait_for_log(&log, "RuntimeError: no lifespan here");
    let (ex, rx) = call(&asgi, "/", b"", 1 << 20);
    assert_eq!(drain(&ex, &rx, None).head.unwrap().code, 500);
    asgi.shutdown();
    // A failed startup never serves, whatever the mode.
    for mode in [Mode::Auto, Mode::On] {
        let Started { asgi, log, .. } = start_app(fails, mode);
        assert!(!asgi.serving_or_wsgi(0));
        wait_for_log(&log, "lifespan startup failed: no database");
        asgi.shutdown();
    }
    // off: never asked.
    let Started { asgi, .. } = start_app(fails, Mode::Off);
    assert!(asgi.serving_or_wsgi(0));
    asgi.shutdown();
}
