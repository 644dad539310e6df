//! Every row `mpbench` and `python/baseline.py` print, in one table: what it measures, the
//! CPython row it is compared with, the bare limit measured beside it, and its goal.
//!
//! Adding a benchmark is one entry here plus the `emit` that prints it. A row that only
//! CPython prints so far (pools, managers) is listed too: `compare` shows it as "no multiproc
//! row yet" until the Rust side emits it.

/// What a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A workload that users run; compared with CPython and with its bare limit.
    Workload,
    /// A variant of a workload (another path, another clock); printed, not charted.
    Variant,
    /// The bare limit: the same workload with bare syscalls or atomics, no library.
    Raw,
    /// The median of pairwise ratios of a row and its limit, measured interleaved.
    Ratio,
    /// Another Rust crate on the same workload.
    Peer,
}

/// What a row should reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Goal {
    /// At least this many times CPython's speed on its counterpart.
    TimesCpython(f64),
    /// At most this many times the cost of its bare limit.
    AtMostTimesLimit(f64),
    /// At most this value, in the row's unit.
    AtMost(f64),
}

/// One row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub(crate) name: &'static str,
    /// The `--only` group that prints it.
    pub(crate) group: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) kind: Kind,
    /// One line: what is timed.
    pub(crate) about: &'static str,
    /// The row of `python/baseline.py` on the same workload.
    pub(crate) cpython: Option<&'static str>,
    /// The `raw_*` row measured interleaved with this one.
    pub(crate) limit: Option<&'static str>,
    /// The `ratio_*` row: median of (this row's cost / the limit's cost) over the rounds.
    pub(crate) ratio: Option<&'static str>,
    pub(crate) goal: Option<Goal>,
}

const fn row(name: &'static str, group: &'static str, unit: &'static str, kind: Kind, about: &'static str) -> Row {
    Row { name, group, unit, kind, about, cpython: None, limit: None, ratio: None, goal: None }
}

impl Row {
    /// Compared with CPython's row of the same name.
    const fn py(self) -> Row {
        Row { cpython: Some(self.name), ..self }
    }

    /// Compared with CPython's row `name`.
    const fn py_as(self, name: &'static str) -> Row {
        Row { cpython: Some(name), ..self }
    }

    /// Measured interleaved with `raw`, the pairwise ratios in `ratio`.
    const fn limit(self, raw: &'static str, ratio: &'static str) -> Row {
        Row { limit: Some(raw), ratio: Some(ratio), ..self }
    }

    const fn goal(self, goal: Goal) -> Row {
        Row { goal: Some(goal), ..self }
    }
}

use Goal::{AtMost, AtMostTimesLimit, TimesCpython};
use Kind::{Peer, Ratio, Raw, Variant, Workload};

/// Every row, in the order `mpbench` prints them.
pub(crate) const ROWS: &[Row] = &[
    // spawn_fork, spawn_forkserver, spawn_spawn
    row("process_start_join_fork", "spawn_fork", "us/process", Workload, "start + join of a no-op child, Fork")
        .py()
        .limit("raw_fork_wait", "ratio_process_start_join_fork_vs_raw")
        .goal(AtMostTimesLimit(1.5)),
    row(
        "process_start_join_forkserver",
        "spawn_forkserver",
        "us/process",
        Workload,
        "start + join of a no-op child, ForkServer",
    )
    .py()
    .limit("raw_fork_wait", "ratio_process_start_join_forkserver_vs_raw")
    .goal(AtMostTimesLimit(2.0)),
    row("raw_fork_wait", "spawn_fork", "us/process", Raw, "bare fork() + _exit(0) + waitpid"),
    row(
        "fork_page_faults",
        "spawn_fork",
        "faults/process",
        Variant,
        "minor page faults per Fork start+join, parent and child together (copy-on-write: the process globals on one page keep it low)",
    ),
    row("ratio_process_start_join_fork_vs_raw", "spawn_fork", "x", Ratio, "Fork start+join / fork+wait"),
    row(
        "ratio_process_start_join_forkserver_vs_raw",
        "spawn_forkserver",
        "x",
        Ratio,
        "ForkServer start+join / fork+wait",
    ),
    row(
        "process_start_join_spawn",
        "spawn_spawn",
        "us/process",
        Workload,
        "start + join of a no-op child, Spawn (re-executes the binary)",
    )
    .py()
    .limit("raw_spawn_exec_wait", "ratio_process_start_join_spawn_vs_raw")
    .goal(AtMostTimesLimit(2.0)),
    row(
        "raw_spawn_exec_wait",
        "spawn_spawn",
        "us/process",
        Raw,
        "bare posix_spawn of this binary (exits at once) + wait",
    ),
    row("ratio_process_start_join_spawn_vs_raw", "spawn_spawn", "x", Ratio, "Spawn start+join / spawn+exec+wait"),
    row(
        "peer_procspawn_spawn_join",
        "spawn_spawn",
        "us/process",
        Peer,
        "procspawn 1.0: spawn + join of a no-op closure",
    ),
    // pipe
    row("pipe_rtt_64B", "pipe", "us/roundtrip", Workload, "64-byte send_bytes/recv_bytes round trip to an echo child")
        .py()
        .limit("raw_pipe_rtt_64B", "ratio_pipe_rtt_64B_vs_raw")
        .goal(AtMostTimesLimit(1.3)),
    row(
        "raw_pipe_rtt_64B",
        "pipe",
        "us/roundtrip",
        Raw,
        "bare write/read of 64 bytes on a socketpair to a forked echo child",
    ),
    row("ratio_pipe_rtt_64B_vs_raw", "pipe", "x", Ratio, "Connection round trip / bare socketpair round trip"),
    row("pipe_bandwidth_1MiB", "pipe", "MB/s", Workload, "1 MiB send_bytes to a child that counts the bytes")
        .py()
        .limit("raw_pipe_bandwidth_1MiB", "ratio_pipe_bandwidth_1MiB_vs_raw"),
    row(
        "raw_pipe_bandwidth_1MiB",
        "pipe",
        "MB/s",
        Raw,
        "bare write of 1 MiB blocks on a socketpair to a forked child that reads them",
    ),
    row("ratio_pipe_bandwidth_1MiB_vs_raw", "pipe", "x", Ratio, "time per MiB: Connection / bare socketpair"),
    // lock
    row(
        "lock_uncontended",
        "lock",
        "ns/acquire+release",
        Workload,
        "Lock acquire + release, one process, no contention",
    )
    .py()
    .limit("raw_cas_store", "ratio_lock_uncontended_vs_raw")
    .goal(AtMost(25.0)),
    row(
        "raw_cas_store",
        "lock",
        "ns/acquire+release",
        Raw,
        "bare compare-and-swap (acquire) + store (release) on a word in shared memory",
    ),
    row("ratio_lock_uncontended_vs_raw", "lock", "x", Ratio, "Lock acquire+release / bare CAS + store"),
    row(
        "lock_contended_2proc",
        "lock",
        "increments/s",
        Workload,
        "two children, each n times: lock, counter += 1 (a RawValue), unlock",
    )
    .py()
    .limit("raw_spinlock_2proc", "ratio_lock_contended_2proc_vs_raw")
    .goal(TimesCpython(10.0)),
    row(
        "raw_spinlock_2proc",
        "lock",
        "increments/s",
        Raw,
        "the same with a bare CAS spin lock (yielding) in shared memory, forked children",
    ),
    row("ratio_lock_contended_2proc_vs_raw", "lock", "x", Ratio, "time per increment: Lock / bare spin lock"),
    // event
    row("event_pingpong", "event", "us/roundtrip", Workload, "two Events ping-ponged with a child: set, wait, clear")
        .py()
        .limit("raw_futex_pingpong", "ratio_event_pingpong_vs_raw")
        .goal(AtMostTimesLimit(1.3)),
    row(
        "raw_futex_pingpong",
        "event",
        "us/roundtrip",
        Raw,
        "the same protocol on two bare shared futex words (FUTEX_WAKE / FUTEX_WAIT)",
    ),
    row("ratio_event_pingpong_vs_raw", "event", "x", Ratio, "Event ping-pong / bare futex ping-pong"),
    // shm
    row(
        "value_increment_locked",
        "shm",
        "increments/s",
        Workload,
        "*v.lock() += 1 on a Value<i64> with its RLock, one process",
    )
    .py()
    .limit("raw_locked_increment", "ratio_value_increment_locked_vs_raw"),
    row(
        "raw_locked_increment",
        "shm",
        "increments/s",
        Raw,
        "bare CAS spin lock, counter += 1, store, on a shared page, one process",
    ),
    row("ratio_value_increment_locked_vs_raw", "shm", "x", Ratio, "time per increment: Value / bare"),
    row("value_increment_locked_2proc", "shm", "increments/s", Workload, "the same in two children released together")
        .py()
        .limit("raw_locked_increment_2proc", "ratio_value_increment_locked_2proc_vs_raw"),
    row(
        "raw_locked_increment_2proc",
        "shm",
        "increments/s",
        Raw,
        "the same bare loop in two forked children released together",
    ),
    row(
        "ratio_value_increment_locked_2proc_vs_raw",
        "shm",
        "x",
        Ratio,
        "time per increment: Value / bare, 2 processes",
    ),
    row(
        "array_bulk_write",
        "shm",
        "MB/s",
        Workload,
        "copy_from_slice into a 64 MiB Array<f64> (16 with --quick) in a child, best pass",
    )
    .py()
    .limit("raw_memcpy", "ratio_array_bulk_write_vs_raw"),
    row("raw_memcpy", "shm", "MB/s", Raw, "plain memcpy between two private buffers of the same size"),
    row("ratio_array_bulk_write_vs_raw", "shm", "x", Ratio, "time per MiB: Array write / plain memcpy"),
    // queue
    row(
        "queue_serde_64B",
        "queue",
        "msgs/s",
        Workload,
        "typed put/get of a 64-byte serde value from a child (Python's put pickles), start included",
    )
    .py_as("queue_64B")
    .limit("raw_spsc_ring_64B", "ratio_queue_serde_64B_vs_raw")
    .goal(TimesCpython(50.0)),
    row(
        "queue_64B",
        "queue",
        "msgs/s",
        Workload,
        "put_bytes/get_bytes of 64 bytes from a child (no codec), start included",
    )
    .py()
    .limit("raw_spsc_ring_64B", "ratio_queue_64B_vs_raw")
    .goal(TimesCpython(50.0)),
    row(
        "raw_spsc_ring_64B",
        "queue",
        "msgs/s",
        Raw,
        "bare single-producer single-consumer ring in shared memory (no lock, no codec), fork included",
    ),
    row("ratio_queue_serde_64B_vs_raw", "queue", "x", Ratio, "time per message: typed Queue / bare ring"),
    row("ratio_queue_64B_vs_raw", "queue", "x", Ratio, "time per message: bytes Queue / bare ring"),
    row("queue_64B_steady", "queue", "msgs/s", Variant, "queue_64B timed from the first item received"),
    row("peer_ipc_channel_64B", "queue", "msgs/s", Peer, "ipc-channel 0.22: 64-byte serde values from a child"),
    row(
        "queue_serde_1MiB",
        "queue",
        "MB/s",
        Workload,
        "typed put/get of 1 MiB serde values through the default 1 MiB ring",
    )
    .py_as("queue_1MiB")
    .limit("raw_spsc_ring_1MiB", "ratio_queue_serde_1MiB_vs_raw")
    .goal(TimesCpython(5.0)),
    row("queue_1MiB", "queue", "MB/s", Workload, "put_bytes/get_bytes of 1 MiB through the default 1 MiB ring")
        .py()
        .limit("raw_spsc_ring_1MiB", "ratio_queue_1MiB_vs_raw")
        .goal(TimesCpython(5.0)),
    row(
        "raw_spsc_ring_1MiB",
        "queue",
        "MB/s",
        Raw,
        "bare ring of 1 MiB in shared memory streaming 1 MiB items into a buffer, fork included",
    ),
    row("ratio_queue_serde_1MiB_vs_raw", "queue", "x", Ratio, "time per MiB: typed Queue / bare ring"),
    row("ratio_queue_1MiB_vs_raw", "queue", "x", Ratio, "time per MiB: bytes Queue / bare ring"),
    row("queue_1MiB_steady", "queue", "MB/s", Variant, "queue_1MiB timed from the first item received"),
    row("queue_1MiB_whole", "queue", "MB/s", Variant, "queue_1MiB through an 8 MiB ring (each item in one piece)"),
    row("peer_ipc_channel_1MiB", "queue", "MB/s", Peer, "ipc-channel 0.22: 1 MiB serde values from a child"),
    // pool, manager
    row("pool_map_square", "pool", "tasks/s", Workload, "Pool(2).map(square, range(n))").py().goal(TimesCpython(10.0)),
    row("pool_apply_async", "pool", "tasks/s", Workload, "n apply_async(square) on Pool(2), then every get()")
        .py()
        .goal(TimesCpython(10.0)),
    row(
        "pool_map_square_first",
        "pool",
        "tasks/s",
        Variant,
        "the same map, the first of the process (the workers' first pages and allocations)",
    ),
    row(
        "peer_procspawn_pool",
        "pool",
        "tasks/s",
        Peer,
        "peer crate procspawn 1.0: its Pool on the apply workload (in waves of 1000: it holds descriptors per task)",
    ),
    row("pool_map_square_threads", "pool", "tasks/s", Variant, "ThreadPool(2).map(square, range(n))"),
    row("pool_apply_async_threads", "pool", "tasks/s", Variant, "n apply_async(square) on ThreadPool(2)"),
    row("executor_map", "pool", "tasks/s", Workload, "ProcessPoolExecutor(2).map(square, range(n), chunksize=1000)")
        .py(),
    row(
        "executor_submit",
        "pool",
        "tasks/s",
        Workload,
        "n submit(square) on ProcessPoolExecutor(2), then every result()",
    )
    .py(),
    row(
        "manager_dict_setget",
        "manager",
        "ops/s",
        Workload,
        "d[i] = i then d[i] on a managed dict, one op per request",
    )
    .py()
    .goal(TimesCpython(5.0)),
    row("manager_dict_batch", "manager", "ops/s", Workload, "the same sets and gets batched into few round trips")
        .py_as("manager_dict_setget")
        .goal(TimesCpython(50.0)),
];

/// Groups run together in one sitting of `compare` (rows of a sitting share their limits).
pub(crate) const SITTINGS: &[&str] =
    &["spawn_fork,spawn_forkserver", "spawn_spawn", "pipe", "lock", "event", "shm", "queue", "pool", "manager"];

/// The row called `name`.
pub(crate) fn find(name: &str) -> Option<&'static Row> {
    ROWS.iter().find(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_unique_and_references_exist() {
        for (i, r) in ROWS.iter().enumerate() {
            assert!(ROWS[..i].iter().all(|o| o.name != r.name), "{} twice", r.name);
            for l in [r.limit, r.ratio].into_iter().flatten() {
                assert!(find(l).is_some(), "{} refers to {l}, not in ROWS", r.name);
            }
            assert!(SITTINGS.iter().any(|s| s.split(',').any(|g| g == r.group)), "{}: group not in SITTINGS", r.name);
            if r.kind == Kind::Raw {
                assert!(r.name.starts_with("raw_"));
            }
            if r.kind == Kind::Ratio {
                assert!(r.name.starts_with("ratio_") && r.unit == "x");
            }
        }
    }
}
