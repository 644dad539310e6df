//! Shared memory: RawValue/RawArray (and Value/Array), SharedMemory, ShareableList, ported
//! from CPython's `_TestValue`, `_TestArray`, `_TestSharedCTypes` and `_TestSharedMemory`.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::{each_method, unique_name};
use multiproc::{
    Array, Item, Lock, RLock, RawArray, RawValue, ShareableList, ShareableListError, SharedMemory, ShmSafe,
    StartMethod, Value, ValueLock,
};

const LIMIT: Duration = Duration::from_secs(60);

fn shm_path(name: &str) -> String {
    format!("/dev/shm/{name}")
}

// ---- RawValue / RawArray (§2 77, 80, 81, 152, 153) ----

#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Point {
    x: f64,
    y: f64,
}
// SAFETY: repr(C), two f64s, no pointers; every bit pattern is a valid f64.
#[allow(unsafe_code)]
unsafe impl ShmSafe for Point {}

type Values = (RawValue<i32>, RawValue<f64>, RawValue<i16>, RawValue<i64>, RawValue<u8>, RawValue<Point>);

fn double_values((a, b, c, d, e, p): Values) {
    a.set(a.get() * 2);
    b.set(b.get() * 2.0);
    c.set(c.get() * 2);
    d.set(d.get() * 2);
    e.set(e.get() + 1);
    let q = p.get();
    p.set(Point { x: q.x * 2.0, y: q.y * 2.0 });
}

/// 77, 152: values of several types hold their initial value and a child's writes are seen.
#[test]
fn raw_values_written_by_a_child_are_seen() {
    each_method("raw values", LIMIT, |ctx| {
        let v: Values = (
            RawValue::new(25).unwrap(),
            RawValue::new(1.25).unwrap(),
            RawValue::new(-7).unwrap(),
            RawValue::new(1 << 33).unwrap(),
            RawValue::new(b'x').unwrap(),
            RawValue::new(Point { x: 3.0, y: -2.0 }).unwrap(),
        );
        assert_eq!((v.0.get(), v.1.get(), v.2.get(), v.3.get(), v.4.get()), (25, 1.25, -7, 1 << 33, b'x'));
        let p = ctx.process(double_values, v.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!((v.0.get(), v.1.get(), v.2.get(), v.3.get(), v.4.get()), (50, 2.5, -14, 1 << 34, b'y'));
        assert_eq!(v.5.get(), Point { x: 6.0, y: -4.0 });
    });
}

fn prefix_sum(a: RawArray<i32>) {
    for i in 1..a.len() {
        a.set(i, a.get(i - 1).unwrap() + a.get(i).unwrap());
    }
}

/// 80: len, indexing, slice assignment; a prefix sum done by a child is seen by the parent.
#[test]
fn raw_array_prefix_sum_in_a_child() {
    each_method("raw array", LIMIT, |ctx| {
        let seq = [681, -25, 12, 0, 9, 44, 10, 1, 8];
        let a = RawArray::from_slice(&seq).unwrap();
        assert_eq!(a.len(), seq.len());
        assert_eq!(a.get(3), Some(0));
        assert_eq!(a.get(9), None);
        a.write_slice(2, &seq[2..4]); // slice assignment
        let mut out = [0; 3];
        a.read_slice(0, &mut out);
        assert_eq!(out, [681, -25, 12]);
        let p = ctx.process(prefix_sum, a.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let mut want = seq;
        for i in 1..want.len() {
            want[i] += want[i - 1];
        }
        assert_eq!(a.to_vec(), want);
    });
}

/// 81: a zeroed array is zero-filled (three times, to catch reused memory); slice
/// assignment from a range.
#[test]
fn raw_array_zeroed_is_zero_filled() {
    for _ in 0..3 {
        let a = RawArray::<i32>::zeroed(10).unwrap();
        assert_eq!(a.to_vec(), [0; 10]);
        a.write_slice(0, &(0..10).collect::<Vec<_>>());
        assert_eq!(a.to_vec(), (0..10).collect::<Vec<_>>());
    }
    assert!(RawArray::<u64>::zeroed(0).unwrap().is_empty());
}

fn double_chars(a: RawArray<u8>) {
    let s: Vec<u8> = a.to_vec().into_iter().take_while(|&c| c != 0).collect();
    let doubled = [s.as_slice(), s.as_slice()].concat();
    a.write_slice(0, &doubled);
}

/// 152: `Array('c', 20)` with a string value, doubled by a child.
#[test]
fn char_array_string_doubled_by_a_child() {
    each_method("char array", LIMIT, |ctx| {
        let a = RawArray::<u8>::zeroed(20).unwrap();
        a.write_slice(0, b"hello");
        let p = ctx.process(double_chars, a.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(&a.to_vec()[..11], b"hellohello\0");
    });
}

/// 153: `copy` makes an independent copy.
#[test]
fn copies_are_independent() {
    let v = RawValue::new(Point { x: 1.0, y: 2.0 }).unwrap();
    let c = v.copy().unwrap();
    c.set(Point { x: 0.0, y: 0.0 });
    assert_eq!(v.get(), Point { x: 1.0, y: 2.0 });
    let a = RawArray::from_slice(&[1.5f64, 2.5]).unwrap();
    let b = a.copy().unwrap();
    b.set(0, 9.0);
    assert_eq!(a.to_vec(), [1.5, 2.5]);
    assert_eq!(b.to_vec(), [9.0, 2.5]);
}

// ---- Value / Array with a lock (§2 77, 78, 80, 82, 152) ----

type Locked = (Value<i32>, Value<f64>, Value<i64>, Value<Point>, Array<f64>);

fn double_locked((a, b, c, p, arr): Locked) {
    *a.acquire().unwrap() *= 2;
    b.set(b.get() * 2.0);
    *c.acquire().unwrap() *= 2;
    let mut g = p.acquire().unwrap();
    g.x *= 2.0;
    g.y *= 2.0;
    drop(g);
    arr.acquire().unwrap().iter_mut().for_each(|x| *x *= 2.0);
}

/// 77, 152: locked values and arrays doubled by a child, parent sees the results.
#[test]
fn locked_values_and_arrays_doubled_by_a_child() {
    each_method("locked values", LIMIT, |ctx| {
        let v: Locked = (
            Value::new(7).unwrap(),
            Value::new(1.0 / 3.0).unwrap(),
            Value::new(1 << 33).unwrap(),
            Value::new(Point { x: 1.0, y: -1.0 }).unwrap(),
            Array::from_slice(&[0.5, 1.5, 2.5]).unwrap(),
        );
        let p = ctx.process(double_locked, v.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(v.0.get(), 14);
        assert_eq!(v.1.get(), 2.0 / 3.0);
        assert_eq!(v.2.get(), 1 << 34);
        assert_eq!(v.3.get(), Point { x: 2.0, y: -2.0 });
        assert_eq!(v.4.to_vec(), [1.0, 3.0, 5.0]);
    });
}

/// 78, 82: default lock is a new RLock; a given Lock or RLock is exactly the one used;
/// get_obj gives the raw object. (lock=False is RawValue/RawArray, which have no get_lock:
/// a compile_fail doctest on `Value` checks that.)
#[test]
fn get_lock_and_get_obj() {
    let v = Value::new(0i32).unwrap();
    assert!(matches!(v.get_lock(), ValueLock::RLock(_)));
    let a = Array::<i32>::zeroed(3).unwrap();
    assert!(matches!(a.get_lock(), ValueLock::RLock(_)));

    let lock = Lock::new().unwrap();
    let v = Value::with_lock(5u8, lock.clone()).unwrap();
    let a = Array::<u8>::zeroed_with_lock(2, lock.clone()).unwrap();
    let held = lock.acquire().unwrap();
    assert!(v.get_lock().is_locked() && a.get_lock().is_locked());
    assert!(v.try_acquire().unwrap_err().is_would_block());
    assert!(a.acquire_timeout(Duration::from_millis(20)).unwrap_err().is_timeout());
    drop(held);
    assert!(v.try_acquire().is_ok());

    let rlock = RLock::new().unwrap();
    let v = Value::with_lock(1u64, rlock.clone()).unwrap();
    let outer = rlock.acquire().unwrap(); // `with v.get_lock():`
    v.set(v.get() + 1); // re-enters
    assert_eq!(rlock.count(), 1);
    drop(outer);
    assert_eq!(v.get(), 2);
    v.get_obj().set(10);
    assert_eq!(v.get(), 10);
    assert_eq!(format!("{v:?}"), "Synchronized(Value<u64>(10))");
}

/// Two guards for the same data never coexist: re-entering through the RLock panics (and
/// releases the level it took) instead of aliasing `&mut`.
#[test]
fn reentrant_lock_of_the_same_value_panics_instead_of_aliasing() {
    let v = Value::new(0i32).unwrap();
    let g = v.acquire().unwrap();
    let v2 = v.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _second = v2.acquire();
    }));
    assert!(r.is_err());
    drop(g);
    let ValueLock::RLock(l) = v.get_lock() else { panic!("default lock") };
    assert!(!l.is_locked());
    *v.acquire().unwrap() += 1;
    assert_eq!(v.get(), 1);
}

fn increment((v, n): (Value<i64>, u32)) {
    for _ in 0..n {
        *v.acquire().unwrap() += 1;
    }
}

fn increment_array((a, n): (Array<u64>, u32)) {
    for _ in 0..n {
        let mut g = a.acquire().unwrap();
        for x in g.iter_mut() {
            *x += 1;
        }
    }
}

/// Stress: concurrent locked increments from two children lose nothing.
#[test]
fn concurrent_locked_increments_lose_nothing() {
    each_method("increments", LIMIT, |ctx| {
        let v = Value::new(0i64).unwrap();
        let a = Array::<u64>::zeroed(16).unwrap();
        let n = 3000;
        let ps = [
            ctx.process(increment, (v.clone(), n)),
            ctx.process(increment, (v.clone(), n)),
            ctx.process(increment_array, (a.clone(), n)),
            ctx.process(increment_array, (a.clone(), n)),
        ];
        for p in &ps {
            p.start().unwrap();
        }
        increment((v.clone(), n));
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(v.get(), 3 * i64::from(n));
        assert_eq!(a.to_vec(), [2 * u64::from(n); 16]);
    });
}

/// 81 (with a lock): zero-filled, three times; bulk in-place writes through the guard.
#[test]
fn locked_array_zeroed_and_bulk_written() {
    for _ in 0..3 {
        let a = Array::<i32>::zeroed(10).unwrap();
        assert_eq!(a.to_vec(), [0; 10]);
        a.acquire().unwrap().copy_from_slice(&(0..10).collect::<Vec<_>>());
        assert_eq!(a.get(9), Some(9));
        a.set(0, -1);
        assert_eq!(a.to_vec()[0], -1);
    }
}

// ---- acquire_timeout of Value / Array with Duration::MAX (waits forever, never panics) and
// Duration::ZERO (only checks) ----

/// At most this long for a call that must not wait ("at once", on a busy machine).
const AT_ONCE: Duration = Duration::from_secs(5);
/// How long another thread waits before it releases the lock.
const LATER: Duration = Duration::from_millis(50);

#[test]
fn value_acquire_timeout_max_and_zero() {
    let _w = common::Watchdog::new("value_acquire_timeout_max_and_zero", LIMIT);
    let lock = Lock::new().unwrap();
    let v = Value::with_lock(1u32, lock.clone()).unwrap();
    *v.acquire_timeout(Duration::MAX).unwrap() += 1;
    *v.acquire_timeout(Duration::ZERO).unwrap() += 1; // free: zero takes it
    lock.acquire().unwrap().leak();
    let t = Instant::now();
    assert!(v.acquire_timeout(Duration::ZERO).unwrap_err().is_timeout());
    assert!(t.elapsed() < AT_ONCE);
    // Held: MAX sleeps without a deadline until another thread releases the lock.
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(LATER);
            lock.release().unwrap();
        });
        *v.acquire_timeout(Duration::MAX).unwrap() += 1;
    });
    assert!(t.elapsed() >= LATER);
    assert_eq!(v.get(), 4);
    assert!(!lock.is_locked());
}

#[test]
fn array_acquire_timeout_max_and_zero() {
    let _w = common::Watchdog::new("array_acquire_timeout_max_and_zero", LIMIT);
    let a = Array::<u8>::zeroed(3).unwrap();
    a.acquire_timeout(Duration::MAX).unwrap()[0] = 1;
    a.acquire_timeout(Duration::ZERO).unwrap()[1] = 2;
    // The default RLock, held by another thread: ZERO only checks, MAX waits for it.
    let ValueLock::RLock(rlock) = a.get_lock() else { panic!("default lock") };
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _g = rlock.acquire().unwrap();
            held_tx.send(()).unwrap();
            std::thread::sleep(LATER);
        });
        held_rx.recv().unwrap();
        let t = Instant::now();
        assert!(a.acquire_timeout(Duration::ZERO).unwrap_err().is_timeout());
        assert!(t.elapsed() < AT_ONCE);
        a.acquire_timeout(Duration::MAX).unwrap()[2] = 3;
    });
    assert_eq!(a.to_vec(), [1, 2, 3]);
    assert!(!a.get_lock().is_locked());
}

// ---- SharedMemory (§2 154-161) ----

/// 154: a name containing NUL is refused when creating and when opening.
#[test]
fn names_with_nul_are_refused() {
    assert_eq!(SharedMemory::create(Some("bad\0name"), 10).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(SharedMemory::open("bad\0name").unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(SharedMemory::open("a/b").unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(SharedMemory::open("").unwrap_err().kind(), ErrorKind::InvalidInput);
}

/// 155: basics: name, size, Debug, a write seen through a second attach; 0600 permissions.
#[test]
fn shared_memory_basics() {
    let name = unique_name("mp_shm_basics");
    let shm = SharedMemory::create(Some(&name), 512).unwrap();
    assert_eq!(shm.name(), Some(name.as_str()));
    assert!(shm.size() >= 512);
    let dbg = format!("{shm:?}");
    assert!(dbg.contains(&name) && dbg.contains("512"), "{dbg}");
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(shm_path(&name)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    shm.write_at(0, b"howdy").unwrap();
    let other = SharedMemory::open(&name).unwrap();
    assert_eq!(other.size(), shm.size());
    let mut b = [0u8; 5];
    other.read_at(0, &mut b).unwrap();
    assert_eq!(&b, b"howdy");
    other.write_at(100, b"back").unwrap();
    assert_eq!(&shm.to_vec()[100..104], b"back");
    assert!(shm.is_owner() && !other.is_owner());
    assert!(shm.read_at(510, &mut b).is_err());
    other.close();
    shm.unlink().unwrap();
    assert!(std::fs::metadata(shm_path(&name)).is_err());
}

/// 156: size 0 is refused (named and anonymous); nothing is created.
#[test]
fn size_zero_is_refused() {
    let name = unique_name("mp_shm_zero");
    assert_eq!(SharedMemory::create(Some(&name), 0).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert!(std::fs::metadata(shm_path(&name)).is_err());
    assert_eq!(SharedMemory::create(None, 0).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(SharedMemory::anonymous(0).unwrap_err().kind(), ErrorKind::InvalidInput);
}

/// 157: generated names are `psm_<8 hex>` and distinct.
#[test]
fn generated_names_are_distinct() {
    let segs: Vec<SharedMemory> = (0..50).map(|_| SharedMemory::create(None, 8).unwrap()).collect();
    let mut names: Vec<&str> = segs.iter().map(|s| s.name().unwrap()).collect();
    for n in &names {
        assert!(n.len() == 12 && n.starts_with("psm_") && n[4..].chars().all(|c| c.is_ascii_hexdigit()), "{n}");
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 50);
    for s in &segs {
        s.unlink().unwrap();
    }
}

/// 158, 159: second unlink is NotFound; create existing is AlreadyExists; open missing is NotFound.
#[test]
fn unlink_twice_exists_and_missing() {
    let name = unique_name("mp_shm_errs");
    let shm = SharedMemory::create(Some(&name), 64).unwrap();
    assert_eq!(SharedMemory::create(Some(&name), 64).unwrap_err().kind(), ErrorKind::AlreadyExists);
    shm.unlink().unwrap();
    assert_eq!(shm.unlink().unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(SharedMemory::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    // The mapping stays valid after unlink.
    shm.write_at(0, b"still mapped").unwrap();
}

fn child_writes(shm: SharedMemory) {
    assert!(!shm.is_owner(), "a child never owns a segment it received");
    shm.write_at(0, b"from the child").unwrap();
}

fn child_opens_and_writes(name: String) {
    let shm = SharedMemory::open(&name).unwrap();
    shm.write_at(16, b"opened by name").unwrap();
}

/// 160, 161: a handle passed to a child (or a name the child attaches to) refers to the same
/// memory; the child's exit does not unlink the segment it only attached to.
#[test]
fn child_writes_through_a_passed_segment() {
    each_method("shm to child", LIMIT, |ctx| {
        let name = unique_name("mp_shm_child");
        let shm = SharedMemory::create(Some(&name), 64).unwrap();
        let p = ctx.process(child_writes, shm.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let p = ctx.process(child_opens_and_writes, name.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let got = shm.to_vec();
        assert_eq!(&got[..14], b"from the child");
        assert_eq!(&got[16..30], b"opened by name");
        assert!(std::fs::metadata(shm_path(&name)).is_ok(), "an attacher's exit unlinked the segment");
        // An anonymous segment travels as a descriptor.
        let anon = SharedMemory::anonymous(64).unwrap();
        let p = ctx.process(child_writes, anon.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(&anon.to_vec()[..14], b"from the child");
        shm.unlink().unwrap();
    });
}

fn never_runs(_: SharedMemory) {}

/// 160: a segment unlinked before the child attaches cannot be received by name.
#[test]
fn receiving_an_unlinked_segment_fails() {
    for m in [StartMethod::Spawn, StartMethod::ForkServer] {
        let _w = common::Watchdog::new("unlinked segment", LIMIT);
        let shm = SharedMemory::create(None, 64).unwrap();
        shm.unlink().unwrap();
        let p = multiproc::get_context(Some(m)).process(never_runs, shm.clone());
        let failed = match p.start() {
            Err(_) => true,
            Ok(()) => p.join().unwrap() != 0,
        };
        assert!(failed, "{m}: a child attached to an unlinked segment");
    }
}

// ---- ShareableList (§2 165, 166) ----

fn sample() -> Vec<Item> {
    vec![
        Item::from("howdy"),
        Item::from(&b"HoWdY"[..]),
        Item::from(-273.154),
        Item::from(100),
        Item::None,
        Item::from(true),
        Item::from(42),
    ]
}

/// 165: ShareableList basics.
#[test]
fn shareable_list_basics() {
    let name = unique_name("mp_sl_basics");
    let sl = ShareableList::create(Some(&name), sample()).unwrap();
    let dbg = format!("{sl:?}");
    assert!(dbg.contains(&name) && dbg.contains("howdy"), "{dbg}");
    assert!(matches!(sl.get(7), Err(ShareableListError::IndexOutOfRange { index: 7, len: 7 })));
    assert!(matches!(sl.set(7, 1), Err(ShareableListError::IndexOutOfRange { .. })));
    assert_eq!(sl.format(), "8s8sdqxxxxxx?xxxxxxxx?q");
    sl.set(2, -1.5).unwrap(); // same type: same format
    assert_eq!(sl.format(), "8s8sdqxxxxxx?xxxxxxxx?q");
    assert_eq!(sl.len(), 7);
    assert_eq!(sl.index(&Item::Int(100)).unwrap(), 3);
    assert!(matches!(sl.index(&Item::from("100")), Err(ShareableListError::NotInList)));
    assert_eq!(sl.get(sl.len() - 1).unwrap(), Item::Int(42));
    assert_eq!(sl.to_vec()[4], Item::None);
    assert_eq!(sl.iter().count(), 7);
    // Type changes update the format.
    sl.set(3, 42.0).unwrap();
    assert_eq!(sl.format(), "8s8sddxxxxxx?xxxxxxxx?q");
    assert_eq!(sl.get(3).unwrap(), Item::Float(42.0));
    sl.set(4, "str!").unwrap(); // a str into the 8-byte None slot
    assert_eq!(sl.format(), "8s8sdd8sxxxxxxx?q");
    assert_eq!(sl.get(4).unwrap(), Item::from("str!"));
    sl.set(1, 7).unwrap();
    sl.set(1, &b"bytes"[..]).unwrap();
    assert_eq!(sl.get(1).unwrap(), Item::from(&b"bytes"[..]));
    // Storage limits, without spill-over into the next slot.
    assert!(matches!(
        sl.set(0, "far too many"),
        Err(ShareableListError::ExceedsStorage { needed: 12, available: 8, .. })
    ));
    assert_eq!(sl.get(0).unwrap(), Item::from("howdy"));
    sl.set(0, "encodés").unwrap();
    assert_eq!(sl.get(0).unwrap(), Item::from("encodés"));
    assert!(sl.set(0, "encodées").is_err());
    assert_eq!(sl.get(1).unwrap(), Item::from(&b"bytes"[..]));
    // count
    sl.set(6, "bytes").unwrap();
    assert_eq!(sl.count(&Item::from("bytes")), 1);
    assert_eq!(sl.count(&Item::from(&b"bytes"[..])), 1);
    // A copy with an explicit name is independent.
    let name2 = unique_name("mp_sl_copy");
    let copy = ShareableList::create(Some(&name2), sl.to_vec()).unwrap();
    copy.set(5, false).unwrap();
    assert_eq!(sl.get(5).unwrap(), Item::Bool(true));
    assert_eq!(copy.get(0).unwrap(), Item::from("encodés"));
    // A second handle attached by name shares the data.
    let other = ShareableList::open(&name).unwrap();
    other.set(3, 1_000_000).unwrap();
    assert_eq!(sl.get(3).unwrap(), Item::Int(1_000_000));
    assert_eq!(other.format(), sl.format());
    copy.shm().unlink().unwrap();
    sl.shm().unlink().unwrap();
    // The empty list.
    let empty = ShareableList::create(None, Vec::<Item>::new()).unwrap();
    assert_eq!(empty.format(), "");
    assert_eq!(empty.count(&Item::None), 0);
    assert!(empty.index(&Item::None).is_err());
    empty.shm().unlink().unwrap();
}

/// 166: a ShareableList serializes by name (same size for 10 and 400 items); unlinked lists
/// cannot be attached.
#[test]
fn shareable_list_serializes_by_name() {
    let small = ShareableList::create(None, 0..10).unwrap();
    let big = ShareableList::create(None, 0..400).unwrap();
    let a = postcard::to_stdvec(&small).unwrap();
    let b = postcard::to_stdvec(&big).unwrap();
    assert_eq!(a.len(), b.len());
    let back: ShareableList = postcard::from_bytes(&b).unwrap();
    back.set(399, -1).unwrap();
    assert_eq!(big.get(399).unwrap(), Item::Int(-1));
    small.shm().unlink().unwrap();
    big.shm().unlink().unwrap();
    assert!(postcard::from_bytes::<ShareableList>(&b).is_err());
}

fn child_edits_list(sl: ShareableList) {
    sl.set(0, "child").unwrap();
    sl.set(1, sl.len() as i64).unwrap();
}

#[test]
fn shareable_list_in_a_child() {
    each_method("list to child", LIMIT, |ctx| {
        let sl = ShareableList::create(None, [Item::from("parent"), Item::None]).unwrap();
        let p = ctx.process(child_edits_list, sl.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(sl.to_vec(), [Item::from("child"), Item::Int(2)]);
        sl.shm().unlink().unwrap();
    });
}

/// The CPython versions on this machine (pyenv), or plain `python3`.
fn pythons() -> Vec<(String, std::process::Command)> {
    let mut out = Vec::new();
    for v in ["3.11.7", "3.12.1", "3.13.0"] {
        let ok = std::process::Command::new("python3")
            .env("PYENV_VERSION", v)
            .args(["-c", "import sys, multiprocessing.shared_memory; print(sys.version.split()[0])"])
            .output();
        if let Ok(o) = ok
            && o.status.success()
            && String::from_utf8_lossy(&o.stdout).trim() == v
        {
            let mut c = std::process::Command::new("python3");
            c.env("PYENV_VERSION", v);
            out.push((v.to_string(), c));
        }
    }
    if out.is_empty() {
        let ok = std::process::Command::new("python3").args(["-c", "import multiprocessing.shared_memory"]).output();
        if ok.is_ok_and(|o| o.status.success()) {
            out.push(("python3".to_string(), std::process::Command::new("python3")));
        }
    }
    out
}

/// The layout is CPython's: Python attaches to a list made here and reads and writes it.
/// (Python's resource tracker is told not to track the attach, or gh-82300 would unlink our
/// segment when Python exits.)
#[test]
fn cpython_reads_and_writes_our_shareable_list() {
    let pys = pythons();
    if pys.is_empty() {
        eprintln!("python3 not found; skipping the CPython interop check");
        return;
    }
    for (version, mut py) in pys {
        eprintln!("interop with CPython {version}");
        let sl = ShareableList::create(None, sample()).unwrap();
        let script = "import sys\nfrom multiprocessing import resource_tracker, shared_memory\n\
            resource_tracker.register = lambda *a, **k: None\n\
            sl = shared_memory.ShareableList(name=sys.argv[1])\n\
            print(sl.format); print(list(sl))\n\
            sl[3] = 'py'; sl[6] = 2.5\n\
            sl.shm.close()\n";
        let out = py.arg("-c").arg(script).arg(sl.shm().name().unwrap()).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{version}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.starts_with("8s8sdqxxxxxx?xxxxxxxx?q\n"), "{version}: {stdout}");
        assert!(stdout.contains("['howdy', b'HoWdY', -273.154, 100, None, True, 42]"), "{version}: {stdout}");
        assert_eq!(sl.get(3).unwrap(), Item::from("py"), "{version}");
        assert_eq!(sl.get(6).unwrap(), Item::Float(2.5), "{version}");
        sl.shm().unlink().unwrap();
    }
}

/// And the other way round: CPython creates a list, we attach by name, edit it, and CPython
/// sees the edit.
#[test]
fn we_read_and_write_a_cpython_shareable_list() {
    use std::io::{BufRead, BufReader, Write};
    for (version, mut py) in pythons() {
        let script = "import sys\nfrom multiprocessing import shared_memory\n\
            sl = shared_memory.ShareableList(['howdy', b'HoWdY', -273.154, 100, None, True, 42])\n\
            print(sl.shm.name, flush=True)\n\
            sys.stdin.readline()\n\
            print(list(sl), flush=True)\n\
            sl.shm.close(); sl.shm.unlink()\n";
        let mut child = py
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let name = lines.next().unwrap().unwrap();
        let sl = ShareableList::open(&name).unwrap();
        assert!(!sl.shm().is_owner());
        assert_eq!(sl.format(), "8s8sdqxxxxxx?xxxxxxxx?q", "{version}");
        assert_eq!(sl.to_vec(), sample(), "{version}");
        sl.set(0, "rust").unwrap();
        sl.set(4, 7).unwrap();
        writeln!(child.stdin.take().unwrap(), "go").unwrap();
        let after = lines.next().unwrap().unwrap();
        assert_eq!(after, "['rust', b'HoWdY', -273.154, 100, 7, True, 42]", "{version}");
        assert!(child.wait().unwrap().success());
    }
}

// ---- the heap of small objects (§2 150, 151: CPython's `multiprocessing.heap`) ----

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn increment_all(vs: Vec<Value<u32>>) {
    for v in &vs {
        *v.acquire().unwrap() += 1;
    }
}

#[test]
#[ignore = "helper for small_objects_cost_a_few_descriptors (counts this process's descriptors)"]
fn helper_heap_descriptors() {
    if !common::in_helper() {
        return;
    }
    let before = open_fds();
    let vs: Vec<Value<u32>> = (0..2000).map(Value::new).collect::<Result<_, _>>().unwrap();
    println!("2000 locked values: {} descriptors", open_fds() - before);
    drop(vs);
    let before = open_fds();
    for round in 0..50 {
        let vs: Vec<Value<u64>> = (0..500).map(|i| Value::new(i + round)).collect::<Result<_, _>>().unwrap();
        let locks: Vec<Lock> = (0..100).map(|_| Lock::new().unwrap()).collect();
        drop((vs, locks));
    }
    println!("churn: {} descriptors more", open_fds().saturating_sub(before));
}

fn number_after(text: &str, what: &str) -> usize {
    let rest = &text[text.find(what).unwrap_or_else(|| panic!("no {what:?} in {text}")) + what.len()..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

/// 150, 151: small objects share arenas: 2000 locked Values (4000 shared objects) cost a
/// handful of descriptors (one each before), and creating and dropping 30000 small objects
/// does not grow the descriptor table (an arena goes with its last object).
#[test]
fn small_objects_cost_a_few_descriptors() {
    let _w = common::Watchdog::new("heap descriptors", LIMIT);
    let (text, _) = common::helper_output("helper_heap_descriptors", &[]);
    let held = number_after(&text, "2000 locked values:");
    assert!(held <= 16, "2000 locked Values took {held} descriptors");
    let grown = number_after(&text, "churn:");
    assert!(grown <= 4, "descriptors grew by {grown} over 30000 short-lived objects");
}

/// All of 2000 locked Values reach a child in one start under every method: one descriptor
/// per arena travels, not one per object (the kernel passes at most 253 in a message).
#[test]
fn thousands_of_values_reach_a_child() {
    let vs: Vec<Value<u32>> = (0..2000).map(Value::new).collect::<Result<_, _>>().unwrap();
    each_method("values in a child", LIMIT, |ctx| {
        let p = ctx.process(increment_all, vs.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
    });
    for (i, v) in vs.iter().enumerate() {
        assert_eq!(v.get(), i as u32 + 3, "value {i}");
    }
}

fn make_and_send_back(conn: multiproc::Connection) {
    // Allocated in the child, from the arena it inherited under Fork (shared bump pointer).
    let mine: Vec<RawValue<u64>> = (0..64).map(|i| RawValue::new(1000 + i).unwrap()).collect();
    conn.send(&mine).unwrap();
    let _: u8 = conn.recv().unwrap(); // keep them alive until the parent has them
}

/// Objects made by a child and by its parent at the same time never share memory, whatever
/// the start method (under Fork both allocate from the same arenas), and an object sent back
/// to the parent is the same memory there.
#[test]
fn parent_and_child_allocate_without_overlap() {
    each_method("allocation after start", LIMIT, |ctx| {
        let m = ctx.get_start_method();
        let seed: Vec<RawValue<u64>> = (0..10).map(|i| RawValue::new(i).unwrap()).collect();
        let (here, there) = multiproc::pipe(true).unwrap();
        let p = ctx.process(make_and_send_back, there);
        p.start().unwrap();
        let ours: Vec<RawValue<u64>> = (0..64).map(|i| RawValue::new(2000 + i).unwrap()).collect();
        let theirs: Vec<RawValue<u64>> = here.recv().unwrap();
        for (i, v) in theirs.iter().enumerate() {
            v.set(v.get() + 1);
            assert_eq!(v.get(), 1001 + i as u64, "[{m}] child's value {i}");
        }
        here.send(&0u8).unwrap();
        assert_eq!(p.join().unwrap(), 0);
        for (i, v) in ours.iter().enumerate() {
            assert_eq!(v.get(), 2000 + i as u64, "[{m}] parent's value {i} was overwritten");
        }
        for (i, v) in seed.iter().enumerate() {
            assert_eq!(v.get(), i as u64);
        }
        let mut addrs: Vec<usize> = ours.iter().chain(&theirs).chain(&seed).map(|v| v.as_ptr() as usize).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 64 + 64 + 10, "[{m}] two objects share an address");
    });
}

fn work_until_stopped((stop, count, initial): (Value<bool>, Value<u64>, Value<char>)) {
    assert_eq!(initial.get(), 'λ');
    while !stop.get() {
        *count.acquire().unwrap() += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    initial.set('✓');
}

// Python's `Value(c_bool, False)` stop flag, and a `c_wchar`: a child works until the parent
// sets the flag, under every start method.
#[test]
fn a_bool_stop_flag_and_a_char_value() {
    each_method("bool stop flag", LIMIT, |ctx| {
        let m = ctx.get_start_method();
        let (stop, count, ch) = (Value::new(false).unwrap(), Value::new(0u64).unwrap(), Value::new('λ').unwrap());
        let p = ctx.process(work_until_stopped, (stop.clone(), count.clone(), ch.clone()));
        p.start().unwrap();
        common::wait_until("the child to count", || count.get() > 3);
        stop.set(true);
        assert_eq!(p.join().unwrap(), 0, "[{m}]");
        assert_eq!(ch.get(), '✓', "[{m}]");
        let a = Array::from_slice(&[true, false, true]).unwrap();
        assert_eq!(a.to_vec(), [true, false, true]);
    });
}
