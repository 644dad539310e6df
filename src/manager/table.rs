//! The table of a server's objects: numbers them, creates built-in and registered types,
//! keeps published names.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::error::ManagerErrorKind as K;
use super::object::{Factory, Object, args, lock};
use super::protocol::{Blob, Fault, TypeKey, builtin};
use super::store::{MapObject, SeqObject, SetObject, ValueObject};

/// Every object of one server, by number, with published names and registered types.
pub(crate) struct Table {
    objects: RwLock<HashMap<u64, Arc<dyn Object>>>,
    next: AtomicU64,
    names: Mutex<HashMap<String, u64>>,
    custom: HashMap<String, Factory>,
}

impl Table {
    pub(crate) fn new(custom: HashMap<String, Factory>) -> Table {
        Table { objects: RwLock::default(), next: AtomicU64::new(1), names: Mutex::default(), custom }
    }

    /// Creates an object; returns its number and type name.
    pub(crate) fn create(&self, kind: &TypeKey, init: Blob) -> Result<(u64, String), Fault> {
        let obj: Arc<dyn Object> = match kind {
            TypeKey::Builtin(t) => Arc::from(builtin_object(*t, &init.0)?),
            TypeKey::Custom(name) => match self.custom.get(name) {
                Some(f) => Arc::from(f(init)?),
                None => {
                    return Err(Fault::new(
                        K::NoSuchType,
                        format!(
                            "no type {name:?} is registered with this manager; register it on the builder that starts the server"
                        ),
                    ));
                }
            },
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let name = obj.type_name().to_string();
        self.objects.write().unwrap_or_else(|e| e.into_inner()).insert(id, obj);
        Ok((id, name))
    }

    pub(crate) fn get(&self, id: u64) -> Result<Arc<dyn Object>, Fault> {
        self.objects.read().unwrap_or_else(|e| e.into_inner()).get(&id).cloned().ok_or_else(|| {
            Fault::new(
                K::NoSuchObject,
                format!("the manager has no object number {id} (released, or another server's)"),
            )
        })
    }

    pub(crate) fn release(&self, id: u64) -> bool {
        self.objects.write().unwrap_or_else(|e| e.into_inner()).remove(&id).is_some()
    }

    /// Drops every object (at shutdown: owned segments are unlinked as they go).
    pub(crate) fn clear(&self) {
        let all = std::mem::take(&mut *self.objects.write().unwrap_or_else(|e| e.into_inner()));
        drop(all);
    }

    pub(crate) fn count(&self) -> usize {
        self.objects.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub(crate) fn publish(&self, name: String, id: u64) -> Result<(), Fault> {
        self.get(id)?;
        lock(&self.names).insert(name, id);
        Ok(())
    }

    pub(crate) fn lookup(&self, name: &str) -> Result<(u64, String), Fault> {
        let id = lock(&self.names)
            .get(name)
            .copied()
            .ok_or_else(|| Fault::new(K::KeyError, format!("nothing is published as {name:?} on this manager")))?;
        Ok((id, self.get(id)?.type_name().to_string()))
    }

    /// Connection `conn` closed: every object gives back what it held.
    pub(crate) fn connection_closed(&self, conn: u64) {
        let all: Vec<Arc<dyn Object>> =
            self.objects.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        for o in all {
            o.connection_closed(conn);
        }
    }
}

fn builtin_object(t: u16, init: &[u8]) -> Result<Box<dyn Object>, Fault> {
    use super::sync_objects as s;
    Ok(match t {
        builtin::DICT => Box::new(MapObject::new("dict", K::KeyError, args(init)?)),
        builtin::NAMESPACE => Box::new(MapObject::new("namespace", K::AttributeError, args(init)?)),
        builtin::SET => {
            let items: Vec<Blob> = args(init)?;
            Box::new(SetObject(Mutex::new(items.into_iter().map(|b| (b.0, Vec::new())).collect())))
        }
        builtin::LIST => Box::new(SeqObject::new("list", false, args(init)?)),
        builtin::ARRAY => Box::new(SeqObject::new("array", true, args(init)?)),
        builtin::VALUE => Box::new(ValueObject(Mutex::new(args::<Blob>(init)?.0))),
        builtin::QUEUE => {
            let (maxsize, joinable): (u64, bool) = args(init)?;
            Box::new(s::QueueObject::new(maxsize, joinable))
        }
        builtin::LOCK => Box::new(s::LockObject::new(false)),
        builtin::RLOCK => Box::new(s::LockObject::new(true)),
        builtin::SEMAPHORE => Box::new(s::SemaphoreObject::new(args(init)?, None)),
        builtin::BOUNDED_SEMAPHORE => {
            let v: u64 = args(init)?;
            Box::new(s::SemaphoreObject::new(v, Some(v)))
        }
        builtin::EVENT => Box::new(s::EventObject::default()),
        builtin::CONDITION => Box::new(s::ConditionObject::default()),
        builtin::BARRIER => {
            let parties: u64 = args(init)?;
            if parties == 0 {
                return Err(Fault::new(K::ValueError, "a barrier needs at least one party"));
            }
            Box::new(s::BarrierObject::new(parties))
        }
        builtin::SEGMENTS => Box::new(super::segments::SegmentsObject::default()),
        _ => return Err(Fault::new(K::NoSuchType, format!("no built-in type number {t}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::object::Cx;

    fn cx_call(t: &Table, object: u64, method: u16, args: &[u8]) -> Result<Vec<u8>, Fault> {
        let here = || false;
        t.get(object)?.call(method, args, &Cx { conn: 1, abandoned: &here })
    }

    /// Only registered methods of registered types run: anything else is a typed fault.
    #[test]
    fn unknown_objects_methods_and_types_are_refused() {
        let t = Table::new(HashMap::new());
        let init = crate::codec::encode(&Vec::<(Blob, Blob)>::new()).unwrap();
        let (d, name) = t.create(&TypeKey::Builtin(builtin::DICT), Blob(init)).unwrap();
        assert_eq!(name, "dict");
        assert_eq!(cx_call(&t, d, 999, &[]).unwrap_err().kind, K::NoSuchMethod);
        assert_eq!(cx_call(&t, d + 100, 1, &[]).unwrap_err().kind, K::NoSuchObject);
        assert_eq!(cx_call(&t, d, crate::manager::protocol::method::map::GET, &[0xff]).unwrap_err().kind, K::Protocol);
        let e = t.create(&TypeKey::Custom("Anything".into()), Blob(Vec::new())).err().unwrap();
        assert_eq!(e.kind, K::NoSuchType);
        let e = t.create(&TypeKey::Builtin(999), Blob(Vec::new())).err().unwrap();
        assert_eq!(e.kind, K::NoSuchType);
        assert!(t.release(d));
        assert_eq!(t.count(), 0);
    }
}
