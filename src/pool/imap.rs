//! [`IMap`]: the lazy iterator of `imap` and `imap_unordered`.
//!
//! The input is read in the caller's thread, a chunk at a time, and only while fewer than
//! `buffersize` chunks are in flight or waiting to be taken (Python 3.14's `buffersize`): the
//! pool never holds more than that, whatever the length of the input.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::core::{Core, NewTask};
use super::error::{PoolError, PoolErrorKind, TaskFailure, item_name};
use super::job::{Job, in_collector};
use super::progress::Bar;
use super::records::Form;
use crate::error::CodecError;
use crate::util::lock;

struct Arrived<R> {
    /// By item index (`imap`).
    ordered: BTreeMap<usize, Result<R, PoolError>>,
    /// In arrival order (`imap_unordered`).
    unordered: VecDeque<Result<R, PoolError>>,
}

/// Where the results of an `imap` arrive.
pub(crate) struct ImapJob<R> {
    ordered: bool,
    arrived: Mutex<Arrived<R>>,
    cv: Condvar,
}

impl<R> ImapJob<R> {
    pub(crate) fn new(ordered: bool) -> ImapJob<R> {
        ImapJob {
            ordered,
            arrived: Mutex::new(Arrived { ordered: BTreeMap::new(), unordered: VecDeque::new() }),
            cv: Condvar::new(),
        }
    }

    fn put(&self, items: impl Iterator<Item = (usize, Result<R, PoolError>)>) {
        let mut a = lock(&self.arrived);
        for (i, r) in items {
            if self.ordered {
                a.ordered.insert(i, r);
            } else {
                a.unordered.push_back(r);
            }
        }
        drop(a);
        self.cv.notify_all();
    }
}

impl<R: DeserializeOwned + Send + 'static> Job for ImapJob<R> {
    fn deliver(&self, index: usize, form: Form, items: &[u8]) {
        if form == Form::Values {
            match crate::codec::decode::<Vec<R>>(items) {
                Ok(v) => self.put(v.into_iter().enumerate().map(|(k, r)| (index + k, Ok(r)))),
                Err(e) => {
                    let n = super::records::read_varint(items).map_or(1, |(n, _)| n as usize);
                    let err = PoolError::new(PoolErrorKind::Decode, format!("cannot decode the results: {e}"));
                    self.fail(index..index + n, &err);
                }
            }
            return;
        }
        match crate::codec::decode::<Vec<Result<R, TaskFailure>>>(items) {
            Ok(v) => self.put(
                v.into_iter()
                    .enumerate()
                    .map(|(k, r)| (index + k, r.map_err(|f| PoolError::from_failure(f, &item_name(index + k, false))))),
            ),
            Err(e) => {
                let n = super::records::read_varint(items).map_or(1, |(n, _)| n as usize);
                let err = PoolError::new(PoolErrorKind::Decode, format!("cannot decode the results: {e}"));
                self.fail(index..index + n, &err);
            }
        }
    }

    fn fail(&self, range: Range<usize>, err: &PoolError) {
        self.put(range.map(|i| (i, Err(err.clone()))));
    }
}

/// Reads the next chunk of the input (at most the given number of items), encoded as a
/// `Vec<A>`, with its item count; `None` at the end of the input.
pub(crate) type Feed<'a> = Box<dyn FnMut(usize) -> Option<(Result<Vec<u8>, CodecError>, usize)> + 'a>;

/// The iterator of [`Pool::imap`](super::Pool::imap) and
/// [`Pool::imap_unordered`](super::Pool::imap_unordered) (Python's `IMapIterator`): yields
/// each item's result, `Ok` or the item's own error (a failed item does not end the
/// iteration), in input order for `imap`, as they finish for `imap_unordered`.
///
/// It reads its input lazily, in the thread that calls [`next`](Iterator::next), keeping at
/// most `buffersize` chunks in flight (see [`TaskOptions::buffersize`](super::TaskOptions::buffersize)).
///
/// # Examples
/// ```no_run
/// use multiproc::pool::Pool;
///
/// let pool = Pool::new(2)?;
/// // An endless input: only a few chunks are ever read ahead.
/// let mut squares = pool.imap(|x: u64| x * x, 0..)?;
/// assert_eq!(squares.next().unwrap()?, 0);
/// assert_eq!(squares.next().unwrap()?, 1);
/// assert_eq!(squares.nth(8).unwrap()?, 100);
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub struct IMap<'a, R> {
    core: Arc<Core>,
    job: Arc<ImapJob<R>>,
    feed: Feed<'a>,
    entry: i64,
    timeouts: (Option<Duration>, Option<Duration>),
    chunksize: usize,
    /// Items allowed out (in flight or not yet taken).
    window: usize,
    /// Items read from the input so far.
    submitted: usize,
    /// Items handed to the caller so far (for `imap`, also the index of the next one).
    yielded: usize,
    exhausted: bool,
    /// Moves as the caller takes results.
    bar: Bar,
}

impl<'a, R: DeserializeOwned + Send + 'static> IMap<'a, R> {
    pub(crate) fn new(
        core: Arc<Core>,
        ordered: bool,
        feed: Feed<'a>,
        entry: i64,
        timeouts: (Option<Duration>, Option<Duration>),
        (chunksize, buffersize): (usize, usize),
        bar: Bar,
    ) -> IMap<'a, R> {
        IMap {
            core,
            job: Arc::new(ImapJob::new(ordered)),
            feed,
            entry,
            timeouts,
            chunksize,
            window: chunksize.saturating_mul(buffersize).max(1),
            submitted: 0,
            yielded: 0,
            exhausted: false,
            bar,
        }
    }

    /// Reads and submits chunks while the window has room.
    fn fill(&mut self) {
        while !self.exhausted && self.submitted - self.yielded + self.chunksize <= self.window {
            let Some((encoded, n)) = (self.feed)(self.chunksize) else {
                self.exhausted = true;
                break;
            };
            let base = self.submitted;
            self.submitted += n;
            let job: Arc<dyn Job> = self.job.clone();
            let r = match encoded {
                Ok(payload) => self.core.submit(NewTask {
                    job: job.clone(),
                    base,
                    count: n as u32,
                    entry: self.entry,
                    payload,
                    timeouts: self.timeouts,
                    single: false,
                }),
                Err(e) => Err(PoolError::encode(e)),
            };
            if let Err(e) = r {
                if e.kind() != PoolErrorKind::Encode {
                    self.exhausted = true; // the pool takes no more: end after this
                }
                job.fail(base..base + n, &e);
            }
        }
    }

    fn take(&mut self) -> Option<Result<R, PoolError>> {
        let mut a = lock(&self.job.arrived);
        let r = if self.job.ordered { a.ordered.remove(&self.yielded) } else { a.unordered.pop_front() };
        if r.is_some() {
            self.yielded += 1;
            self.bar.inc(1);
        }
        r
    }

    fn next_deadline(&mut self, deadline: Option<Instant>, timeout: Option<Duration>) -> Option<Result<R, PoolError>> {
        loop {
            self.fill();
            if let Some(r) = self.take() {
                return Some(r);
            }
            if self.exhausted && self.yielded == self.submitted {
                return None;
            }
            if in_collector() {
                return Some(Err(PoolError::in_callback()));
            }
            let a = lock(&self.job.arrived);
            let ready = if self.job.ordered { a.ordered.contains_key(&self.yielded) } else { !a.unordered.is_empty() };
            if ready {
                continue;
            }
            match deadline {
                None => drop(self.job.cv.wait(a).unwrap_or_else(|e| e.into_inner())),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Some(Err(match timeout {
                            Some(t) => PoolError::new(
                                PoolErrorKind::Timeout,
                                format!("no result within {t:?}; the tasks go on: call next() again"),
                            ),
                            _ => PoolError::new(PoolErrorKind::WouldBlock, "the next result is not ready yet"),
                        }));
                    }
                    drop(self.job.cv.wait_timeout(a, left).unwrap_or_else(|e| e.into_inner()));
                }
            }
        }
    }

    /// The next result, waiting at most `timeout` (Python's `next(timeout)`); `None` at the
    /// end.
    ///
    /// # Errors
    /// `Some(Err(_))` with [`PoolErrorKind::Timeout`] when nothing arrived in time (the
    /// iteration can go on), or the item's own error.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let mut it = pool.imap(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), [300, 0])?;
    /// assert!(it.next_timeout(Duration::from_millis(10)).unwrap().unwrap_err().is_timeout());
    /// assert!(it.next_timeout(Duration::from_secs(10)).unwrap().is_ok());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R, PoolError>> {
        self.next_deadline(crate::deadline::after(timeout), Some(timeout))
    }

    /// The next result if it is there now; `Some(Err(_))` with
    /// [`PoolErrorKind::WouldBlock`] if not yet, `None` at the end.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let mut it = pool.imap(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), [200])?;
    /// assert!(it.try_next().unwrap().unwrap_err().is_would_block());
    /// assert!(it.next().unwrap().is_ok());
    /// assert!(it.try_next().is_none());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn try_next(&mut self) -> Option<Result<R, PoolError>> {
        self.next_deadline(Some(Instant::now()), None)
    }
}

impl<R: DeserializeOwned + Send + 'static> Iterator for IMap<'_, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_deadline(None, None)
    }
}

impl<R> fmt::Debug for IMap<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMap")
            .field("ordered", &self.job.ordered)
            .field("submitted", &self.submitted)
            .field("yielded", &self.yielded)
            .field("exhausted", &self.exhausted)
            .finish()
    }
}
