#!/usr/bin/env python3
"""CPython's side of mpbench: the same workloads with the standard library's multiprocessing.

Each function below mirrors an mpbench row of the same name (see `mpbench --list` for what each
row measures). Standard library only; runs on CPython 3.8 and newer.

    python3 mpbench/python/baseline.py [--quick] [--only GROUP,...]

Prints a header line {"python": VERSION, ...}, then one JSON object per line:
{"bench": NAME, "value": X, "unit": U}, as mpbench does.

Start methods are explicit, so that every CPython version runs the same thing whatever its
default: `fork` where the mpbench row uses Fork (CPython's default on Linux up to 3.13),
`spawn` for the shared-memory rows, whose mpbench children are spawned too (their clocks run
inside the children or after the start, so the start method does not enter the number).
"""
import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor

clock = time.perf_counter

GROUPS = []  # (group, function), in the order they run


def group(name):
    """Registers a function that measures the rows of `name` and returns [(row, value, unit)]."""
    def register(fn):
        GROUPS.append((name, fn))
        return fn
    return register


# ---------------------------------------------------------------- process start + join

def nothing():
    pass


def start_join(method, n):
    ctx = mp.get_context(method)
    warm = ctx.Process(target=nothing)  # the first forkserver start launches the server
    warm.start()
    warm.join()
    began = clock()
    for _ in range(n):
        p = ctx.Process(target=nothing)
        p.start()
        p.join()
    return (clock() - began) / n * 1e6


def start_join_group(method):
    def measure(scale):
        n = max(5, int(50 * scale))
        return [("process_start_join_" + method, start_join(method, n), "us/process")]
    return measure


for _method in ("fork", "forkserver", "spawn"):
    group("spawn_" + _method)(start_join_group(_method))


# ---------------------------------------------------------------- pipe

def echo(conn, n):
    for _ in range(n):
        conn.send_bytes(conn.recv_bytes())


def count_bytes(conn):
    total = 0
    while True:
        m = conn.recv_bytes()
        if not m:
            break
        total += len(m)
    conn.send(total)


@group("pipe")
def pipe_rows(scale):
    ctx = mp.get_context("fork")
    n = int(20_000 * scale)
    here, there = ctx.Pipe()
    child = ctx.Process(target=echo, args=(there, n))
    child.start()
    msg = b"x" * 64
    began = clock()
    for _ in range(n):
        here.send_bytes(msg)
        here.recv_bytes()
    rtt = (clock() - began) / n * 1e6
    child.join()

    n = max(200, int(2_000 * scale))
    here, there = ctx.Pipe()
    child = ctx.Process(target=count_bytes, args=(there,))
    child.start()
    block = b"\x07" * (1 << 20)
    began = clock()
    for _ in range(n):
        here.send_bytes(block)
    here.send_bytes(b"")
    total = here.recv()
    dt = clock() - began
    child.join()
    assert total == n << 20, total
    return [("pipe_rtt_64B", rtt, "us/roundtrip"), ("pipe_bandwidth_1MiB", total / dt / 1e6, "MB/s")]


# ---------------------------------------------------------------- lock

def locked_increments(counter, lock, n):
    for _ in range(n):
        with lock:
            counter.value += 1


@group("lock")
def lock_rows(scale):
    ctx = mp.get_context("fork")
    n = int(1_000_000 * scale)
    lock = ctx.Lock()
    acquire, release = lock.acquire, lock.release
    began = clock()
    for _ in range(n):
        acquire()
        release()
    uncontended = (clock() - began) / n * 1e9

    n = int(100_000 * scale)
    counter = ctx.Value("q", 0, lock=False)
    lock = ctx.Lock()
    children = [ctx.Process(target=locked_increments, args=(counter, lock, n)) for _ in range(2)]
    began = clock()
    for c in children:
        c.start()
    for c in children:
        c.join()
    dt = clock() - began
    assert counter.value == 2 * n, counter.value
    return [
        ("lock_uncontended", uncontended, "ns/acquire+release"),
        ("lock_contended_2proc", 2 * n / dt, "increments/s"),
    ]


# ---------------------------------------------------------------- event

def answer_pings(ping, pong, n):
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong.set()


@group("event")
def event_rows(scale):
    ctx = mp.get_context("fork")
    n = int(10_000 * scale)
    ping, pong = ctx.Event(), ctx.Event()
    child = ctx.Process(target=answer_pings, args=(ping, pong, n))
    child.start()
    began = clock()
    for _ in range(n):
        ping.set()
        pong.wait()
        pong.clear()
    dt = clock() - began
    child.join()
    return [("event_pingpong", dt / n * 1e6, "us/roundtrip")]


# ---------------------------------------------------------------- shared memory

def value_increments(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def value_increments_after(v, n, go):
    while go.value == 0:
        time.sleep(0)
    value_increments(v, n)


def timed_bulk_write(arr, passes, best_secs):
    view = memoryview(arr.get_obj()).cast("B")
    src = bytes(len(view))
    view[:] = src  # fault the pages in
    best = float("inf")
    for _ in range(passes):
        began = clock()
        with arr.get_lock():
            view[:] = src
        best = min(best, clock() - began)
    best_secs.value = best


@group("shm")
def shm_rows(scale):
    ctx = mp.get_context("spawn")
    n = int(1_000_000 * scale)
    v = ctx.Value("q", 0)
    value_increments(v, n // 10)
    began = clock()
    value_increments(v, n)
    one = n / (clock() - began)

    n = int(200_000 * scale)
    v = ctx.Value("q", 0)
    go = ctx.RawValue("i", 0)
    children = [ctx.Process(target=value_increments_after, args=(v, n, go)) for _ in range(2)]
    for c in children:
        c.start()
    time.sleep(0.2)  # both children waiting on the flag
    began = clock()
    go.value = 1
    for c in children:
        c.join()
    dt = clock() - began
    assert v.value == 2 * n, v.value

    mib = 16 if scale < 1 else 64
    arr = ctx.Array("d", mib * 1024 * 1024 // 8)
    best = ctx.RawValue("d", 0.0)
    child = ctx.Process(target=timed_bulk_write, args=(arr, 3, best))
    child.start()
    child.join()
    return [
        ("value_increment_locked", one, "increments/s"),
        ("value_increment_locked_2proc", 2 * n / dt, "increments/s"),
        ("array_bulk_write", mib * 1024 * 1024 / best.value / 1e6, "MB/s"),
    ]


# ---------------------------------------------------------------- queue

def put_all(q, n, payload):
    for _ in range(n):
        q.put(payload)
    q.put(None)


def queue_seconds(ctx, n, size):
    """A child puts n payloads of `size` bytes then None; seconds from its start to the None."""
    q = ctx.Queue()
    child = ctx.Process(target=put_all, args=(q, n, b"x" * size))
    began = clock()
    child.start()
    got = 0
    while q.get() is not None:
        got += 1
    dt = clock() - began
    child.join()
    assert got == n, got
    return dt


@group("queue")
def queue_rows(scale):
    ctx = mp.get_context("fork")
    n = int(200_000 * scale)
    small = n / queue_seconds(ctx, n, 64)
    n = max(200, int(2_000 * scale))
    big = n * (1 << 20) / queue_seconds(ctx, n, 1 << 20) / 1e6
    return [("queue_64B", small, "msgs/s"), ("queue_1MiB", big, "MB/s")]


# ---------------------------------------------------------------- pool

def square(x):
    return x * x


@group("pool")
def pool_rows(scale):
    ctx = mp.get_context("fork")
    n = int(1_000_000 * scale)
    with ctx.Pool(2) as pool:
        pool.map(square, range(100))  # workers up and warm
        began = clock()
        out = pool.map(square, range(n))
        mapped = n / (clock() - began)
    assert out[-1] == (n - 1) ** 2
    n = int(20_000 * scale)
    with ctx.Pool(2) as pool:
        pool.map(square, range(100))
        began = clock()
        pending = [pool.apply_async(square, (i,)) for i in range(n)]
        total = sum(r.get() for r in pending)
        applied = n / (clock() - began)
    assert total == sum(i * i for i in range(n))
    rows = [("pool_map_square", mapped, "tasks/s"), ("pool_apply_async", applied, "tasks/s")]
    # One executor for both rows, warmed up once, as mpbench does.
    with ProcessPoolExecutor(2, mp_context=ctx) as ex:
        list(ex.map(square, range(100)))
        n = int(1_000_000 * scale)
        began = clock()
        total = sum(ex.map(square, range(n), chunksize=1000))
        rows.append(("executor_map", n / (clock() - began), "tasks/s"))
        assert total == sum(i * i for i in range(n))
        n = int(20_000 * scale)
        began = clock()
        futures = [ex.submit(square, i) for i in range(n)]
        total = sum(f.result() for f in futures)
        rows.append(("executor_submit", n / (clock() - began), "tasks/s"))
        assert total == sum(i * i for i in range(n))
    return rows


# ---------------------------------------------------------------- manager

@group("manager")
def manager_rows(scale):
    ctx = mp.get_context("fork")
    n = int(10_000 * scale)
    with ctx.Manager() as manager:
        d = manager.dict()
        began = clock()
        for i in range(n):
            d[i] = i
        for i in range(n):
            assert d[i] == i
        dt = clock() - began
    return [("manager_dict_setget", 2 * n / dt, "ops/s")]


# ---------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the iterations")
    parser.add_argument("--only", help="comma-separated groups: " + ",".join(g for g, _ in GROUPS))
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    scale = 0.1 if args.quick else 1.0
    header = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(header), flush=True)
    for name, measure in GROUPS:
        if only is None or name in only:
            for row, value, unit in measure(scale):
                print(json.dumps({"bench": row, "value": round(value, 3), "unit": unit}), flush=True)


if __name__ == "__main__":
    main()
