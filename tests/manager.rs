//! Managers: the behaviours of CPython's `_TestContainers`, `TestSyncManagerTypes`,
//! `_TestMyManager` and `_TestManagerRestart` (reference §2, items 83-91, 121-123, 125 and
//! 209-216), each with the proxies used in child processes under every start method.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Watchdog, each_method, run_child};
use multiproc::manager::{
    ArrayProxy, DictProxy, ListProxy, Managed, ManagedProxy, Manager, ManagerErrorKind, NamespaceProxy, Proxy,
    QueueProxy, SetProxy, ValueProxy,
};
use serde::{Deserialize, Serialize};

const LIMIT: Duration = Duration::from_secs(90);

// ---- _TestContainers (83-91) and TestSyncManagerTypes (213-215) ----

fn dict_ops_in_child(d: DictProxy<String, i64>) {
    // 214: len, [], get, items, keys, values, copy; setdefault, update, pop, popitem, clear.
    assert_eq!(d.len().unwrap(), 2);
    assert_eq!(d.get(&"a".into()).unwrap(), 1);
    assert_eq!(d.get_opt(&"zz".into()).unwrap(), None);
    assert_eq!(d.items().unwrap(), vec![("a".to_string(), 1), ("b".to_string(), 2)]);
    assert_eq!(d.keys().unwrap(), vec!["a", "b"]);
    assert_eq!(d.values().unwrap(), vec![1, 2]);
    assert_eq!(d.setdefault("c".into(), 3).unwrap(), 3);
    assert_eq!(d.setdefault("c".into(), 4).unwrap(), 3);
    d.update([("d".to_string(), 4), ("a".to_string(), 10)]).unwrap();
    assert_eq!(d.keys().unwrap(), vec!["a", "b", "c", "d"], "a replaced key keeps its place");
    assert_eq!(d.pop(&"b".into()).unwrap(), 2);
    assert_eq!(d.popitem().unwrap(), ("d".to_string(), 4));
    let e = d.get(&"b".into()).unwrap_err();
    assert!(e.is_key_error() && e.to_string().contains("\"b\""), "{e}");
    d.set("child".into(), 99).unwrap();
}

/// 87, 214: dict proxy methods, in the parent and in a child.
#[test]
fn dict_proxy_methods() {
    let m = Manager::start().unwrap();
    each_method("dict_proxy_methods", LIMIT, |ctx| {
        let d = m.dict_from([("a".to_string(), 1i64), ("b".to_string(), 2)]).unwrap();
        run_child(&ctx, dict_ops_in_child, d.clone());
        let got: BTreeMap<String, i64> = d.items().unwrap().into_iter().collect();
        assert_eq!(got, BTreeMap::from([("a".into(), 10), ("c".into(), 3), ("child".into(), 99)]));
        assert!(d.remove(&"nope".into()).unwrap_err().is_key_error());
        assert!(d.popitem().is_ok());
        d.clear().unwrap();
        assert!(d.is_empty().unwrap());
        assert!(d.popitem().unwrap_err().is_key_error());
        assert_eq!(d.get_many(&["x".into()]).unwrap(), vec![None]);
    });
}

fn list_ops_in_child(l: ListProxy<i32>) {
    // 213: count, index, extend, +=, *=, sort, reverse, iteration, pop(0), clear.
    assert_eq!(l.count(&1).unwrap(), 1);
    assert_eq!(l.index(&2).unwrap(), 1);
    l.extend([3, 4]).unwrap();
    l.repeat(2).unwrap();
    assert_eq!(l.to_vec().unwrap(), vec![1, 2, 3, 4, 1, 2, 3, 4]);
    l.sort().unwrap();
    l.reverse().unwrap();
    assert_eq!(l.iter().collect::<Result<Vec<_>, _>>().unwrap(), vec![4, 4, 3, 3, 2, 2, 1, 1]);
    assert_eq!(l.pop_at(0).unwrap(), 4);
    l.clear().unwrap();
}

/// 83-85, 213: list proxy methods, slices, Python indexes, iteration that sees changes.
#[test]
fn list_proxy_methods() {
    let m = Manager::start().unwrap();
    each_method("list_proxy_methods", LIMIT, |ctx| {
        let l = m.list_from([1, 2]).unwrap();
        run_child(&ctx, list_ops_in_child, l.clone());
        assert_eq!(l.len().unwrap(), 0, "the parent sees the child's clear");
        l.extend(0..10).unwrap();
        assert_eq!(l.slice(None, None).unwrap(), (0..10).collect::<Vec<_>>());
        assert_eq!(l.slice(Some(-3), None).unwrap(), vec![7, 8, 9]);
        assert_eq!(l.slice(Some(2), Some(4)).unwrap(), vec![2, 3]);
        assert_eq!(l.slice(Some(8), Some(2)).unwrap(), Vec::<i32>::new());
        assert_eq!(l.get(-1).unwrap(), 9);
        assert!(l.get(10).unwrap_err().is_index_error());
        assert!(l.get(-11).unwrap_err().is_index_error());
        l.set(-1, 90).unwrap();
        l.insert(0, -1).unwrap();
        l.insert(100, 100).unwrap();
        l.delete(1).unwrap();
        assert_eq!(l.get(0).unwrap(), -1);
        assert_eq!(l.get(-1).unwrap(), 100);
        assert!(l.contains(&90).unwrap());
        l.remove(&90).unwrap();
        assert!(l.remove(&90).unwrap_err().is_value_error());
        assert!(l.index(&12345).unwrap_err().is_value_error());
        // 85: iteration goes by index: an append during iteration is seen, and an
        // exhausted iterator stays empty.
        let short = m.list_from([1, 2]).unwrap();
        let mut it = short.iter();
        assert_eq!(it.next().unwrap().unwrap(), 1);
        short.append(3).unwrap();
        assert_eq!(it.map(Result::unwrap).collect::<Vec<_>>(), vec![2, 3]);
        let mut empty = m.list::<i32>().unwrap().iter().collect::<Vec<_>>().into_iter();
        assert!(empty.next().is_none());
        l.clear().unwrap();
        assert!(l.pop().unwrap_err().is_index_error());
    });
}

fn namespace_in_child(ns: NamespaceProxy) {
    assert_eq!(ns.get::<String>("name").unwrap(), "Bob");
    ns.set("seen_by_child", &true).unwrap();
}

/// 91, 215: namespace attributes set, got and deleted; seen across processes; a missing
/// one is an `AttributeError`.
#[test]
fn namespace_proxy() {
    let m = Manager::start().unwrap();
    each_method("namespace_proxy", LIMIT, |ctx| {
        let ns = m.namespace().unwrap();
        ns.set("name", &"Bob".to_string()).unwrap();
        run_child(&ctx, namespace_in_child, ns.clone());
        assert!(ns.get::<bool>("seen_by_child").unwrap());
        assert!(ns.contains("name").unwrap());
        ns.remove("name").unwrap();
        assert!(!ns.contains("name").unwrap());
        let e = ns.get::<String>("name").unwrap_err();
        assert_eq!(e.kind(), ManagerErrorKind::AttributeError);
        assert!(e.to_string().contains("name"));
        assert_eq!(ns.names().unwrap(), vec!["seen_by_child"]);
    });
}

fn value_array_set_in_child((v, a, s): (ValueProxy<f64>, ArrayProxy<i32>, SetProxy<u32>)) {
    assert_eq!(v.get().unwrap(), 1.5);
    v.set(2.5).unwrap();
    assert_eq!(a.len().unwrap(), 3);
    a.set(1, 5).unwrap();
    assert!(s.contains(&1).unwrap());
    s.add(7).unwrap();
}

/// 215, 216: value get/set, array indexing and length (fixed), set methods; the parent
/// sees the child's updates.
#[test]
fn value_array_and_set_proxies() {
    let m = Manager::start().unwrap();
    each_method("value_array_and_set_proxies", LIMIT, |ctx| {
        let v = m.value(1.5f64).unwrap();
        let a = m.array(vec![0i32; 3]).unwrap();
        let s = m.set::<u32>().unwrap();
        s.update([1, 2, 2]).unwrap();
        run_child(&ctx, value_array_set_in_child, (v.clone(), a.clone(), s.clone()));
        assert_eq!(v.get().unwrap(), 2.5);
        assert_eq!(v.swap(3.5).unwrap(), 2.5);
        assert_eq!(a.to_vec().unwrap(), vec![0, 5, 0]);
        assert!(a.replace([1, 2]).unwrap_err().is_value_error(), "an array keeps its length");
        a.replace([1, 2, 3]).unwrap();
        assert!(a.get(3).unwrap_err().is_index_error());
        assert_eq!(s.to_vec().unwrap(), vec![1, 2, 7]);
        assert!(!s.add(1).unwrap());
        assert!(s.discard(&2).unwrap());
        assert!(!s.discard(&2).unwrap());
        assert!(s.remove(&2).unwrap_err().is_key_error());
        assert_eq!(s.len().unwrap(), 2);
        let x = s.pop().unwrap();
        assert!(!s.contains(&x).unwrap());
        s.clear().unwrap();
        assert!(s.pop().unwrap_err().is_key_error());
    });
}

fn write_through_nested(d: DictProxy<String, DictProxy<String, u32>>) {
    let supplies = d.get(&"supplies".into()).unwrap();
    supplies.set("blankets".into(), 5).unwrap();
}

/// 83, 86, 89: nested proxies. A dict holding a dict proxy: writes through the inner proxy
/// are seen through the original; inner objects survive the outer `clear`; a list of list
/// proxies changes only the inner list written to; a plain nested value is a copy.
#[test]
fn nested_proxies() {
    let m = Manager::start().unwrap();
    each_method("nested_proxies", LIMIT, |ctx| {
        let inner = m.dict::<String, u32>().unwrap();
        let outer = m.dict::<String, DictProxy<String, u32>>().unwrap();
        outer.set("supplies".into(), inner.clone()).unwrap();
        run_child(&ctx, write_through_nested, outer.clone());
        assert_eq!(inner.get(&"blankets".into()).unwrap(), 5);
        outer.clear().unwrap();
        assert_eq!(inner.len().unwrap(), 1, "the inner object outlives the outer's clear");

        let a = m.list_from([1, 2, 3]).unwrap();
        let b = m.list_from([4, 5]).unwrap();
        let lists = m.list_from([a.clone(), b.clone()]).unwrap();
        lists.get(0).unwrap().set(-1, 55).unwrap();
        assert_eq!(a.to_vec().unwrap(), vec![1, 2, 55]);
        assert_eq!(b.to_vec().unwrap(), vec![4, 5]);
        assert_eq!(lists.get(1).unwrap().pop().unwrap(), 5);

        // The nested-mutable caveat: a plain value fetched is a copy.
        let plain = m.list_from([vec![1, 2]]).unwrap();
        let mut copy = plain.get(0).unwrap();
        copy.push(3);
        assert_eq!(plain.get(0).unwrap(), vec![1, 2]);
        plain.set(0, copy).unwrap();
        assert_eq!(plain.get(0).unwrap(), vec![1, 2, 3]);
    });
}

fn use_queue_from_containers((l, d): (ListProxy<QueueProxy<u32>>, DictProxy<u8, QueueProxy<u32>>)) {
    l.get(0).unwrap().put(1).unwrap();
    d.get(&0).unwrap().put(2).unwrap();
}

/// 90: a queue proxy stored in a list proxy or a dict proxy still works for put and get.
#[test]
fn queue_proxy_inside_containers() {
    let m = Manager::start().unwrap();
    each_method("queue_proxy_inside_containers", LIMIT, |ctx| {
        let q = m.queue::<u32>().unwrap();
        let l = m.list_from([q.clone()]).unwrap();
        let d = m.dict_from([(0u8, q.clone())]).unwrap();
        run_child(&ctx, use_queue_from_containers, (l.clone(), d.clone()));
        assert_eq!(l.get(0).unwrap().get().unwrap(), 1);
        assert_eq!(d.get(&0).unwrap().get().unwrap(), 2);
    });
}

fn fill_one(args: (DictProxy<u32, String>, u32)) {
    let (d, i) = args;
    d.set(i, format!("worker {i}")).unwrap();
}

/// The seed: a dict filled by ten workers.
#[test]
fn ten_workers_fill_a_dict() {
    let m = Manager::start().unwrap();
    each_method("ten_workers_fill_a_dict", LIMIT, |ctx| {
        let d = m.dict::<u32, String>().unwrap();
        let ps: Vec<_> = (0..10).map(|i| ctx.process(fill_one, (d.clone(), i))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(d.len().unwrap(), 10);
        assert_eq!(d.get(&7).unwrap(), "worker 7");
    });
}

fn hammer(args: (ListProxy<u64>, u64)) {
    let (l, base) = args;
    std::thread::scope(|s| {
        for t in 0..4 {
            let l = &l;
            s.spawn(move || {
                for i in 0..50 {
                    l.append(base + t * 1000 + i).unwrap();
                }
            });
        }
    });
}

/// Beyond CPython: one proxy used from many threads at once (in the parent and in a
/// child); nothing is lost or mixed up.
#[test]
fn one_proxy_from_many_threads() {
    let m = Manager::start().unwrap();
    each_method("one_proxy_from_many_threads", LIMIT, |ctx| {
        let l = m.list::<u64>().unwrap();
        let p = ctx.process(hammer, (l.clone(), 1_000_000));
        p.start().unwrap();
        hammer((l.clone(), 0));
        assert_eq!(p.join().unwrap(), 0);
        let mut all = l.to_vec().unwrap();
        all.sort();
        let mut want: Vec<u64> = [0, 1_000_000]
            .iter()
            .flat_map(|b| (0..4).flat_map(move |t| (0..50).map(move |i| b + t * 1000 + i)))
            .collect();
        want.sort();
        assert_eq!(all, want);
    });
}

/// Batches: update, get_many and extend move many items per round trip.
#[test]
fn batch_operations() {
    let _w = Watchdog::new("batch_operations", LIMIT);
    let m = Manager::start().unwrap();
    let d = m.dict::<u32, u32>().unwrap();
    d.set_many((0..10_000).map(|i| (i, i * 2))).unwrap();
    let keys: Vec<u32> = (0..10_001).collect();
    let got = d.get_many(&keys).unwrap();
    assert_eq!(got.len(), 10_001);
    assert!(got[..10_000].iter().enumerate().all(|(i, v)| *v == Some(i as u32 * 2)));
    assert_eq!(got[10_000], None);
    let l = m.list::<u32>().unwrap();
    l.extend(0..5000).unwrap();
    assert_eq!(l.len().unwrap(), 5000);
}

/// A request over the server's limit is refused before it is sent, and the server goes on.
#[test]
fn oversized_requests_are_refused() {
    let _w = Watchdog::new("oversized_requests_are_refused", LIMIT);
    let m = Manager::builder().max_message(4096).start().unwrap();
    let l = m.list::<u8>().unwrap();
    let e = l.extend(vec![7u8; 10_000]).unwrap_err();
    assert_eq!(e.kind(), ManagerErrorKind::TooLarge);
    assert!(e.to_string().contains("4096"), "{e}");
    l.extend(vec![7u8; 100]).unwrap();
    assert_eq!(l.len().unwrap(), 100);
}

/// Proxies of one type cannot be looked up as another; published names are found.
#[test]
fn publish_lookup_and_type_checks() {
    let _w = Watchdog::new("publish_lookup_and_type_checks", LIMIT);
    let m = Manager::start().unwrap();
    let l = m.list_from([1u8]).unwrap();
    m.publish("things", &l).unwrap();
    assert_eq!(m.lookup::<ListProxy<u8>>("things").unwrap().len().unwrap(), 1);
    let e = m.lookup::<DictProxy<u8, u8>>("things").unwrap_err();
    assert_eq!(e.kind(), ManagerErrorKind::TypeMismatch);
    assert!(m.lookup::<ListProxy<u8>>("nothing").unwrap_err().is_key_error());
    assert_eq!(m.number_of_objects().unwrap(), 1);
    m.release(&l).unwrap();
    assert_eq!(l.len().unwrap_err().kind(), ManagerErrorKind::NoSuchObject);
    assert_eq!(m.number_of_objects().unwrap(), 0);
}

// ---- _TestMyManager (121-123): custom types ----

struct Counter {
    n: i64,
}

#[derive(Serialize, Deserialize)]
enum CounterOp {
    Add(i64),
    Get,
    Fail,
    Panic,
}

impl Managed for Counter {
    const NAME: &'static str = "Counter";
    type Init = i64;
    type Request = CounterOp;
    type Reply = i64;

    fn create(start: i64) -> Result<Counter, String> {
        if start < 0 {
            return Err(format!("a counter cannot start below zero (got {start})"));
        }
        Ok(Counter { n: start })
    }

    fn call(&mut self, op: CounterOp) -> Result<i64, String> {
        match op {
            CounterOp::Add(k) => {
                self.n += k;
                Ok(self.n)
            }
            CounterOp::Get => Ok(self.n),
            CounterOp::Fail => Err("asked to fail".into()),
            CounterOp::Panic => panic!("asked to panic"),
        }
    }
}

fn add_in_child(c: Proxy<Counter>) {
    for _ in 0..10 {
        c.call(CounterOp::Add(1)).unwrap();
    }
}

/// 121, 122: a registered type's methods run in the server; its error comes back as
/// `Remote` with the message, its panic as `RemotePanic`, and the object and the server go
/// on; an unregistered type is refused.
#[test]
fn custom_managed_type() {
    let m = Manager::builder().register::<Counter>().start().unwrap();
    each_method("custom_managed_type", LIMIT, |ctx| {
        let c = m.create::<Counter>(5).unwrap();
        run_child(&ctx, add_in_child, c.clone());
        assert_eq!(c.call(CounterOp::Get).unwrap(), 15);
        let e = c.call(CounterOp::Fail).unwrap_err();
        assert!(e.is_remote() && e.to_string().contains("asked to fail"), "{e}");
        let e = c.call(CounterOp::Panic).unwrap_err();
        assert!(e.is_remote_panic() && e.to_string().contains("asked to panic"), "{e}");
        assert_eq!(c.call(CounterOp::Add(1)).unwrap(), 16, "the object survives its panic");
        let all = c.call_many([CounterOp::Add(1), CounterOp::Fail, CounterOp::Get]).unwrap();
        assert_eq!(all[0].as_ref().unwrap(), &17);
        assert!(all[1].as_ref().unwrap_err().is_remote());
        assert_eq!(all[2].as_ref().unwrap(), &17);
        let e = m.create::<Counter>(-1).unwrap_err();
        assert!(e.is_remote() && e.to_string().contains("below zero"), "{e}");
        assert_eq!(c.base().type_name(), "Counter");
    });
    let plain = Manager::start().unwrap();
    assert_eq!(plain.create::<Counter>(0).unwrap_err().kind(), ManagerErrorKind::NoSuchType);
}

// ---- shutdown and restart (123, 125) ----

/// 123: after shutdown the server is gone and proxies fail at once with `ServerGone`;
/// shutdown may be called again; dropping a manager shuts its server down.
#[test]
fn shutdown_and_drop_stop_the_server() {
    let _w = Watchdog::new("shutdown_and_drop_stop_the_server", LIMIT);
    let m = Manager::start().unwrap();
    let pid = m.server_pid().unwrap();
    let d = m.dict::<u8, u8>().unwrap();
    d.set(1, 1).unwrap();
    m.shutdown().unwrap();
    m.shutdown().unwrap();
    assert!(common::pid_gone(pid));
    let t = Instant::now();
    assert!(d.len().unwrap_err().is_server_gone());
    assert!(t.elapsed() < Duration::from_secs(30));
    let m2 = Manager::start().unwrap();
    let pid2 = m2.server_pid().unwrap();
    drop(m2);
    assert!(common::wait_pid_gone(pid2, Duration::from_secs(30)));
}

/// 125: a new manager can start on the address of one that stopped; a proxy of the old
/// server sees that the server restarted.
#[test]
fn restart_on_the_same_address() {
    let _w = Watchdog::new("restart_on_the_same_address", LIMIT);
    let name = common::unique_name("\0multiproc-manager-restart");
    let m = Manager::builder().address(name.as_str()).start().unwrap();
    let old = m.dict::<u8, u8>().unwrap();
    old.set(1, 1).unwrap();
    m.shutdown().unwrap();
    let m2 = Manager::builder().address(name.as_str()).start().unwrap();
    assert_eq!(m.address(), m2.address());
    let e = old.len().unwrap_err();
    assert!(e.is_server_restarted(), "{e:?}");
    let fresh = m2.dict::<u8, u8>().unwrap();
    assert!(fresh.is_empty().unwrap());
    // TCP too, on a port the first one picked.
    let t = Manager::serve("127.0.0.1:0", b"restart key").unwrap();
    let addr = t.address().clone();
    drop(t);
    let t2 = Manager::serve(addr.clone(), b"restart key").unwrap();
    assert_eq!(t2.address(), &addr);
}

/// The server itself started under each start method (CPython's `ctx` argument): a child
/// process (listed among the children) that serves containers and custom types, and is
/// gone after shutdown.
#[test]
fn server_under_every_start_method() {
    for method in common::METHODS {
        let _w = Watchdog::new(&format!("server_under_every_start_method [{method}]"), LIMIT);
        let m = Manager::builder().start_method(method).register::<Counter>().start().unwrap();
        let pid = m.server_pid().unwrap();
        assert!(multiproc::active_children().iter().any(|p| p.pid() == Some(pid)), "listed among the children");
        let d = m.dict_from([(1u8, 2u8)]).unwrap();
        assert_eq!(d.get(&1).unwrap(), 2);
        let c = m.create::<Counter>(1).unwrap();
        run_child(&multiproc::get_context(Some(method)), add_in_child, c.clone());
        assert_eq!(c.call(CounterOp::Get).unwrap(), 11);
        m.shutdown().unwrap();
        assert!(common::wait_pid_gone(pid, Duration::from_secs(30)));
        assert!(d.len().unwrap_err().is_server_gone());
    }
}

fn read_segment((name, list): (String, String)) {
    let shm = multiproc::SharedMemory::open(&name).unwrap();
    let mut b = [0u8; 5];
    shm.read_at(0, &mut b).unwrap();
    assert_eq!(&b, b"hello");
    shm.write_at(5, b" back").unwrap();
    let l = multiproc::ShareableList::open(&list).unwrap();
    l.set(0, 42i64).unwrap();
}

/// 164: a SharedMemoryManager's segments and lists are attachable by name in other
/// processes while it runs, and gone after its shutdown.
#[test]
fn shared_memory_manager() {
    let _w = Watchdog::new("shared_memory_manager", LIMIT);
    let smm = multiproc::manager::SharedMemoryManager::start().unwrap();
    let shm = smm.shared_memory(4096).unwrap();
    assert!(shm.size() >= 4096 && !shm.is_owner());
    shm.write_at(0, b"hello").unwrap();
    let name = shm.name().unwrap().to_string();
    let list = smm.shareable_list([1i64, 2, 3]).unwrap();
    let list_name = list.shm().name().unwrap().to_string();
    each_method("shared_memory_manager", LIMIT, |ctx| {
        run_child(&ctx, read_segment, (name.clone(), list_name.clone()));
    });
    let mut b = [0u8; 10];
    shm.read_at(0, &mut b).unwrap();
    assert_eq!(&b, b"hello back");
    assert_eq!(list.get(0).unwrap(), multiproc::Item::Int(42));
    let d = smm.dict::<u8, u8>().unwrap();
    d.set(1, 1).unwrap();
    smm.shutdown().unwrap();
    assert!(multiproc::SharedMemory::open(&name).is_err(), "the segment was unlinked");
    assert!(multiproc::ShareableList::open(&list_name).is_err(), "the list was unlinked");
}

/// A manager started from a thread that then ends keeps its server (the server dies with
/// the thread that started it, so a long-lived thread starts it); a forked child that drops
/// a copy of the manager does not stop the parent's server.
#[test]
fn manager_outlives_its_starting_thread_and_forked_copies() {
    let _w = Watchdog::new("manager_outlives_its_starting_thread_and_forked_copies", LIMIT);
    let m = std::thread::spawn(|| Manager::start().unwrap()).join().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let d = m.dict::<u8, u8>().unwrap();
    d.set(1, 1).unwrap();
    let other = Manager::start().unwrap();
    let d2 = other.dict::<u8, u8>().unwrap();
    let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(other)));
    let in_child = slot.clone();
    let p = multiproc::Process::with_closure(move || {
        // The child's copy of the manager, dropped here: it must not stop the server.
        let m = in_child.lock().unwrap().take().unwrap();
        m.dict::<u8, u8>().unwrap().set(2, 2).unwrap();
        drop(m);
    });
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    d2.set(3, 3).unwrap();
    assert_eq!(d2.get(&3).unwrap(), 3, "the server survived the child's drop");
    assert_eq!(d.get(&1).unwrap(), 1);
    drop(slot.lock().unwrap().take()); // the parent's: this one stops it
    assert!(d2.len().unwrap_err().is_server_gone());
    assert_eq!(m.number_of_objects().unwrap(), 1);
}

fn batch_in_child((d, l, c): (DictProxy<String, u32>, ListProxy<u32>, Proxy<Counter>)) {
    let m = Manager::connect(d.base().address().clone(), multiproc::current_process().authkey()).unwrap();
    let mut b = m.batch();
    let before = b.dict_get(&d, &"k".into());
    b.dict_set(&d, &"k".into(), &2);
    b.list_append(&l, &3);
    let counted = b.call(&c, CounterOp::Add(5));
    let r = b.run().unwrap();
    assert_eq!(r.get(before).unwrap(), 1);
    assert_eq!(r.get(counted).unwrap(), 5);
}

/// A general pipeline: calls on a dict, a list, a value and a custom object in one round
/// trip, in order, each with its own result; a proxy of another manager is refused.
#[test]
fn batches_across_objects() {
    let m = Manager::builder().register::<Counter>().start().unwrap();
    each_method("batches_across_objects", LIMIT, |ctx| {
        let d = m.dict_from([("k".to_string(), 1u32)]).unwrap();
        let l = m.list::<u32>().unwrap();
        let c = m.create::<Counter>(0).unwrap();
        run_child(&ctx, batch_in_child, (d.clone(), l.clone(), c.clone()));
        let v = m.value(0u32).unwrap();
        let mut b = m.batch();
        assert!(b.is_empty());
        b.value_set(&v, &7);
        let got = b.value_get(&v);
        let k = b.dict_get(&d, &"k".into());
        let missing = b.list_get(&l, 5);
        let first = b.list_get(&l, 0);
        let failed = b.call(&c, CounterOp::Fail);
        assert_eq!(b.len(), 6);
        let r = b.run().unwrap();
        assert_eq!(r.get(got).unwrap(), 7, "calls run in order");
        assert_eq!(r.get(k).unwrap(), 2);
        assert!(r.get(missing).unwrap_err().is_index_error());
        assert_eq!(r.get(first).unwrap(), 3);
        assert!(r.get(failed).unwrap_err().is_remote());
        let other = Manager::start().unwrap();
        let foreign = other.list::<u32>().unwrap();
        let mut b = m.batch();
        b.list_append(&foreign, &1);
        assert_eq!(b.run().unwrap_err().kind(), ManagerErrorKind::TypeMismatch);
        assert!(m.batch().run().is_ok());
    });
}

/// Writes this process's pid where the test can read it.
fn note_my_pid() {
    let path = std::env::temp_dir().join(format!("multiproc-mgr-init-{}", std::os::unix::process::parent_id()));
    std::fs::write(path, std::process::id().to_string()).unwrap();
}

fn panicking_initializer() {
    panic!("the initializer refuses");
}

/// 178: an initializer runs once in the server before it serves; one that panics fails the
/// start with its message.
#[test]
fn initializer_runs_in_the_server() {
    let _w = Watchdog::new("initializer_runs_in_the_server", LIMIT);
    let path = std::env::temp_dir().join(format!("multiproc-mgr-init-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let m = Manager::builder().initializer(note_my_pid).start().unwrap();
    let pid: u32 = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    assert_eq!(Some(pid), m.server_pid());
    std::fs::remove_file(&path).unwrap();
    let e = Manager::builder().initializer(panicking_initializer).start().unwrap_err();
    assert_eq!(e.kind(), ManagerErrorKind::Start);
    assert!(e.to_string().contains("the initializer refuses"), "{e}");
}
