#!/usr/bin/env python3
"""CPython counterpart of mpbench's `shm` group (same workloads, same row names).

Usage: python3 notes/py_shm_bench.py [--quick]
"""
import json, multiprocessing as mp, sys, time

QUICK = "--quick" in sys.argv

def emit(name, value, unit):
    print(json.dumps({"bench": name, "value": round(value, 3), "unit": unit}), flush=True)

def incr(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1

def incr_after_go(v, n, go):
    while go.value == 0:
        time.sleep(0)
    incr(v, n)

def bulk_write(a, passes, secs):
    src = bytes(memoryview(bytearray(len(a) * 8)))
    m = memoryview(a.get_obj()).cast("B")
    m[:] = src
    best = float("inf")
    for _ in range(passes):
        t = time.perf_counter()
        with a.get_lock():
            m[:] = src
        best = min(best, time.perf_counter() - t)
    secs.value = best

if __name__ == "__main__":
    mp.set_start_method("spawn")
    n = 100_000 if QUICK else 1_000_000
    v = mp.Value("q", 0)
    incr(v, n // 10)
    t = time.perf_counter(); incr(v, n)
    emit("value_increment_locked", n / (time.perf_counter() - t), "increments/s")
    n2 = 20_000 if QUICK else 200_000
    v = mp.Value("q", 0); go = mp.RawValue("i", 0)
    ps = [mp.Process(target=incr_after_go, args=(v, n2, go)) for _ in range(2)]
    for p in ps: p.start()
    time.sleep(0.2)
    t = time.perf_counter(); go.value = 1
    for p in ps: p.join()
    dt = time.perf_counter() - t
    assert v.value == 2 * n2
    emit("value_increment_locked_2proc", 2 * n2 / dt, "increments/s")
    mib = 16 if QUICK else 64
    length = mib * 1024 * 1024 // 8
    a = mp.Array("d", length)
    secs = mp.RawValue("d", 0.0)
    p = mp.Process(target=bulk_write, args=(a, 3, secs)); p.start(); p.join()
    emit("array_bulk_write", length * 8 / secs.value / 1e6, "MB/s")
