//! A text stream that writes whole lines to the nginx error log: the
//! request's `wsgi.errors`, and the worker's `sys.stdout` / `sys.stderr`.

use crate::log::{Level, Log};
use pyo3::prelude::*;
use std::sync::{Arc, Mutex};

#[pyclass(module = "ngx_wsgi")]
pub struct LogStream {
    log: Arc<dyn Log>,
    level: Level,
    prefix: String,
    pending: Mutex<String>,
}

impl LogStream {
    pub fn new(log: Arc<dyn Log>, level: Level, prefix: String) -> LogStream {
        LogStream {
            log,
            level,
            prefix,
            pending: Mutex::new(String::new()),
        }
    }

    fn emit(&self, line: &str) {
        self.log
            .log(self.level, &format!("{}{}", self.prefix, line));
    }
}

#[pymethods]
impl LogStream {
    fn write(&self, text: &str) -> usize {
        let mut pending = self.pending.lock().unwrap();
        pending.push_str(text);
        while let Some(i) = pending.find('\n') {
            let line: String = pending.drain(..=i).collect();
            self.emit(line.trim_end_matches(['\n', '\r']));
        }
        text.chars().count()
    }

    fn writelines(&self, lines: Vec<String>) {
        for line in lines {
            self.write(&line);
        }
    }

    fn flush(&self) {
        let rest = std::mem::take(&mut *self.pending.lock().unwrap());
        if !rest.is_empty() {
            self.emit(&rest);
        }
    }

    fn isatty(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testing::Collect;

    #[test]
    fn writes_whole_lines() {
        Python::initialize();
        let log = Arc::new(Collect::default());
        Python::attach(|py| {
            let s = Py::new(
                py,
                LogStream::new(log.clone(), Level::Error, "app: ".into()),
            )
            .unwrap();
            let s = s.bind(py);
            s.call_method1("write", ("par",)).unwrap();
            assert_eq!(log.text(), "");
            s.call_method1("write", ("tial\nnext\nta",)).unwrap();
            assert_eq!(log.text(), "app: partial\napp: next");
            s.call_method0("flush").unwrap();
            assert_eq!(log.text(), "app: partial\napp: next\napp: ta");
        });
    }
}
