//! The server's containers (dict, namespace, set, list, array, value), which keep encoded
//! bytes and never need the proxies' types.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::error::ManagerErrorKind as K;
use super::object::{Cx, Object, args, args_ref, lock, no_such_method, ok};
use super::protocol::{Blob, BlobRef, Fault, method};

/// The most items a list may be repeated to.
const MAX_ITEMS: u64 = 1 << 20;

/// The most bytes a list may be repeated to.
const MAX_REPEAT_BYTES: u64 = 64 << 20;

/// A map that remembers insertion order (Python's dicts do), over encoded keys.
#[derive(Default)]
pub(crate) struct OrderedMap {
    index: HashMap<Vec<u8>, u64>,
    entries: BTreeMap<u64, (Vec<u8>, Vec<u8>)>,
    next: u64,
}

impl FromIterator<(Vec<u8>, Vec<u8>)> for OrderedMap {
    fn from_iter<I: IntoIterator<Item = (Vec<u8>, Vec<u8>)>>(iter: I) -> OrderedMap {
        let mut m = OrderedMap::default();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

impl OrderedMap {
    /// Inserts or replaces (a replaced key keeps its place); true if the key is new.
    pub(crate) fn insert(&mut self, k: Vec<u8>, v: Vec<u8>) -> bool {
        if let Some(seq) = self.index.get(&k) {
            self.entries.get_mut(seq).expect("index and entries agree").1 = v;
            return false;
        }
        let seq = self.next;
        self.next += 1;
        self.index.insert(k.clone(), seq);
        self.entries.insert(seq, (k, v));
        true
    }

    pub(crate) fn get(&self, k: &[u8]) -> Option<&Vec<u8>> {
        self.index.get(k).map(|seq| &self.entries[seq].1)
    }

    pub(crate) fn remove(&mut self, k: &[u8]) -> Option<Vec<u8>> {
        let seq = self.index.remove(k)?;
        self.entries.remove(&seq).map(|(_, v)| v)
    }

    pub(crate) fn pop_last(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        let (_, (k, v)) = self.entries.pop_last()?;
        self.index.remove(&k);
        Some((k, v))
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.entries.clear();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Vec<u8>)> {
        self.entries.values().map(|(k, v)| (k, v))
    }
}

fn blobs<'a>(it: impl Iterator<Item = &'a Vec<u8>>) -> Vec<Blob> {
    it.map(|b| Blob(b.clone())).collect()
}

/// A dict or a namespace.
pub(crate) struct MapObject {
    name: &'static str,
    missing: K,
    map: Mutex<OrderedMap>,
}

impl MapObject {
    pub(crate) fn new(name: &'static str, missing: K, init: Vec<(Blob, Blob)>) -> MapObject {
        MapObject { name, missing, map: Mutex::new(init.into_iter().map(|(k, v)| (k.0, v.0)).collect()) }
    }

    fn missing(&self) -> Fault {
        Fault::new(self.missing, format!("no such key in the managed {}", self.name))
    }
}

impl Object for MapObject {
    fn type_name(&self) -> &str {
        self.name
    }

    fn call(&self, m: u16, a: &[u8], _cx: &Cx<'_>) -> Result<Vec<u8>, Fault> {
        use method::map::*;
        let mut map = lock(&self.map);
        match m {
            LEN => ok(&(map.len() as u64)),
            GET => map.get(&args::<Blob>(a)?.0).cloned().ok_or_else(|| self.missing()),
            GET_OPT => ok(&map.get(&args::<Blob>(a)?.0).map(|v| Blob(v.clone()))),
            SET => {
                let (k, v): (Blob, Blob) = args(a)?;
                map.insert(k.0, v.0);
                ok(&())
            }
            DEL => map.remove(&args::<Blob>(a)?.0).map(|_| Vec::new()).ok_or_else(|| self.missing()),
            POP => map.remove(&args::<Blob>(a)?.0).ok_or_else(|| self.missing()),
            CONTAINS => ok(&map.get(&args::<Blob>(a)?.0).is_some()),
            KEYS => ok(&blobs(map.iter().map(|(k, _)| k))),
            VALUES => ok(&blobs(map.iter().map(|(_, v)| v))),
            ITEMS => ok(&map.iter().map(|(k, v)| (Blob(k.clone()), Blob(v.clone()))).collect::<Vec<_>>()),
            CLEAR => {
                map.clear();
                ok(&())
            }
            UPDATE => {
                let items: Vec<(BlobRef<'_>, BlobRef<'_>)> = args_ref(a)?;
                for (k, v) in items {
                    map.insert(k.0.to_vec(), v.0.to_vec());
                }
                ok(&())
            }
            GET_MANY => {
                let keys: Vec<BlobRef<'_>> = args_ref(a)?;
                ok(&keys.iter().map(|k| map.get(k.0).map(|v| BlobRef(v))).collect::<Vec<_>>())
            }
            SETDEFAULT => {
                let (k, v): (Blob, Blob) = args(a)?;
                if let Some(old) = map.get(&k.0) {
                    return Ok(old.clone());
                }
                map.insert(k.0, v.0.clone());
                Ok(v.0)
            }
            POPITEM => match map.pop_last() {
                Some((k, v)) => ok(&(Blob(k), Blob(v))),
                None => Err(Fault::new(K::KeyError, format!("popitem of an empty managed {}", self.name))),
            },
            _ => Err(no_such_method(self.name, m)),
        }
    }
}

/// A set: an ordered map with empty values.
pub(crate) struct SetObject(pub(crate) Mutex<OrderedMap>);

impl Object for SetObject {
    fn type_name(&self) -> &str {
        "set"
    }

    fn call(&self, m: u16, a: &[u8], _cx: &Cx<'_>) -> Result<Vec<u8>, Fault> {
        use method::map::*;
        let mut set = lock(&self.0);
        match m {
            LEN => ok(&(set.len() as u64)),
            ADD => ok(&set.insert(args::<Blob>(a)?.0, Vec::new())),
            DISCARD => ok(&set.remove(&args::<Blob>(a)?.0).is_some()),
            DEL => match set.remove(&args::<Blob>(a)?.0) {
                Some(_) => ok(&()),
                None => Err(Fault::new(K::KeyError, "no such element in the managed set")),
            },
            CONTAINS => ok(&set.get(&args::<Blob>(a)?.0).is_some()),
            KEYS => ok(&blobs(set.iter().map(|(k, _)| k))),
            CLEAR => {
                set.clear();
                ok(&())
            }
            UPDATE => {
                for k in args::<Vec<Blob>>(a)? {
                    set.insert(k.0, Vec::new());
                }
                ok(&())
            }
            POPITEM => match set.pop_last() {
                Some((k, _)) => Ok(k),
                None => Err(Fault::new(K::KeyError, "pop from an empty managed set")),
            },
            _ => Err(no_such_method("set", m)),
        }
    }
}

/// A list, or an array (a list whose length is fixed).
pub(crate) struct SeqObject {
    name: &'static str,
    fixed: bool,
    items: Mutex<Vec<Vec<u8>>>,
}

impl SeqObject {
    pub(crate) fn new(name: &'static str, fixed: bool, init: Vec<Blob>) -> SeqObject {
        SeqObject { name, fixed, items: Mutex::new(init.into_iter().map(|b| b.0).collect()) }
    }
}

/// Python's index: negative counts from the end; `None` when out of range.
fn position(i: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let p = if i < 0 { i + len } else { i };
    (0..len).contains(&p).then_some(p as usize)
}

/// Python's slice bound: clamped into `0..=len`.
fn bound(i: Option<i64>, len: usize, default: usize) -> usize {
    match i {
        None => default,
        Some(i) if i < 0 => (i + len as i64).max(0) as usize,
        Some(i) => (i as usize).min(len),
    }
}

impl Object for SeqObject {
    fn type_name(&self) -> &str {
        self.name
    }

    fn call(&self, m: u16, a: &[u8], _cx: &Cx<'_>) -> Result<Vec<u8>, Fault> {
        use method::seq::*;
        let mut v = lock(&self.items);
        let out_of_range = |i: i64| {
            Fault::new(
                K::IndexError,
                format!("index {i} is out of range for a managed {} of length {}", self.name, v.len()),
            )
        };
        let resizes = matches!(m, APPEND | EXTEND | INSERT | POP | REMOVE | CLEAR | DEL | REPEAT);
        if self.fixed && resizes {
            return Err(Fault::new(K::ValueError, "a managed array's length is fixed; use a list to grow or shrink"));
        }
        match m {
            LEN => ok(&(v.len() as u64)),
            GET => {
                let i: i64 = args(a)?;
                position(i, v.len()).map(|p| v[p].clone()).ok_or_else(|| out_of_range(i))
            }
            SET => {
                let (i, x): (i64, Blob) = args(a)?;
                let p = position(i, v.len()).ok_or_else(|| out_of_range(i))?;
                v[p] = x.0;
                ok(&())
            }
            APPEND => {
                v.push(args::<Blob>(a)?.0);
                ok(&())
            }
            EXTEND => {
                v.extend(args::<Vec<Blob>>(a)?.into_iter().map(|b| b.0));
                ok(&())
            }
            INSERT => {
                let (i, x): (i64, Blob) = args(a)?;
                let p = bound(Some(i), v.len(), 0);
                v.insert(p, x.0);
                ok(&())
            }
            POP => {
                let i: Option<i64> = args(a)?;
                if v.is_empty() {
                    return Err(Fault::new(K::IndexError, format!("pop from an empty managed {}", self.name)));
                }
                let i = i.unwrap_or(-1);
                let p = position(i, v.len()).ok_or_else(|| out_of_range(i))?;
                Ok(v.remove(p))
            }
            DEL => {
                let i: i64 = args(a)?;
                let p = position(i, v.len()).ok_or_else(|| out_of_range(i))?;
                v.remove(p);
                ok(&())
            }
            REMOVE | INDEX => {
                let x: Blob = args(a)?;
                let p = v.iter().position(|y| *y == x.0).ok_or_else(|| {
                    Fault::new(K::ValueError, format!("the value is not in the managed {}", self.name))
                })?;
                if m == INDEX {
                    return ok(&(p as u64));
                }
                v.remove(p);
                ok(&())
            }
            COUNT => {
                let x: Blob = args(a)?;
                ok(&(v.iter().filter(|y| **y == x.0).count() as u64))
            }
            CONTAINS => {
                let x: Blob = args(a)?;
                ok(&v.contains(&x.0))
            }
            SLICE => {
                let (s, e): (Option<i64>, Option<i64>) = args(a)?;
                let (s, e) = (bound(s, v.len(), 0), bound(e, v.len(), v.len()));
                ok(&blobs(v[s..e.max(s)].iter()))
            }
            CLEAR => {
                v.clear();
                ok(&())
            }
            REVERSE => {
                v.reverse();
                ok(&())
            }
            REPLACE => {
                let new: Vec<Blob> = args(a)?;
                if self.fixed && new.len() != v.len() {
                    return Err(Fault::new(
                        K::ValueError,
                        "a managed array's length is fixed; give as many values as it has",
                    ));
                }
                *v = new.into_iter().map(|b| b.0).collect();
                ok(&())
            }
            REPEAT => {
                let n: u64 = args(a)?;
                let total = (v.len() as u64).saturating_mul(n);
                let bytes = (v.iter().map(|x| x.len() as u64 + 8).sum::<u64>()).saturating_mul(n);
                if total > MAX_ITEMS || bytes > MAX_REPEAT_BYTES {
                    return Err(Fault::new(
                        K::ValueError,
                        format!(
                            "repeating would make {total} items of {bytes} bytes in all; the limits are {MAX_ITEMS} items and {MAX_REPEAT_BYTES} bytes"
                        ),
                    ));
                }
                let once = std::mem::take(&mut *v);
                for _ in 0..n {
                    v.extend(once.iter().cloned());
                }
                ok(&())
            }
            _ => Err(no_such_method(self.name, m)),
        }
    }
}

/// A single value.
pub(crate) struct ValueObject(pub(crate) Mutex<Vec<u8>>);

impl Object for ValueObject {
    fn type_name(&self) -> &str {
        "value"
    }

    fn call(&self, m: u16, a: &[u8], _cx: &Cx<'_>) -> Result<Vec<u8>, Fault> {
        use method::value::*;
        let mut v = lock(&self.0);
        match m {
            GET => Ok(v.clone()),
            SET => {
                *v = args::<Blob>(a)?.0;
                ok(&())
            }
            SWAP => Ok(std::mem::replace(&mut *v, args::<Blob>(a)?.0)),
            _ => Err(no_such_method("value", m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ordered_map_keeps_insertion_order_and_replaces_in_place() {
        let mut m = OrderedMap::default();
        for k in [3u8, 1, 2] {
            assert!(m.insert(vec![k], vec![k]));
        }
        assert!(!m.insert(vec![1], vec![9]));
        assert_eq!(m.iter().map(|(k, v)| (k[0], v[0])).collect::<Vec<_>>(), vec![(3, 3), (1, 9), (2, 2)]);
        assert_eq!(m.remove(&[3]), Some(vec![3]));
        assert_eq!(m.pop_last(), Some((vec![2], vec![2])));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn python_indexes_and_slices() {
        assert_eq!(position(-1, 3), Some(2));
        assert_eq!(position(3, 3), None);
        assert_eq!(position(-4, 3), None);
        assert_eq!(bound(Some(-10), 3, 0), 0);
        assert_eq!(bound(Some(10), 3, 0), 3);
        assert_eq!(bound(None, 3, 3), 3);
    }
}
