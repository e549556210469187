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

/// The Python the module was built against and embeds (see build.rs): its
/// `X.Y`, and the interpreter that told pyo3 so (`PYO3_PYTHON`).
pub const BUILT_VERSION: &str = env!("NGX_WSGI_PYTHON_VERSION");
pub const BUILT_EXECUTABLE: &str = env!("NGX_WSGI_PYTHON_EXECUTABLE");

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

    /// Why this home cannot serve the Python the module embeds, when its
    /// files tell: a virtualenv made by another Python (its `pyvenv.cfg`
    /// says which), or a prefix without this Python's standard library.
    /// CPython itself would only fail to start, with "No module named
    /// 'encodings'". The message names both versions and the two fixes.
    pub fn mismatch(&self) -> Option<String> {
        self.mismatch_with(BUILT_VERSION, BUILT_EXECUTABLE)
    }

    fn mismatch_with(&self, built: &str, executable: &str) -> Option<String> {
        match self {
            Home::Default => None,
            Home::Venv(dir) => {
                let cfg = std::fs::read_to_string(dir.join("pyvenv.cfg")).ok()?;
                let (version, base) = read_pyvenv_cfg(&cfg);
                let version = version?;
                if version == built {
                    return None;
                }
                let rebuild = match base {
                    Some(bin) => format!("{bin}/python{version}"),
                    None => format!("{}/bin/python3", dir.display()),
                };
                Some(format!(
                    "\"{}\" is a virtualenv of Python {version}, and ngx-wsgi was built against \
                     Python {built} ({executable}): make the virtualenv with Python {built} \
                     ({executable} -m venv {}), or rebuild ngx-wsgi with PYO3_PYTHON={rebuild}",
                    dir.display(),
                    dir.display(),
                ))
            }
            Home::Prefix(dir) => {
                let stdlibs = stdlib_versions(dir);
                if stdlibs
                    .iter()
                    .any(|v| v == built || *v == format!("{built}t"))
                {
                    return None;
                }
                let Some(found) = stdlibs.last() else {
                    return Some(format!(
                        "\"{}\" is neither a virtualenv (no pyvenv.cfg) nor a Python prefix \
                         (no lib/python{built}/): ngx-wsgi was built against Python {built} \
                         ({executable})",
                        dir.display()
                    ));
                };
                Some(format!(
                    "\"{}\" is a prefix of Python {}, and ngx-wsgi was built against Python \
                     {built} ({executable}): name a Python {built} prefix or virtualenv, or \
                     rebuild ngx-wsgi with PYO3_PYTHON={}/bin/python{found}",
                    dir.display(),
                    stdlibs.join(", "),
                    dir.display(),
                ))
            }
        }
    }
}

/// The `X.Y` of the Python that made a virtualenv (`version = 3.12.1` from
/// the venv module, `version_info = 3.12.1.final.0` from virtualenv and
/// uv), and the directory of that Python's executable (`home`).
fn read_pyvenv_cfg(cfg: &str) -> (Option<String>, Option<String>) {
    let (mut version, mut home) = (None, None);
    for line in cfg.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "version" | "version_info" => {
                let mut parts = value.split('.');
                if let (Some(major), Some(minor)) = (parts.next(), parts.next()) {
                    if major.parse::<u8>().is_ok() && minor.parse::<u8>().is_ok() {
                        version = Some(format!("{major}.{minor}"));
                    }
                }
            }
            "home" => home = Some(value.trim_end_matches('/').to_string()),
            _ => {}
        }
    }
    (version, home)
}

/// The Pythons whose standard library a prefix holds: `X.Y` for each
/// `lib/pythonX.Y/encodings` (or lib64, or a `lib/pythonXY.zip`), sorted.
fn stdlib_versions(prefix: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(entries) = std::fs::read_dir(prefix.join(lib)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("python") else {
                continue;
            };
            let version = if let Some(digits) = rest.strip_suffix(".zip") {
                // python311.zip: the major is one digit
                match digits.split_at_checked(1) {
                    Some((major, minor)) if !minor.is_empty() => format!("{major}.{minor}"),
                    _ => continue,
                }
            } else if entry.path().join("encodings").is_dir() {
                rest.to_string()
            } else {
                continue;
            };
            if version.starts_with(|c: char| c.is_ascii_digit()) && !found.contains(&version) {
                found.push(version);
            }
        }
    }
    found.sort_by_key(|v| {
        let mut n = v
            .split('.')
            .map(|p| p.trim_end_matches('t').parse::<u32>().unwrap_or(0));
        (n.next(), n.next())
    });
    found
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
        // Checked again here, not only at `nginx -t`: the environment may
        // have been made anew since (a worker respawns, a binary upgrade).
        if let Some(why) = home.mismatch() {
            return Err(format!("\"wsgi_python_home\" {why}"));
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
        })
        .map_err(|e| match home {
            Home::Default => e,
            _ => format!(
                "{e} (is wsgi_python_home a virtualenv or prefix of Python {BUILT_VERSION}, \
                 which ngx-wsgi was built against?)"
            ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "ngx-wsgi-interpreter-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
        fn file(&self, path: &str, text: &str) -> &Self {
            let path = self.0.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
            self
        }
        fn dir(&self, path: &str) -> &Self {
            std::fs::create_dir_all(self.0.join(path)).unwrap();
            self
        }
        fn mismatch(&self) -> Option<String> {
            Home::of(Some(&self.0)).mismatch_with("3.11", "/usr/bin/python3")
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn venv_of_another_python_names_both_versions_and_the_fixes() {
        let venv = TempDir::new("venv-other");
        venv.file(
            "pyvenv.cfg",
            "home = /opt/py312/bin\ninclude-system-site-packages = false\nversion = 3.12.1\n",
        );
        let why = venv.mismatch().expect("a mismatch");
        let dir = venv.0.display();
        assert_eq!(
            why,
            format!(
                "\"{dir}\" is a virtualenv of Python 3.12, and ngx-wsgi was built against \
                 Python 3.11 (/usr/bin/python3): make the virtualenv with Python 3.11 \
                 (/usr/bin/python3 -m venv {dir}), or rebuild ngx-wsgi with \
                 PYO3_PYTHON=/opt/py312/bin/python3.12"
            )
        );
    }

    #[test]
    fn virtualenv_and_uv_write_version_info() {
        let venv = TempDir::new("venv-info");
        venv.file(
            "pyvenv.cfg",
            "home=/x/bin\nimplementation = CPython\nversion_info = 3.9.18.final.0\n",
        );
        assert!(venv
            .mismatch()
            .unwrap()
            .contains("is a virtualenv of Python 3.9,"));
        venv.file("pyvenv.cfg", "home = /x/bin\nversion_info = 3.11.7\n");
        assert_eq!(venv.mismatch(), None);
    }

    #[test]
    fn venv_of_the_same_python_or_of_unknown_version_passes() {
        let venv = TempDir::new("venv-same");
        venv.file("pyvenv.cfg", "home = /usr/bin\nversion = 3.11.2\n");
        assert_eq!(venv.mismatch(), None);
        venv.file("pyvenv.cfg", "home = /usr/bin\n");
        assert_eq!(venv.mismatch(), None);
    }

    #[test]
    fn prefix_needs_the_standard_library_of_the_same_python() {
        let prefix = TempDir::new("prefix");
        prefix
            .dir("lib/python3.9/encodings")
            .dir("lib/python3.12/encodings")
            .dir("lib/python3");
        let why = prefix.mismatch().expect("a mismatch");
        assert!(
            why.contains(
                "is a prefix of Python 3.9, 3.12, and ngx-wsgi was built against Python 3.11"
            ),
            "{why}"
        );
        assert!(
            why.ends_with(&format!(
                "PYO3_PYTHON={}/bin/python3.12",
                prefix.0.display()
            )),
            "{why}"
        );
        prefix.dir("lib64/python3.11/encodings");
        assert_eq!(prefix.mismatch(), None);
    }

    #[test]
    fn prefix_with_a_zipped_standard_library_passes() {
        let prefix = TempDir::new("prefix-zip");
        prefix.file("lib/python311.zip", "");
        assert_eq!(prefix.mismatch(), None);
    }

    #[test]
    fn neither_venv_nor_prefix() {
        let empty = TempDir::new("empty");
        let why = empty.mismatch().expect("a mismatch");
        assert!(
            why.contains(
                "is neither a virtualenv (no pyvenv.cfg) nor a Python prefix (no lib/python3.11/)"
            ),
            "{why}"
        );
    }

    #[test]
    fn default_home_is_never_a_mismatch() {
        assert_eq!(Home::Default.mismatch(), None);
    }
}
