//! The pool's records: what the pool sends a worker and what comes back, as bytes.
//!
//! This is the seam every backend carries (shared-memory rings between processes, channels
//! between threads, and later Redis streams): a record is a fixed little-endian header and a
//! payload in the crate's codec. Nothing here names a process, a pid file descriptor or a
//! ring.
//!
//! | record | direction | header | payload |
//! |---|---|---|---|
//! | `TASK` | pool → worker | task id, function (entry offset), first item to run, item count, soft and hard timeouts | the items' arguments: an encoded `Vec<A>` |
//! | `STOP` | pool → worker | | |
//! | `RESULT` | worker → pool | worker, generation, task id, first item, busy time, [`Form`] | `n` item results, varint `n` first: `Values`, `n` encoded `R` (an encoded `Vec<R>`: every item succeeded); `Tagged`, `n` encoded `Result<R, TaskFailure>`; `Failed`, one encoded `TaskFailure` for all `n` |
//! | `READY` | worker → pool | worker, generation, pid | |
//! | `INIT_FAILED` | worker → pool | worker, generation | an encoded `TaskFailure` |
//! | `LEAVING` | worker → pool | worker, generation, reason | |
//! | `EXIT_VALUE` | worker → pool | worker, generation, ok or failed | what the worker-exit function returned (encoded), or an encoded `TaskFailure` |
//! | `EXITED` | backend → pool | worker, generation, exit code, the task and item it held, the salvaged task and first item | the worker's [`ExitStats`] (when flagged), then the salvaged results, as a `Values` payload |
//! | `WAKE` | pool → pool | | |
//!
//! A task's function travels as the offset of its trampoline from the binary's anchor (as a
//! process target does); the worker checked at its start that it runs the pool's binary.

/// Version of the header layouts.
const VERSION: u8 = 1;

/// Task record kinds.
pub(crate) const TASK: u8 = 1;
pub(crate) const STOP: u8 = 2;

/// Bytes of a task record's header.
pub(crate) const TASK_HDR: usize = 48;

/// The header of a record sent to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TaskHeader {
    pub(crate) kind: u8,
    /// The task's id (unique in the pool; 0 is never used).
    pub(crate) id: u64,
    /// The task trampoline's offset from the anchor.
    pub(crate) entry: i64,
    /// The first item to run (items before it ran before, on a worker that died).
    pub(crate) start: u32,
    /// Items in the payload.
    pub(crate) count: u32,
    /// Soft timeout per item in nanoseconds, 0 for none.
    pub(crate) soft_ns: u64,
    /// Hard timeout per item in nanoseconds, 0 for none.
    pub(crate) hard_ns: u64,
}

impl TaskHeader {
    /// A `STOP` record's header.
    pub(crate) fn stop() -> TaskHeader {
        TaskHeader { kind: STOP, ..TaskHeader::default() }
    }

    /// Does the worker read the clock for every item (for a timeout)?
    pub(crate) fn is_timed(&self) -> bool {
        self.soft_ns != 0 || self.hard_ns != 0
    }

    pub(crate) fn to_bytes(self) -> [u8; TASK_HDR] {
        let mut b = [0u8; TASK_HDR];
        b[0] = self.kind;
        b[1] = VERSION;
        b[4..8].copy_from_slice(&self.start.to_le_bytes());
        b[8..16].copy_from_slice(&self.id.to_le_bytes());
        b[16..24].copy_from_slice(&self.entry.to_le_bytes());
        b[24..28].copy_from_slice(&self.count.to_le_bytes());
        b[32..40].copy_from_slice(&self.soft_ns.to_le_bytes());
        b[40..48].copy_from_slice(&self.hard_ns.to_le_bytes());
        b
    }

    /// The header at the start of `record`, and the payload after it; `None` if `record` is
    /// not a task record of this version.
    pub(crate) fn parse(record: &[u8]) -> Option<(TaskHeader, &[u8])> {
        if record.len() < TASK_HDR || record[1] != VERSION || !matches!(record[0], TASK | STOP) {
            return None;
        }
        let h = TaskHeader {
            kind: record[0],
            start: u32_at(record, 4),
            id: u64_at(record, 8),
            entry: u64_at(record, 16) as i64,
            count: u32_at(record, 24),
            soft_ns: u64_at(record, 32),
            hard_ns: u64_at(record, 40),
        };
        Some((h, &record[TASK_HDR..]))
    }
}

/// Event record kinds.
pub(crate) const RESULT: u8 = 1;
pub(crate) const READY: u8 = 2;
pub(crate) const INIT_FAILED: u8 = 3;
pub(crate) const LEAVING: u8 = 4;
pub(crate) const EXITED: u8 = 5;
pub(crate) const WAKE: u8 = 6;
pub(crate) const EXIT_VALUE: u8 = 7;

/// Bytes of an event record's header.
pub(crate) const EVENT_HDR: usize = 48;

/// How the item results of a `RESULT` record are encoded (after the count `n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `n` values `R`: every item succeeded (the common case, decoded as a plain `Vec<R>`).
    Values,
    /// `n` times `Result<R, TaskFailure>`.
    Tagged,
    /// One `TaskFailure`, the outcome of all `n` items.
    Failed,
}

/// Why a worker leaves on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leave {
    /// It completed `maxtasksperchild` tasks.
    MaxTasks,
    /// Its resident memory passed `max_memory_per_child` after a task.
    Memory,
}

/// What a worker was running when it ended, read from its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) task: u64,
    /// The item running then; `None` between two items (the previous one had finished).
    pub(crate) item: Option<u32>,
}

/// What a worker counted over its life (from its slot), as its `EXITED` carries it: the
/// numbers behind the pool's insights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ExitStats {
    /// Task records (chunks) and items completed.
    pub(crate) records: u64,
    pub(crate) items: u64,
    /// Nanoseconds running records, in the initializer and state function, in the exit
    /// function, and alive in all.
    pub(crate) busy_ns: u64,
    pub(crate) init_ns: u64,
    pub(crate) exit_ns: u64,
    pub(crate) alive_ns: u64,
}

/// Bytes of [`ExitStats`] on the wire.
pub(crate) const STATS_LEN: usize = 48;

impl ExitStats {
    pub(crate) fn to_bytes(self) -> [u8; STATS_LEN] {
        let mut b = [0u8; STATS_LEN];
        let words = [self.records, self.items, self.busy_ns, self.init_ns, self.exit_ns, self.alive_ns];
        for (i, w) in words.iter().enumerate() {
            b[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    fn parse(b: &[u8]) -> Option<ExitStats> {
        if b.len() < STATS_LEN {
            return None;
        }
        let w = |i: usize| u64_at(b, 8 * i);
        Some(ExitStats { records: w(0), items: w(1), busy_ns: w(2), init_ns: w(3), exit_ns: w(4), alive_ns: w(5) })
    }

    /// The sum of two lives (of the workers of one slot).
    pub(crate) fn add(self, o: ExitStats) -> ExitStats {
        ExitStats {
            records: self.records + o.records,
            items: self.items + o.items,
            busy_ns: self.busy_ns + o.busy_ns,
            init_ns: self.init_ns + o.init_ns,
            exit_ns: self.exit_ns + o.exit_ns,
            alive_ns: self.alive_ns + o.alive_ns,
        }
    }
}

/// A record that reached the pool, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// Results of items `first..first + n` of `task` (`items` starts with `n`, then as
    /// `form` says).
    Result { worker: u32, generation: u32, task: u64, first: u32, busy_ns: u64, form: Form, items: &'a [u8] },
    /// The worker ran its initializer and waits for tasks.
    Ready { worker: u32, generation: u32, pid: u32 },
    /// The initializer failed; `failure` is an encoded `TaskFailure`. The worker exits next.
    InitFailed { worker: u32, generation: u32, failure: &'a [u8] },
    /// The worker leaves after the task it just finished; an `Exited` follows.
    Leaving { worker: u32, generation: u32, reason: Leave },
    /// The worker is gone. Every record it sent came before this one.
    Exited {
        worker: u32,
        generation: u32,
        /// The exit code as Python reports it (`-N` for signal `N`).
        code: i32,
        held: Option<Held>,
        /// Results of a chunk the worker had finished but not sent: `(task, first item,
        /// items)`, `items` as in `Result`.
        salvage: Option<(u64, u32, &'a [u8])>,
        /// What the worker counted, when the backend read it.
        stats: Option<ExitStats>,
    },
    /// What the worker-exit function returned (`Ok`: the encoded value) or why it failed
    /// (`Err`: an encoded `TaskFailure`), sent as the worker leaves cleanly.
    ExitValue { worker: u32, generation: u32, value: Result<&'a [u8], &'a [u8]> },
    /// Nothing: the pool's timers changed.
    Wake,
}

impl Event<'_> {
    /// The header of a `RESULT` record; the payload is varint `n` and the `n` item results.
    pub(crate) fn result_header(
        worker: u32,
        generation: u32,
        task: u64,
        first: u32,
        busy_ns: u64,
        form: Form,
    ) -> [u8; EVENT_HDR] {
        let mut b = header(RESULT, worker, generation);
        b[2] = match form {
            Form::Values => 0,
            Form::Tagged => 1,
            Form::Failed => 2,
        };
        b[12..16].copy_from_slice(&first.to_le_bytes());
        b[16..24].copy_from_slice(&task.to_le_bytes());
        b[24..32].copy_from_slice(&busy_ns.to_le_bytes());
        b
    }

    pub(crate) fn ready_header(worker: u32, generation: u32, pid: u32) -> [u8; EVENT_HDR] {
        let mut b = header(READY, worker, generation);
        b[24..32].copy_from_slice(&u64::from(pid).to_le_bytes());
        b
    }

    /// The header of an `INIT_FAILED` record; the payload is the encoded failure.
    pub(crate) fn init_failed_header(worker: u32, generation: u32) -> [u8; EVENT_HDR] {
        header(INIT_FAILED, worker, generation)
    }

    pub(crate) fn leaving_header(worker: u32, generation: u32, reason: Leave) -> [u8; EVENT_HDR] {
        let mut b = header(LEAVING, worker, generation);
        b[2] = match reason {
            Leave::MaxTasks => 1,
            Leave::Memory => 2,
        };
        b
    }

    /// The start of an `EXITED` record: the header, then the stats; the salvaged items (none
    /// without salvage) go after it.
    pub(crate) fn exited_head(
        worker: u32,
        generation: u32,
        code: i32,
        held: Option<Held>,
        salvage: Option<(u64, u32)>,
        stats: ExitStats,
    ) -> Vec<u8> {
        let mut rec = Event::exited_header(worker, generation, code, held, salvage).to_vec();
        rec[3] |= 8;
        rec.extend_from_slice(&stats.to_bytes());
        rec
    }

    /// The header of an `EXITED` record without stats; the payload is the salvaged items
    /// (empty without).
    pub(crate) fn exited_header(
        worker: u32,
        generation: u32,
        code: i32,
        held: Option<Held>,
        salvage: Option<(u64, u32)>,
    ) -> [u8; EVENT_HDR] {
        let mut b = header(EXITED, worker, generation);
        let mut flags = 0u8;
        if let Some(h) = held {
            flags |= 1;
            b[32..40].copy_from_slice(&h.task.to_le_bytes());
            if let Some(i) = h.item {
                flags |= 4;
                b[40..44].copy_from_slice(&i.to_le_bytes());
            }
        }
        if let Some((task, first)) = salvage {
            flags |= 2;
            b[16..24].copy_from_slice(&task.to_le_bytes());
            b[12..16].copy_from_slice(&first.to_le_bytes());
        }
        b[3] = flags;
        b[24..32].copy_from_slice(&i64::from(code).to_le_bytes());
        b
    }

    /// The header of an `EXIT_VALUE` record; the payload is the value or the failure.
    pub(crate) fn exit_value_header(worker: u32, generation: u32, ok: bool) -> [u8; EVENT_HDR] {
        let mut b = header(EXIT_VALUE, worker, generation);
        b[2] = u8::from(!ok);
        b
    }

    pub(crate) fn wake_header() -> [u8; EVENT_HDR] {
        header(WAKE, 0, 0)
    }

    /// The event in `record`; `None` if it is not an event record of this version.
    pub(crate) fn parse(record: &[u8]) -> Option<Event<'_>> {
        if record.len() < EVENT_HDR || record[1] != VERSION {
            return None;
        }
        let worker = u32_at(record, 4);
        let generation = u32_at(record, 8);
        let first = u32_at(record, 12);
        let task = u64_at(record, 16);
        let a = u64_at(record, 24);
        let payload = &record[EVENT_HDR..];
        Some(match record[0] {
            RESULT => {
                let form = match record[2] {
                    0 => Form::Values,
                    1 => Form::Tagged,
                    2 => Form::Failed,
                    _ => return None,
                };
                Event::Result { worker, generation, task, first, busy_ns: a, form, items: payload }
            }
            READY => Event::Ready { worker, generation, pid: a as u32 },
            INIT_FAILED => Event::InitFailed { worker, generation, failure: payload },
            LEAVING => Event::Leaving {
                worker,
                generation,
                reason: if record[2] == 2 { Leave::Memory } else { Leave::MaxTasks },
            },
            EXITED => {
                let flags = record[3];
                let held = (flags & 1 != 0)
                    .then(|| Held { task: u64_at(record, 32), item: (flags & 4 != 0).then(|| u32_at(record, 40)) });
                // Stats cut short are left out rather than the record (its worker's death
                // must reach the pool).
                let (stats, payload) = match ExitStats::parse(payload).filter(|_| flags & 8 != 0) {
                    Some(stats) => (Some(stats), &payload[STATS_LEN..]),
                    None => (None, payload),
                };
                let salvage = (flags & 2 != 0).then_some((task, first, payload));
                Event::Exited { worker, generation, code: a as i64 as i32, held, salvage, stats }
            }
            EXIT_VALUE => {
                Event::ExitValue { worker, generation, value: if record[2] == 0 { Ok(payload) } else { Err(payload) } }
            }
            WAKE => Event::Wake,
            _ => return None,
        })
    }
}

fn header(kind: u8, worker: u32, generation: u32) -> [u8; EVENT_HDR] {
    let mut b = [0u8; EVENT_HDR];
    b[0] = kind;
    b[1] = VERSION;
    b[4..8].copy_from_slice(&worker.to_le_bytes());
    b[8..12].copy_from_slice(&generation.to_le_bytes());
    b
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// `n` as the codec writes a sequence length (LEB128), into `out`; returns the bytes used.
pub(crate) fn varint(n: u64, out: &mut [u8; 10]) -> &[u8] {
    let len = crate::codec::put_varint(out, n);
    &out[..len]
}

/// The sequence length at the start of `bytes` and how many bytes it took.
pub(crate) fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut n = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

/// Parses `data` as every record a pool's worker or collector reads (fuzzing).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz(data: &[u8]) {
    // black_box: the parsers are pure, and an unused result would let the optimizer drop them.
    std::hint::black_box(TaskHeader::parse(data));
    std::hint::black_box(Event::parse(data));
    std::hint::black_box(read_varint(data));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_headers_round_trip() {
        let h = TaskHeader { kind: TASK, id: 42, entry: -123456, start: 3, count: 9, soft_ns: 5, hard_ns: 7 };
        let mut rec = h.to_bytes().to_vec();
        rec.extend_from_slice(b"payload");
        let (back, payload) = TaskHeader::parse(&rec).unwrap();
        assert_eq!((back, payload), (h, &b"payload"[..]));
        assert!(back.is_timed() && !TaskHeader::stop().is_timed());
        assert!(TaskHeader::parse(&rec[..10]).is_none());
        rec[0] = 9;
        assert!(TaskHeader::parse(&rec).is_none());
    }

    #[test]
    fn events_round_trip() {
        for form in [Form::Values, Form::Tagged, Form::Failed] {
            let mut r = Event::result_header(2, 5, 77, 10, 999, form).to_vec();
            r.extend_from_slice(&[1, 0, 4]);
            assert_eq!(
                Event::parse(&r),
                Some(Event::Result {
                    worker: 2,
                    generation: 5,
                    task: 77,
                    first: 10,
                    busy_ns: 999,
                    form,
                    items: &[1, 0, 4]
                })
            );
        }
        let r = Event::ready_header(1, 2, 4242);
        assert_eq!(Event::parse(&r), Some(Event::Ready { worker: 1, generation: 2, pid: 4242 }));
        let r = Event::leaving_header(1, 2, Leave::Memory);
        assert_eq!(Event::parse(&r), Some(Event::Leaving { worker: 1, generation: 2, reason: Leave::Memory }));
        let held = Held { task: 8, item: Some(3) };
        let mut r = Event::exited_header(0, 1, -9, Some(held), Some((8, 1))).to_vec();
        r.extend_from_slice(&[2, 0, 1, 0, 2]);
        assert_eq!(
            Event::parse(&r),
            Some(Event::Exited {
                worker: 0,
                generation: 1,
                code: -9,
                held: Some(held),
                salvage: Some((8, 1, &[2, 0, 1, 0, 2][..])),
                stats: None
            })
        );
        let stats = ExitStats { records: 1, items: 2, busy_ns: 3, init_ns: 4, exit_ns: 5, alive_ns: 6 };
        let mut r = Event::exited_head(0, 1, 0, None, Some((8, 1)), stats);
        r.extend_from_slice(&[1, 7]);
        assert_eq!(
            Event::parse(&r),
            Some(Event::Exited {
                worker: 0,
                generation: 1,
                code: 0,
                held: None,
                salvage: Some((8, 1, &[1, 7][..])),
                stats: Some(stats)
            })
        );
        assert_eq!(stats.add(stats).alive_ns, 12);
        let r = Event::exited_header(3, 1, 0, Some(Held { task: 5, item: None }), None);
        assert_eq!(
            Event::parse(&r),
            Some(Event::Exited {
                worker: 3,
                generation: 1,
                code: 0,
                held: Some(Held { task: 5, item: None }),
                salvage: None,
                stats: None
            })
        );
        let mut r = Event::exit_value_header(1, 3, true).to_vec();
        r.push(42);
        assert_eq!(Event::parse(&r), Some(Event::ExitValue { worker: 1, generation: 3, value: Ok(&[42][..]) }));
        let r = Event::exit_value_header(1, 3, false);
        assert_eq!(Event::parse(&r), Some(Event::ExitValue { worker: 1, generation: 3, value: Err(&[][..]) }));
        assert_eq!(Event::parse(&Event::wake_header()), Some(Event::Wake));
    }

    #[test]
    fn varints_match_the_codec() {
        for n in [0u64, 1, 127, 128, 300, 1 << 20, u32::MAX as u64] {
            let mut buf = [0u8; 10];
            let v = varint(n, &mut buf).to_vec();
            let items: Vec<u8> = vec![7; n.min(300) as usize];
            if n <= 300 {
                let enc = crate::codec::encode(&items).unwrap();
                assert_eq!(&enc[..v.len()], &v[..]);
            }
            assert_eq!(read_varint(&v), Some((n, v.len())));
        }
        assert_eq!(read_varint(&[0x80, 0x80]), None);
    }
}
