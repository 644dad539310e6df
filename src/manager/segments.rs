//! The server side of a [`SharedMemoryManager`](super::SharedMemoryManager): the segments
//! and lists it created and owns.

use std::sync::Mutex;

use super::error::ManagerErrorKind as K;
use super::object::{Cx, Object, args, lock, ok};
use super::protocol::{Fault, method};
use crate::{Item, ShareableList, SharedMemory};

/// The server side: the segments it created and owns (dropping the owner's handle unlinks).
#[derive(Default)]
pub(crate) struct SegmentsObject {
    segments: Mutex<Vec<SharedMemory>>,
    lists: Mutex<Vec<ShareableList>>,
}

impl Drop for SegmentsObject {
    fn drop(&mut self) {
        // At shutdown, before the server answers: the segments are gone when it returns.
        // (Were the server killed, its shared-memory tracker would unlink them.)
        for s in lock(&self.segments).iter() {
            let _ = s.unlink();
        }
        for l in lock(&self.lists).iter() {
            let _ = l.shm().unlink();
        }
    }
}

fn os_fault(what: &str, e: std::io::Error) -> Fault {
    Fault::new(K::ValueError, format!("the manager could not create {what}: {e}"))
}

impl Object for SegmentsObject {
    fn type_name(&self) -> &str {
        "shared_memory_segments"
    }

    fn call(&self, m: u16, a: &[u8], _cx: &Cx<'_>) -> Result<Vec<u8>, Fault> {
        use method::segments::*;
        match m {
            CREATE_SEGMENT => {
                let size: u64 = args(a)?;
                let size = usize::try_from(size).map_err(|_| Fault::new(K::ValueError, "a segment too large"))?;
                let shm = SharedMemory::create(None, size).map_err(|e| os_fault("a segment", e))?;
                let name = shm.name().unwrap_or_default().to_string();
                lock(&self.segments).push(shm);
                ok(&name)
            }
            CREATE_LIST => {
                let items: Vec<Item> = args(a)?;
                let list = ShareableList::create(None, items).map_err(|e| os_fault("a shareable list", e))?;
                let name = list.shm().name().unwrap_or_default().to_string();
                lock(&self.lists).push(list);
                ok(&name)
            }
            _ => Err(Fault::new(K::NoSuchMethod, format!("shared-memory segments have no method number {m}"))),
        }
    }
}
