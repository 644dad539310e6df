//! Logging: Python's `multiprocessing.get_logger()` and `log_to_stderr()`, over the `log`
//! facade.
//!
//! The library reports its own life-cycle events (a process starting, a child running its
//! target and exiting, daemon children terminated at exit, exit hooks running, the fork
//! server or the shared-memory tracker being replaced) as records with the target
//! `multiproc`, at CPython's levels. They go two ways:
//!
//! - to the `log` facade, where any logger the program installed (`env_logger`, a `tracing`
//!   bridge, ...) sees them, filtered by its own rules; [`Level::SubDebug`] is `log`'s
//!   `Trace`, [`Level::SubWarning`] its `Warn`, [`Level::Critical`] its `Error`;
//! - to stderr, once [`log_to_stderr`] was called, formatted as CPython does:
//!   `[INFO/Process-1] child process calling self.run()`. The level and the stderr
//!   destination are carried into children under every start method, as CPython's spawn
//!   carries them.
//!
//! Nothing is printed until a program asks for it: the logger starts at [`Level::NotSet`]
//! with stderr off, as CPython's `multiprocessing` logger starts with no handler.
//!
//! # Examples
//! ```
//! use multiproc::logging::{self, Level};
//!
//! let logger = logging::log_to_stderr(Some(Level::Info));
//! assert_eq!(logger.level(), Level::Info);
//! logger.info("this line goes to stderr, as [INFO/MainProcess] this line goes to stderr");
//! logger.set_level(Level::NotSet); // quiet again
//! ```

use std::fmt;
use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// A logging level, with CPython's numbers (`logging.DEBUG` is 10, ...), including
/// `multiprocessing`'s own `SUBDEBUG` (5) and `SUBWARNING` (25).
///
/// # Examples
/// ```
/// use multiproc::logging::Level;
/// assert_eq!(Level::SubWarning as u8, 25);
/// assert!(Level::Debug < Level::Info);
/// assert_eq!("warning".parse::<Level>(), Ok(Level::Warning));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum Level {
    /// No level set: nothing is printed to stderr (Python's `NOTSET`, 0).
    NotSet = 0,
    /// `multiprocessing.util.SUBDEBUG` (5): the finest details (exit hooks, handles).
    SubDebug = 5,
    /// `DEBUG` (10).
    Debug = 10,
    /// `INFO` (20): processes starting, running, exiting.
    Info = 20,
    /// `multiprocessing.util.SUBWARNING` (25): something went wrong and was dealt with.
    SubWarning = 25,
    /// `WARNING` (30).
    Warning = 30,
    /// `ERROR` (40).
    Error = 40,
    /// `CRITICAL` (50).
    Critical = 50,
}

impl Level {
    /// CPython's name: `DEBUG`, `SUBWARNING`, ...
    ///
    /// # Examples
    /// ```
    /// assert_eq!(multiproc::logging::Level::SubDebug.name(), "SUBDEBUG");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Level::NotSet => "NOTSET",
            Level::SubDebug => "SUBDEBUG",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::SubWarning => "SUBWARNING",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    /// The `log` facade's level for records at this level.
    ///
    /// # Examples
    /// ```
    /// use multiproc::logging::Level;
    /// assert_eq!(Level::SubWarning.to_log(), log::Level::Warn);
    /// ```
    pub fn to_log(self) -> log::Level {
        match self {
            Level::NotSet | Level::SubDebug => log::Level::Trace,
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::SubWarning | Level::Warning => log::Level::Warn,
            Level::Error | Level::Critical => log::Level::Error,
        }
    }

    fn from_u8(v: u8) -> Level {
        match v {
            0 => Level::NotSet,
            1..=5 => Level::SubDebug,
            6..=10 => Level::Debug,
            11..=20 => Level::Info,
            21..=25 => Level::SubWarning,
            26..=30 => Level::Warning,
            31..=40 => Level::Error,
            _ => Level::Critical,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "NOTSET" => Level::NotSet,
            "SUBDEBUG" => Level::SubDebug,
            "DEBUG" => Level::Debug,
            "INFO" => Level::Info,
            "SUBWARNING" => Level::SubWarning,
            "WARNING" | "WARN" => Level::Warning,
            "ERROR" => Level::Error,
            "CRITICAL" => Level::Critical,
            _ => {
                return Err(format!(
                    "unknown logging level {s:?}: use NOTSET, SUBDEBUG, DEBUG, INFO, SUBWARNING, WARNING, ERROR or CRITICAL"
                ));
            }
        })
    }
}

/// The `multiproc` logger's level (a `Level` as `u8`).
static LEVEL: AtomicU8 = AtomicU8::new(0);
/// Set by `log_to_stderr`: records at or above the level are printed.
static STDERR: AtomicBool = AtomicBool::new(false);
/// Where records get the process name (`MainProcess`, `Process-1`, ...): the process layer's
/// current process, set by it (this layer knows no processes).
static NAME_SOURCE: OnceLock<fn() -> String> = OnceLock::new();

/// The library's logger: Python's `multiprocessing.get_logger()`.
///
/// A handle on process-wide state: every `Logger` is the same logger.
///
/// # Examples
/// ```
/// use multiproc::logging::{get_logger, Level};
/// let logger = get_logger();
/// logger.set_level(Level::Warning);
/// assert_eq!(get_logger().level(), Level::Warning);
/// logger.set_level(Level::NotSet);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logger(());

/// The library's logger (Python's `get_logger()`): level [`Level::NotSet`] and stderr off
/// until changed.
///
/// # Examples
/// See [`Logger`].
pub fn get_logger() -> Logger {
    Logger(())
}

/// Prints the library's records at `level` and above to stderr, formatted
/// `[LEVEL/ProcessName] message` (Python's `log_to_stderr(level)`); `None` keeps the current
/// level. Children started afterwards print theirs too, at the same level.
///
/// # Examples
/// ```
/// use multiproc::logging::{log_to_stderr, Level};
/// let logger = log_to_stderr(Some(Level::SubWarning));
/// assert_eq!(logger.level(), Level::SubWarning);
/// # logger.set_level(Level::NotSet);
/// ```
pub fn log_to_stderr(level: Option<Level>) -> Logger {
    if let Some(l) = level {
        LEVEL.store(l as u8, Ordering::Relaxed);
    }
    STDERR.store(true, Ordering::Relaxed);
    Logger(())
}

impl Logger {
    /// The level below which records are not printed to stderr ([`Level::NotSet`]: the
    /// threshold is `WARNING`).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(multiproc::logging::get_logger().level(), multiproc::logging::Level::NotSet);
    /// ```
    pub fn level(&self) -> Level {
        Level::from_u8(LEVEL.load(Ordering::Relaxed))
    }

    /// Sets the level (Python's `logger.setLevel`).
    ///
    /// # Examples
    /// See [`Logger`].
    pub fn set_level(&self, level: Level) {
        LEVEL.store(level as u8, Ordering::Relaxed);
    }

    /// Is a record at `level` printed to stderr?
    ///
    /// # Examples
    /// ```
    /// use multiproc::logging::{get_logger, Level};
    /// assert!(!get_logger().is_enabled_for(Level::Critical)); // stderr is off by default
    /// ```
    pub fn is_enabled_for(&self, level: Level) -> bool {
        to_stderr(level)
    }

    /// Logs `msg` at `level` through the library's logger.
    ///
    /// # Examples
    /// ```
    /// use multiproc::logging::{get_logger, Level};
    /// get_logger().log(Level::SubDebug, "a detail");
    /// ```
    pub fn log(&self, level: Level, msg: impl fmt::Display) {
        emit(level, format_args!("{msg}"));
    }

    /// Logs at [`Level::Debug`].
    ///
    /// # Examples
    /// ```
    /// multiproc::logging::get_logger().debug("details");
    /// ```
    pub fn debug(&self, msg: impl fmt::Display) {
        self.log(Level::Debug, msg);
    }

    /// Logs at [`Level::Info`].
    ///
    /// # Examples
    /// ```
    /// multiproc::logging::get_logger().info("started");
    /// ```
    pub fn info(&self, msg: impl fmt::Display) {
        self.log(Level::Info, msg);
    }

    /// Logs at [`Level::Warning`].
    ///
    /// # Examples
    /// ```
    /// multiproc::logging::get_logger().warning("careful");
    /// ```
    pub fn warning(&self, msg: impl fmt::Display) {
        self.log(Level::Warning, msg);
    }

    /// Logs at [`Level::Error`].
    ///
    /// # Examples
    /// ```
    /// multiproc::logging::get_logger().error("it broke");
    /// ```
    pub fn error(&self, msg: impl fmt::Display) {
        self.log(Level::Error, msg);
    }
}

/// Is a record at `level` printed? With the level unset, the threshold is `WARNING`: the
/// effective level CPython's `NOTSET` logger gets from the root logger.
fn to_stderr(level: Level) -> bool {
    STDERR.load(Ordering::Relaxed) && {
        let min = match LEVEL.load(Ordering::Relaxed) {
            0 => Level::Warning as u8,
            l => l,
        };
        level != Level::NotSet && level as u8 >= min
    }
}

/// Sends one record to the facade and, when enabled, to stderr.
pub(crate) fn emit(level: Level, args: fmt::Arguments<'_>) {
    if to_stderr(level) {
        let name = NAME_SOURCE.get().map(|f| f()).unwrap_or_else(|| "MainProcess".to_string());
        // One write per record, so records of several processes do not interleave mid-line.
        let line = format!("[{}/{name}] {args}\n", level.name());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
    log::log!(target: "multiproc", level.to_log(), "{args}");
}

/// The state a child inherits: `Some(level)` when stderr logging is on.
pub(crate) fn inherited() -> Option<u8> {
    STDERR.load(Ordering::Relaxed).then(|| LEVEL.load(Ordering::Relaxed))
}

/// Takes on the state a parent sent ([`inherited`]).
pub(crate) fn become_child(stderr_level: Option<u8>) {
    if let Some(l) = stderr_level {
        LEVEL.store(l, Ordering::Relaxed);
        STDERR.store(true, Ordering::Relaxed);
    }
}

/// Where records get the process name from.
pub(crate) fn set_name_source(f: fn() -> String) {
    let _ = NAME_SOURCE.set(f);
}

/// Logs a library record: `mp_log!(Level::Info, "format {}", args)`.
macro_rules! mp_log {
    ($level:expr, $($arg:tt)+) => {
        if $crate::logging::wanted($level) {
            $crate::logging::emit($level, format_args!($($arg)+))
        }
    };
}
pub(crate) use mp_log;

/// Is a record at `level` wanted anywhere (stderr, or the facade's logger)? Cheap: checked
/// before a record is formatted.
pub(crate) fn wanted(level: Level) -> bool {
    to_stderr(level) || log::log_enabled!(target: "multiproc", level.to_log())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_order_and_parse_as_cpython() {
        let all = [
            Level::NotSet,
            Level::SubDebug,
            Level::Debug,
            Level::Info,
            Level::SubWarning,
            Level::Warning,
            Level::Error,
            Level::Critical,
        ];
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        for l in all {
            assert_eq!(l.name().parse::<Level>(), Ok(l));
            assert_eq!(Level::from_u8(l as u8), l);
        }
        assert!("LOUD".parse::<Level>().unwrap_err().contains("SUBWARNING"));
    }
}
