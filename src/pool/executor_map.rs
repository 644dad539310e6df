//! [`ExecutorMap`]: the results of [`ProcessPoolExecutor::map`](super::ProcessPoolExecutor::map),
//! one task per chunk, read back in input order; and the job that gathers a chunk's results.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::error::{PoolError, TaskFailure, item_name};
use super::future::{Future, Shared, Window, Work};
use super::job::Job;
use super::records::{Form, read_varint};
use super::result::decode_error;
use crate::util::lock;

/// The results of a range of a `map` chunk: plain values while every item succeeded (the
/// common case, decoded straight into a `Vec<R>`), or each item its own result.
enum Part<R> {
    Values(std::vec::IntoIter<R>),
    Mixed(std::vec::IntoIter<Result<R, PoolError>>),
}

impl<R> Part<R> {
    fn take(&mut self) -> Option<Result<R, PoolError>> {
        match self {
            Part::Values(v) => v.next().map(Ok),
            Part::Mixed(v) => v.next(),
        }
    }
}

/// The results of one `map` chunk, in order, for [`ExecutorMap`] to take out.
struct Chunk<R>(Mutex<VecDeque<Part<R>>>);

struct Parts<R> {
    /// Ranges that arrived: offset in the chunk, their length and results.
    got: BTreeMap<usize, (usize, Part<R>)>,
    remaining: usize,
}

/// The job of one `map` chunk: its items arrive in ranges; the chunk's future finishes with
/// all of them.
struct ChunkJob<R> {
    base: usize,
    len: usize,
    shared: Arc<Shared<Chunk<R>>>,
    parts: Mutex<Parts<R>>,
}

impl<R: Send + 'static> ChunkJob<R> {
    fn put(&self, at: usize, n: usize, part: Part<R>) {
        let mut p = lock(&self.parts);
        if n == 0 || p.got.contains_key(&at) {
            return;
        }
        p.got.insert(at, (n, part));
        p.remaining = p.remaining.saturating_sub(n);
        if p.remaining > 0 {
            return;
        }
        let parts = std::mem::take(&mut p.got).into_values().map(|(_, part)| part).collect();
        drop(p);
        self.shared.finish(Ok(Chunk(Mutex::new(parts))));
    }

    fn put_error(&self, at: usize, n: usize, err: &PoolError) {
        let errs: Vec<_> = (0..n).map(|_| Err(err.clone())).collect();
        self.put(at, n, Part::Mixed(errs.into_iter()));
    }
}

impl<R: DeserializeOwned + Send + 'static> Job for ChunkJob<R> {
    fn deliver(&self, index: usize, form: Form, items: &[u8]) {
        let at = index.saturating_sub(self.base);
        let part = match form {
            Form::Values => crate::codec::decode::<Vec<R>>(items).map(|v| (v.len(), Part::Values(v.into_iter()))),
            _ => crate::codec::decode::<Vec<Result<R, TaskFailure>>>(items).map(|v| {
                let one = |(k, r): (usize, Result<R, TaskFailure>)| {
                    r.map_err(|f| PoolError::from_failure(f, &item_name(index + k, false)))
                };
                let v: Vec<_> = v.into_iter().enumerate().map(one).collect();
                (v.len(), Part::Mixed(v.into_iter()))
            }),
        };
        match part {
            Ok((n, part)) => self.put(at, n, part),
            Err(e) => {
                // The record starts with its count; without one, the rest of the chunk fails.
                let n = read_varint(items).map_or(self.len.saturating_sub(at), |(n, _)| n as usize);
                self.put_error(at, n.min(self.len.saturating_sub(at)), &decode_error(e));
            }
        }
    }

    fn fail(&self, range: Range<usize>, err: &PoolError) {
        self.put_error(range.start.saturating_sub(self.base), range.len(), err);
    }
}

/// A chunk of a `map` handed to the executor: its future, the same as a work (to cancel it),
/// its length.
pub(super) struct MapChunk<R> {
    future: Future<Chunk<R>>,
    pub(super) work: Arc<dyn Work>,
    len: usize,
}

/// The future of a chunk of `len` items (the map's items `base..base + len`) and the job that
/// fills it.
pub(super) fn new_chunk<R: DeserializeOwned + Send + 'static>(
    base: usize,
    len: usize,
    window: Weak<dyn Window>,
) -> (MapChunk<R>, Arc<dyn Job>) {
    let shared = Shared::<Chunk<R>>::new(Some(window));
    let job = Arc::new(ChunkJob {
        base,
        len,
        shared: shared.clone(),
        parts: Mutex::new(Parts { got: BTreeMap::new(), remaining: len }),
    });
    (MapChunk { future: Future::from_shared(shared.clone()), work: shared, len }, job)
}

/// What the map's input gave next: a chunk handed to the executor, or the error that kept
/// a chunk of this many items from it.
pub(super) enum Fed<R> {
    Chunk(MapChunk<R>),
    Failed(PoolError, usize),
}

/// Reads the next chunk of the input and hands it to the executor; `None` at the end.
pub(super) type Feed<'a, R> = Box<dyn FnMut() -> Option<Fed<R>> + 'a>;

enum Current<R> {
    Items(VecDeque<Part<R>>),
    Failed(PoolError, usize),
}

/// The results of [`ProcessPoolExecutor::map`](super::ProcessPoolExecutor::map), in input
/// order, each its own `Ok` or `Err`. Waiting for the next one sleeps until its chunk is done.
/// With a `buffersize` ([`map_with`](super::ProcessPoolExecutor::map_with)), the input is read
/// as results are taken, that many chunks ahead.
///
/// # Examples
/// ```no_run
/// let ex = multiproc::pool::ProcessPoolExecutor::new(2)?;
/// let mut it = ex.map(|x: u32| 100 / x, [5, 0, 10], 1)?;
/// assert_eq!(it.next().unwrap()?, 20);
/// assert!(it.next().unwrap().unwrap_err().is_panic()); // division by zero
/// assert_eq!(it.next().unwrap()?, 10);
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub struct ExecutorMap<'a, R> {
    chunks: VecDeque<Fed<R>>,
    current: Option<Current<R>>,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    feed: Option<Feed<'a, R>>,
    /// At most this many chunks handed over and not read (`None`: the whole input at once).
    ahead: Option<usize>,
}

impl<'a, R> ExecutorMap<'a, R> {
    /// Reads the input (all of it, or `ahead` chunks); the first failure to hand a chunk over
    /// is the call's error.
    pub(super) fn start(feed: Feed<'a, R>, ahead: Option<usize>) -> Result<ExecutorMap<'a, R>, PoolError> {
        let mut m = ExecutorMap {
            chunks: VecDeque::new(),
            current: None,
            deadline: None,
            timeout: None,
            feed: Some(feed),
            ahead,
        };
        m.fill();
        match m.chunks.iter().find_map(|c| if let Fed::Failed(e, _) = c { Some(e.clone()) } else { None }) {
            Some(e) => Err(e), // dropping `m` cancels what was handed over
            None => Ok(m),
        }
    }

    /// Results not there by `deadline` (`timeout` after the call) end the iterator.
    pub(super) fn with_deadline(mut self, deadline: Option<Instant>, timeout: Duration) -> ExecutorMap<'a, R> {
        (self.deadline, self.timeout) = (deadline, Some(timeout));
        self
    }

    fn fill(&mut self) {
        while self.ahead.is_none_or(|n| self.chunks.len() < n) {
            let Some(feed) = self.feed.as_mut() else { return };
            match feed() {
                Some(c) => self.chunks.push_back(c),
                None => self.feed = None,
            }
        }
    }

    fn cancel_rest(&mut self) {
        self.feed = None;
        for c in self.chunks.drain(..) {
            if let Fed::Chunk(c) = c {
                c.work.cancel_work();
            }
        }
    }
}

impl<R: Send + 'static> Iterator for ExecutorMap<'_, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match &mut self.current {
                Some(Current::Items(parts)) => {
                    while let Some(front) = parts.front_mut() {
                        if let Some(r) = front.take() {
                            return Some(r);
                        }
                        parts.pop_front();
                    }
                }
                Some(Current::Failed(e, left)) if *left > 0 => {
                    *left -= 1;
                    return Some(Err(e.clone()));
                }
                _ => {}
            }
            self.current = None;
            self.fill();
            let MapChunk { future: f, len, .. } = match self.chunks.pop_front()? {
                Fed::Chunk(c) => c,
                Fed::Failed(e, n) => {
                    self.current = Some(Current::Failed(e, n));
                    continue;
                }
            };
            match f.result_deadline(self.deadline, self.timeout) {
                Ok(chunk) => self.current = Some(Current::Items(std::mem::take(&mut *lock(&chunk.0)))),
                Err(e) if e.is_timeout() => {
                    f.cancel();
                    self.cancel_rest();
                    return Some(Err(e));
                }
                Err(e) => self.current = Some(Current::Failed(e, len)),
            }
        }
    }
}

impl<R> Drop for ExecutorMap<'_, R> {
    fn drop(&mut self) {
        self.cancel_rest();
    }
}

impl<R> fmt::Debug for ExecutorMap<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorMap")
            .field("chunks_ahead", &self.chunks.len())
            .field("input_left", &self.feed.is_some())
            .finish()
    }
}
