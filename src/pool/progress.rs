//! The progress bar of long `map`s and `imap`s (feature `progress`, with `indicatif`): the
//! items done, their rate and the time left, on standard error (hidden when it is not a
//! terminal).
//!
//! A `map`'s bar moves as results arrive (its job is wrapped, in the collector thread); an
//! `imap`'s as the caller takes them. Without the feature, [`Bar`] is empty and every call on
//! it does nothing.

use std::ops::Range;
use std::sync::Arc;

use super::error::PoolError;
use super::job::Job;
use super::records::Form;

/// A progress bar, or nothing.
#[derive(Clone, Default)]
pub(crate) struct Bar {
    #[cfg(feature = "progress")]
    bar: Option<indicatif::ProgressBar>,
}

impl Bar {
    /// A bar when `on`, for `len` items (`None`: unknown, no time left shown).
    #[cfg(feature = "progress")]
    pub(crate) fn new(on: bool, len: Option<u64>) -> Bar {
        use indicatif::{ProgressBar, ProgressStyle};
        if !on {
            return Bar::default();
        }
        let (bar, template) = match len {
            Some(n) => (ProgressBar::new(n), "{bar:40} {pos}/{len} [{elapsed_precise} < {eta_precise}, {rate}]"),
            None => (ProgressBar::no_length(), "{spinner} {pos} [{elapsed_precise}, {rate}]"),
        };
        let rate = |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0} items/s", s.per_sec());
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.with_key("rate", rate));
        }
        Bar { bar: Some(bar) }
    }

    /// No bar: the feature is off.
    #[cfg(not(feature = "progress"))]
    pub(crate) fn new(_on: bool, _len: Option<u64>) -> Bar {
        Bar::default()
    }

    fn is_on(&self) -> bool {
        #[cfg(feature = "progress")]
        {
            self.bar.is_some()
        }
        #[cfg(not(feature = "progress"))]
        {
            false
        }
    }

    /// `n` more items are done.
    #[inline]
    pub(crate) fn inc(&self, n: u64) {
        #[cfg(feature = "progress")]
        if let Some(b) = &self.bar {
            b.inc(n);
            if b.length().is_some_and(|len| b.position() >= len) {
                b.finish();
            }
        }
        #[cfg(not(feature = "progress"))]
        let _ = n;
    }

    /// The job itself without a bar; with one, a job that moves the bar as items end.
    pub(crate) fn wrap(self, job: Arc<dyn Job>) -> Arc<dyn Job> {
        if self.is_on() { Arc::new(Counted { job, bar: self }) } else { job }
    }
}

impl std::fmt::Debug for Bar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bar").field("on", &self.is_on()).finish()
    }
}

/// A job whose items move a bar as they arrive or fail.
struct Counted {
    job: Arc<dyn Job>,
    bar: Bar,
}

impl Job for Counted {
    fn deliver(&self, index: usize, form: Form, items: &[u8]) {
        let n = super::records::read_varint(items).map_or(0, |(n, _)| n);
        self.job.deliver(index, form, items);
        self.bar.inc(n);
    }

    fn fail(&self, range: Range<usize>, err: &PoolError) {
        let n = range.len() as u64;
        self.job.fail(range, err);
        self.bar.inc(n);
    }
}
