//! Starting CPython inside an nginx worker.
//!
//! Called from `init_process`, never in the master: each worker (and each
//! reload's new workers) starts a fresh interpreter with fresh code.
//! nginx owns the signals, so Python installs no handlers. Python is never
//! finalized: `Py_FinalizeEx` can hang on live threads, and the worker is
//! exiting anyway.

use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Where the interpreter takes its prefix from (`wsgi_python_home`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Home {
    /// The interpreter the module was built against, as installed.
    Default,
    /// A virtualenv (it has `pyvenv.cfg`): Python starts as if run from
    /// `DIR/bin/python3`, so the venv's site-packages are on `sys.path`
    /// and the standard library comes from the venv's base.
    Venv(std::path::PathBuf),
    /// Another Python prefix, as `PYTHONHOME` would name it.
    Prefix(std::path::PathBuf),
}

impl Home {
    pub fn of(dir: Option<&Path>) -> Home {
        match dir {
            None => Home::Default,
            Some(d) if d.join("pyvenv.cfg").is_file() => Home::Venv(d.to_owned()),
            Some(d) => Home::Prefix(d.to_owned()),
        }
    }
}

fn status(s: ffi::PyStatus, what: &str) -> Result<(), String> {
    // SAFETY: plain inspection of a status value.
    if unsafe { ffi::PyStatus_Exception(s) } == 0 {
        return Ok(());
    }
    let msg = if s.err_msg.is_null() {
        "unknown error".to_string()
    } else {
        // SAFETY: CPython's error messages are static C strings.
        unsafe { std::ffi::CStr::from_ptr(s.err_msg) }
            .to_string_lossy()
            .into_owned()
    };
    Err(format!("{what}: {msg}"))
}

/// Start the interpreter (once per process) and release the GIL so that
/// the Python threads can take it.
pub fn start(home: &Home) -> Result<(), String> {
    // SAFETY: called once, on the worker's main thread, before any other
    // Python use; the config is initialised, filled and cleared in order.
    unsafe {
        if ffi::Py_IsInitialized() != 0 {
            return Ok(());
        }
        let mut config = std::mem::MaybeUninit::<ffi::PyConfig>::uninit();
        ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        let mut config = config.assume_init();
        config.install_signal_handlers = 0;
        config.parse_argv = 0;
        let cfg: *mut ffi::PyConfig = &mut config;
        let set = move |field: *mut *mut libc::wchar_t, value: &Path| {
            let c = CString::new(value.as_os_str().as_bytes())
                .map_err(|_| "path has a NUL byte".to_string())?;
            status(
                ffi::PyConfig_SetBytesString(cfg, field, c.as_ptr()),
                "wsgi_python_home",
            )
        };
        let result = match home {
            Home::Default => Ok(()),
            Home::Venv(dir) => set(
                &raw mut (*cfg).program_name,
                &dir.join("bin").join("python3"),
            ),
            Home::Prefix(dir) => set(&raw mut (*cfg).home, dir),
        }
        .and_then(|()| {
            status(
                ffi::Py_InitializeFromConfig(cfg),
                "Python initialization failed",
            )
        });
        ffi::PyConfig_Clear(cfg);
        result?;
        ffi::PyEval_SaveThread();
    }
    Ok(())
}

/// Put `dirs` at the front of `sys.path`, in the given order, once each.
pub fn prepend_sys_path(py: Python<'_>, dirs: &[String]) -> PyResult<()> {
    let path = py.import("sys")?.getattr("path")?;
    for dir in dirs.iter().rev() {
        while path.call_method1("count", (dir,))?.extract::<usize>()? > 0 {
            path.call_method1("remove", (dir,))?;
        }
        path.call_method1("insert", (0, dir))?;
    }
    Ok(())
}
