//! One worker's Python side: the interpreter, the imported apps, the
//! environ template, the threads that run WSGI requests, and the asyncio
//! loop that runs ASGI ones (`asgi`).

use super::app::{AppConfig, Interface};
use super::event_loop::LoopChoice;
use super::interpreter::{self, Home};
use super::interrupt::Interrupts;
use crate::asgi::{AppToStart, Asgi, AsgiCall};
use crate::exchange::{Continuation, Event, Exchange};
use crate::log::{Level, Log};
use crate::pool::{Next, Pool, Receiver};
use crate::wsgi::body_stream::BodyStream;
use crate::wsgi::call::{call_app, send_error, Response, Step};
use crate::wsgi::cgi::RequestParts;
use crate::wsgi::environ::EnvironTemplate;
use crate::wsgi::input::{Body, Input};
use crate::wsgi::log_stream::LogStream;
use crate::wsgi::request_log::RequestLog;
use crate::wsgi::spill::SpillPolicy;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What `wsgi_*` directives configured, for one worker.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    pub home: Option<std::path::PathBuf>,
    pub apps: Vec<AppConfig>,
    /// `asgi_loop`.
    pub asgi_loop: LoopChoice,
    /// 0 when every app runs inline.
    pub threads: usize,
    pub queue: usize,
    /// Start the thread that raises `RequestTimeout` into requests.
    pub watchdog: bool,
    pub multiprocess: bool,
}

/// One request for a Python thread.
pub struct Request {
    pub app: usize,
    pub parts: RequestParts,
    pub body: Body,
    /// The body as it arrives, instead (`wsgi_request_buffering off`).
    pub stream: Option<Arc<BodyStream>>,
    pub exchange: Arc<Exchange>,
    /// Called on the event loop (`wsgi_inline`): no other thread runs the
    /// app at the same time (`wsgi.multithread` is false).
    pub inline: bool,
    /// Where `write()` spills what the client is not ready for.
    pub spill: Option<Arc<SpillPolicy>>,
}

/// A response that stopped because its client is behind, with its log.
pub struct Parked {
    response: Response,
    log: RequestLog,
}

/// Every thread is busy and `wsgi_queue` requests are waiting.
#[derive(Debug)]
pub struct QueueFull;

/// Work for a Python thread.
pub enum Job {
    Call(Request),
    /// A parked response whose client has caught up (or gone).
    Resume(Parked),
}

impl Job {
    fn exchange(&self) -> &Arc<Exchange> {
        match self {
            Job::Call(r) => &r.exchange,
            Job::Resume(p) => p.response.exchange(),
        }
    }
}

pub struct Runtime {
    /// `None` where the import failed (already logged).
    apps: Vec<Option<Py<PyAny>>>,
    names: Vec<Arc<str>>,
    template: EnvironTemplate,
    log: Arc<dyn Log>,
    pool: Pool<Job>,
    interrupts: Arc<Interrupts>,
    /// Responses parked now (a gauge of the metrics).
    parked: Arc<AtomicUsize>,
    /// The ASGI side, when some app is an ASGI app.
    asgi: Option<Arc<Asgi>>,
}

impl Runtime {
    /// Start Python, import every app once, start the threads (and, for
    /// ASGI apps, the asyncio loop and their lifespan startup). An app that
    /// fails to import or start is logged with its traceback and left out;
    /// the others serve.
    pub fn start(config: &RuntimeConfig, log: Arc<dyn Log>) -> Result<Arc<Runtime>, String> {
        interpreter::start(&Home::of(config.home.as_deref()))?;
        let mut runtime = Python::attach(|py| -> PyResult<Runtime> {
            redirect_std_streams(py, &log)?;
            super::ngx_wsgi::install(py)?;
            let mut apps = Vec::new();
            for AppConfig { spec, sys_path, .. } in &config.apps {
                interpreter::prepend_sys_path(py, sys_path)?;
                match spec.load(py) {
                    Ok(app) => apps.push(Some(app)),
                    Err(msg) => {
                        log.log(
                            Level::Error,
                            &format!("wsgi: failed to load app \"{spec}\":"),
                        );
                        for line in msg.lines() {
                            log.log(Level::Error, &format!("wsgi: {line}"));
                        }
                        apps.push(None);
                    }
                }
            }
            Ok(Runtime {
                apps,
                names: config
                    .apps
                    .iter()
                    .map(|a| a.spec.to_string().into())
                    .collect(),
                template: EnvironTemplate::new(
                    py,
                    config.multiprocess,
                    LogStream::new(log.clone(), Level::Error, "wsgi: wsgi.errors: ".into()),
                )?,
                log: log.clone(),
                pool: Pool::new(config.threads.max(1), config.queue),
                interrupts: Arc::new(Interrupts::new(config.threads)),
                parked: Arc::new(AtomicUsize::new(0)),
                asgi: None,
            })
        })
        .map_err(|e| Python::attach(|py| crate::wsgi::request_log::format_traceback(py, &e)))?;
        // Without the GIL: the loop thread needs it to run the lifespans
        // this waits for.
        let to_start: Vec<AppToStart> = Python::attach(|py| {
            config
                .apps
                .iter()
                .zip(&runtime.apps)
                .enumerate()
                .filter(|(_, (a, _))| a.spec.interface == Interface::Asgi)
                .filter_map(|(index, (a, loaded))| {
                    Some(AppToStart {
                        index,
                        callable: loaded.as_ref()?.clone_ref(py),
                        lifespan: a.lifespan,
                    })
                })
                .collect()
        });
        if !to_start.is_empty() {
            runtime.asgi = Some(Asgi::start(
                config.asgi_loop,
                to_start,
                runtime.names.clone(),
                log.clone(),
            )?);
        }
        let runtime = Arc::new(runtime);
        for n in 0..config.threads {
            let rt = runtime.clone();
            let rx = runtime.pool.receiver();
            std::thread::Builder::new()
                .name(format!("wsgi-{n}"))
                .spawn(move || rt.thread_main(n, rx))
                .map_err(|e| format!("cannot start a Python thread: {e}"))?;
        }
        if config.threads > 0 && config.watchdog {
            let interrupts = runtime.interrupts.clone();
            std::thread::Builder::new()
                .name("wsgi-watchdog".into())
                .spawn(move || interrupts.watch())
                .map_err(|e| format!("cannot start the watchdog thread: {e}"))?;
        }
        Ok(runtime)
    }

    /// Whether `app` imported (and, for an ASGI app, started).
    pub fn app_loaded(&self, app: usize) -> bool {
        self.apps.get(app).is_some_and(Option::is_some)
            && self.asgi.as_ref().is_none_or(|a| a.serving_or_wsgi(app))
    }

    /// Hand a request to an ASGI app: it runs as a task on the loop.
    pub fn asgi_call(&self, call: AsgiCall) {
        if let Some(asgi) = &self.asgi {
            asgi.call(call);
        } else {
            crate::wsgi::call::send_error(&call.exchange, "500 Internal Server Error\n");
            call.exchange.finish();
        }
    }

    pub fn app_name(&self, app: usize) -> &str {
        self.names.get(app).map_or("?", |n| n)
    }

    /// Queue a request; refused when the queue is full (the request holds
    /// no Python object: dropping it here is fine).
    pub fn submit(&self, request: Request) -> Result<(), QueueFull> {
        self.pool.submit(Job::Call(request)).map_err(|_| QueueFull)
    }

    /// Take a request out of the queue if no thread has started it yet.
    pub fn cancel_queued(&self, exchange: &Arc<Exchange>) -> bool {
        self.pool
            .cancel_queued(|job| matches!(job, Job::Call(r) if Arc::ptr_eq(&r.exchange, exchange)))
            .is_some()
    }

    /// At worker exit: the threads stop taking jobs, and ASGI apps get
    /// their lifespan shutdown.
    pub fn shutdown(&self) {
        self.pool.close();
        self.interrupts.close();
        if let Some(asgi) = &self.asgi {
            asgi.shutdown();
        }
    }

    /// Raise `ngx_wsgi.RequestTimeout` into the thread that runs the
    /// request of `exchange`, if one does (see `interrupt`).
    pub fn interrupt(&self, exchange: &Arc<Exchange>) {
        self.interrupts.request(exchange.token);
    }

    /// Requests waiting for a thread, and threads running one.
    pub fn load(&self) -> (usize, usize) {
        self.pool.load()
    }

    /// Responses parked now, waiting for their client.
    pub fn parked(&self) -> usize {
        self.parked.load(Ordering::Relaxed)
    }

    /// Run a request on the calling thread (the event loop, for
    /// `wsgi_inline`), taking the GIL for it. The exchange must not wait
    /// for space: nothing drains it until this returns.
    pub fn run_inline(&self, request: Request) {
        Python::attach(|py| self.run_guarded(py, Job::Call(request)));
    }

    fn thread_main(&self, n: usize, mut jobs: Receiver<Job>) {
        // Stay attached for the thread's life (thread-locals persist, no
        // per-request thread state). The GIL is kept from one job to the
        // next while jobs are queued, and released only to sleep: a
        // hand-off of the GIL costs more than a small request.
        Python::attach(|py| {
            self.interrupts.register(n, py);
            loop {
                let job = match jobs.try_next() {
                    Next::Job(job) => job,
                    Next::Empty => {
                        py.detach(|| jobs.wait());
                        continue;
                    }
                    Next::Closed => break,
                };
                self.interrupts.running(n, py, job.exchange().token);
                self.run_guarded(py, job);
                self.interrupts.done(n, py);
            }
        });
    }

    /// Run a job until its response is done (then tell the event loop) or
    /// parked (then leave it for the event loop to resume).
    fn run_guarded(&self, py: Python<'_>, job: Job) {
        let exchange = job.exchange().clone();
        exchange.enter_app();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match job {
            Job::Call(request) => self.call(py, request),
            Job::Resume(parked) => self.resume(py, parked),
        }));
        exchange.leave_app();
        match outcome {
            Ok(None) => exchange.finish(),
            Ok(Some(parked)) => self.park(parked),
            Err(_) => {
                // The head may or may not be out: the event loop knows, and
                // answers 500 or cuts the connection.
                self.log.log(
                    Level::Error,
                    "wsgi: internal error (panic) while running a request",
                );
                let _ = exchange.push(Event::Abort);
                exchange.finish();
            }
        }
    }

    /// Leave a response for the event loop to resume once its client has
    /// caught up; if it already has (or is gone), resume it at once.
    fn park(&self, parked: Parked) {
        let exchange = parked.response.exchange().clone();
        let pool = self.pool.clone();
        let count = self.parked.clone();
        count.fetch_add(1, Ordering::Relaxed);
        let resume: Continuation = Box::new(move || {
            count.fetch_sub(1, Ordering::Relaxed);
            // Refused only once the worker is exiting: the job is dropped.
            let _ = pool.resume(Job::Resume(parked));
        });
        if let Err(resume) = exchange.park(resume) {
            resume();
        }
    }

    fn call(&self, py: Python<'_>, request: Request) -> Option<Parked> {
        let log = RequestLog {
            log: self.log.clone(),
            parts: Arc::new(request.parts),
            app: self
                .names
                .get(request.app)
                .cloned()
                .unwrap_or_else(|| "?".into()),
        };
        let Some(app) = self.apps.get(request.app).and_then(Option::as_ref) else {
            // The handler checks this first; kept for a job queued anyway.
            send_error(
                &request.exchange,
                "500 Internal Server Error: the application failed to load\n",
            );
            return None;
        };
        let input = match request.stream {
            Some(stream) => Input::streamed(stream),
            None => Input::new(request.body),
        };
        let environ = match self.template.build(py, &log.parts, request.inline, input) {
            Ok(e) => e,
            Err(e) => {
                log.exception(py, "cannot build the environ", &e);
                send_error(&request.exchange, "500 Internal Server Error\n");
                return None;
            }
        };
        let step = call_app(
            py,
            app.bind(py),
            environ,
            &request.exchange,
            request.spill,
            &log,
        );
        match step {
            Step::Done => None,
            Step::Park(response) => Some(Parked { response, log }),
        }
    }

    fn resume(&self, py: Python<'_>, parked: Parked) -> Option<Parked> {
        let Parked { response, log } = parked;
        match response.run(py, &log) {
            Step::Done => None,
            Step::Park(response) => Some(Parked { response, log }),
        }
    }
}

/// `print()` and stray tracebacks land in the error log rather than in a
/// closed stdout.
fn redirect_std_streams(py: Python<'_>, log: &Arc<dyn Log>) -> PyResult<()> {
    let sys = py.import("sys")?;
    sys.setattr(
        "stdout",
        Bound::new(
            py,
            LogStream::new(log.clone(), Level::Info, "wsgi: stdout: ".into()),
        )?,
    )?;
    sys.setattr(
        "stderr",
        Bound::new(
            py,
            LogStream::new(log.clone(), Level::Error, "wsgi: stderr: ".into()),
        )?,
    )?;
    Ok(())
}
