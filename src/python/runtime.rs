//! One worker's Python side: the interpreter, the imported apps, the
//! environ template, and the threads that run requests.

use super::app::AppSpec;
use super::interpreter::{self, Home};
use crate::log::{Level, Log};
use crate::pool::{Next, Pool, Receiver};
use crate::wsgi::call::{call_app, send_error, RequestLog};
use crate::wsgi::cgi::{Field, RequestParts};
use crate::wsgi::environ::EnvironTemplate;
use crate::wsgi::exchange::{Event, Exchange};
use crate::wsgi::input::{Body, Input};
use crate::wsgi::log_stream::LogStream;
use pyo3::prelude::*;
use std::sync::Arc;

/// What `wsgi_*` directives configured, for one worker.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    pub home: Option<std::path::PathBuf>,
    /// Each app with the `sys.path` entries its location asked for.
    pub apps: Vec<(AppSpec, Vec<String>)>,
    /// 0 when every app runs inline.
    pub threads: usize,
    pub queue: usize,
    pub multiprocess: bool,
}

/// One request for a Python thread.
pub struct Job {
    pub app: usize,
    pub parts: RequestParts,
    pub body: Body,
    pub exchange: Arc<Exchange>,
    /// Called on the event loop (`wsgi_inline`): no other thread runs the
    /// app at the same time (`wsgi.multithread` is false).
    pub inline: bool,
}

pub struct Runtime {
    /// `None` where the import failed (already logged).
    apps: Vec<Option<Py<PyAny>>>,
    names: Vec<String>,
    template: EnvironTemplate,
    log: Arc<dyn Log>,
    pool: Pool<Job>,
}

impl Runtime {
    /// Start Python, import every app once, start the threads. An app that
    /// fails to import is logged with its traceback and left out; the others
    /// serve.
    pub fn start(config: &RuntimeConfig, log: Arc<dyn Log>) -> Result<Arc<Runtime>, String> {
        interpreter::start(&Home::of(config.home.as_deref()))?;
        let runtime = Python::attach(|py| -> PyResult<Runtime> {
            redirect_std_streams(py, &log)?;
            let mut apps = Vec::new();
            for (spec, path) in &config.apps {
                interpreter::prepend_sys_path(py, path)?;
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
                names: config.apps.iter().map(|(s, _)| s.to_string()).collect(),
                template: EnvironTemplate::new(
                    py,
                    config.multiprocess,
                    LogStream::new(log.clone(), Level::Error, "wsgi: wsgi.errors: ".into()),
                )?,
                log: log.clone(),
                pool: Pool::new(config.threads.max(1), config.queue),
            })
        })
        .map_err(|e| Python::attach(|py| crate::wsgi::call::format_traceback(py, &e)))?;
        let runtime = Arc::new(runtime);
        for n in 0..config.threads {
            let rt = runtime.clone();
            let rx = runtime.pool.receiver();
            std::thread::Builder::new()
                .name(format!("wsgi-{n}"))
                .spawn(move || rt.thread_main(rx))
                .map_err(|e| format!("cannot start a Python thread: {e}"))?;
        }
        Ok(runtime)
    }

    pub fn app_loaded(&self, app: usize) -> bool {
        self.apps.get(app).is_some_and(Option::is_some)
    }

    pub fn app_name(&self, app: usize) -> &str {
        self.names.get(app).map_or("?", String::as_str)
    }

    /// Queue a request; hands the job back when the queue is full.
    pub fn submit(&self, job: Job) -> Result<(), Job> {
        self.pool.submit(job)
    }

    pub fn shutdown(&self) {
        self.pool.close();
    }

    /// Run a request on the calling thread (the event loop, for
    /// `wsgi_inline`), taking the GIL for it. The exchange must not wait
    /// for space: nothing drains it until this returns.
    pub fn run_inline(&self, job: Job) {
        let exchange = job.exchange.clone();
        Python::attach(|py| self.run_guarded(py, job));
        exchange.finish();
    }

    fn thread_main(&self, mut jobs: Receiver<Job>) {
        // Stay attached for the thread's life (thread-locals persist, no
        // per-request thread state). The GIL is kept from one job to the
        // next while jobs are queued, and released only to sleep: a
        // hand-off of the GIL costs more than a small request.
        Python::attach(|py| loop {
            let job = match jobs.try_next() {
                Next::Job(job) => job,
                Next::Empty => {
                    py.detach(|| jobs.wait());
                    continue;
                }
                Next::Closed => break,
            };
            let exchange = job.exchange.clone();
            self.run_guarded(py, job);
            exchange.finish();
        });
    }

    fn run_guarded(&self, py: Python<'_>, job: Job) {
        let exchange = job.exchange.clone();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(py, job)));
        if outcome.is_err() {
            // The head may or may not be out: the event loop knows, and
            // answers 500 or cuts the connection.
            self.log.log(
                Level::Error,
                "wsgi: internal error (panic) while running a request",
            );
            let _ = exchange.push(Event::Abort);
        }
    }

    fn run(&self, py: Python<'_>, job: Job) {
        let log = RequestLog {
            log: self.log.clone(),
            client: job.parts.get(Field::RemoteAddr),
            server: job.parts.get(Field::ServerName),
            request_line: job.parts.get(Field::RequestLine),
            app: self.app_name(job.app),
        };
        let Some(app) = self.apps.get(job.app).and_then(Option::as_ref) else {
            // The handler checks this first; kept for a job queued anyway.
            send_error(
                &job.exchange,
                "500 Internal Server Error: the application failed to load\n",
            );
            return;
        };
        let environ = match self
            .template
            .build(py, &job.parts, job.inline, Input::new(job.body))
        {
            Ok(e) => e,
            Err(e) => {
                log.exception(py, "cannot build the environ", &e);
                send_error(&job.exchange, "500 Internal Server Error\n");
                return;
            }
        };
        call_app(py, app.bind(py), environ, &job.exchange, &log);
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
