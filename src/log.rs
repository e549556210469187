//! Where the pure layers send their messages. The module routes them to
//! nginx's error log; tests collect them.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
}

/// A sink for log lines. Implementations must be callable from the Python
/// threads, so they are `Send + Sync`.
pub trait Log: Send + Sync {
    fn log(&self, level: Level, msg: &str);
}

#[cfg(test)]
pub mod testing {
    use super::*;
    use std::sync::Mutex;

    /// Collects log lines so that tests can assert on them.
    #[derive(Default)]
    pub struct Collect(pub Mutex<Vec<(Level, String)>>);

    impl Log for Collect {
        fn log(&self, level: Level, msg: &str) {
            self.0.lock().unwrap().push((level, msg.to_owned()));
        }
    }

    impl Collect {
        pub fn text(&self) -> String {
            let lines = self.0.lock().unwrap();
            lines
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}
