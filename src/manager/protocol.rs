//! The manager's wire records: what a client asks and what the server answers, one record
//! per framed message on an authenticated connection, encoded with the crate's codec.
//!
//! Every connection begins with [`Request::Hello`] (magic and version); the server answers
//! [`Reply::Welcome`] with its own version and a random instance number (a new one on every
//! start, so that a client sees a restarted server) or a fault, and closes the connection
//! if the versions differ. After that each request gets exactly one reply, in order.
//!
//! Arguments and results travel as [`Blob`]s: the server keeps the encoded bytes of keys
//! and values and never needs their types; only the proxies, which know `K` and `V`, decode
//! them. A method is named by a number ([`method`]); the server looks it up in the table of
//! the object's type and runs nothing else.

use serde::{Deserialize, Serialize};

use super::error::ManagerErrorKind;

/// "MPMG": the first field of a hello, so that a peer speaking something else is told so.
pub(crate) const MAGIC: u32 = 0x4d50_4d47;

/// The protocol version; a server refuses a client of another version.
pub(crate) const VERSION: u16 = 1;

/// The most operations one batch may carry.
pub(crate) const MAX_BATCH: usize = 1 << 20;

/// Encoded bytes carried as one byte string (one copy, not a sequence of small integers).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Blob(pub(crate) Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Blob, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Blob, E> {
                Ok(Blob(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// A byte string borrowed from a buffer: encodes as a [`Blob`] does, decodes without a copy
/// (with [`codec::decode_borrowed`](crate::codec::decode_borrowed)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlobRef<'a>(pub(crate) &'a [u8]);

impl Serialize for BlobRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de> Deserialize<'de> for BlobRef<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<BlobRef<'de>, D::Error> {
        <&'de [u8]>::deserialize(d).map(BlobRef)
    }
}

/// What kind of object to create: a built-in type by number, or a registered custom type
/// by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TypeKey {
    /// One of [`builtin`].
    Builtin(u16),
    /// A type registered with [`ManagerBuilder::register`](super::ManagerBuilder::register).
    Custom(String),
}

/// One method call on one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Call {
    /// The object, as numbered by the server when it created it.
    pub(crate) object: u64,
    /// The method, one of the numbers in [`method`] (or the custom type's single `CALL`).
    pub(crate) method: u16,
    /// The method's arguments, encoded.
    pub(crate) args: Blob,
}

/// A client's request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Request {
    /// The first request on a connection.
    Hello {
        /// [`MAGIC`].
        magic: u32,
        /// The client's [`VERSION`].
        version: u16,
    },
    /// Create an object; its constructor arguments, encoded.
    Create {
        /// Which type.
        kind: TypeKey,
        /// The constructor's arguments.
        init: Blob,
    },
    /// Call a method.
    Call(Call),
    /// Several calls in one round trip, run in order; each has its own result.
    Batch(Vec<Call>),
    /// Give an object a name other clients can look up.
    Publish {
        /// The name.
        name: String,
        /// The object.
        object: u64,
    },
    /// Look a published name up.
    Lookup {
        /// The name.
        name: String,
    },
    /// How many objects the server holds.
    Count,
    /// Forget an object (its proxies then fail with `NoSuchObject`).
    Release {
        /// The object.
        object: u64,
    },
}

/// A server-side failure, with what the client needs to report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fault {
    /// What went wrong.
    pub(crate) kind: ManagerErrorKind,
    /// What the server said about it.
    pub(crate) message: String,
}

impl Fault {
    pub(crate) fn new(kind: ManagerErrorKind, message: impl Into<String>) -> Fault {
        Fault { kind, message: message.into() }
    }
}

/// The server's reply to one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Reply {
    /// The answer to a hello.
    Welcome {
        /// The server's [`VERSION`].
        version: u16,
        /// This run of the server (random; a restarted server has another).
        instance: u64,
        /// The largest request the server reads.
        max_message: u64,
    },
    /// A call's result, encoded.
    Value(Blob),
    /// A created or looked-up object, with its type's name.
    Object {
        /// The object's number.
        object: u64,
        /// Its type's name (`"dict"`, or a custom type's name).
        type_name: String,
    },
    /// The results of a batch, in order.
    Batch(Vec<Result<Blob, Fault>>),
    /// The request failed.
    Fault(Fault),
}

/// How long a blocking method may wait in the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Wait {
    /// As long as it takes.
    Forever,
    /// Not at all.
    Never,
    /// At most this many microseconds.
    Micros(u64),
}

impl Wait {
    pub(crate) fn timeout(d: std::time::Duration) -> Wait {
        match u64::try_from(d.as_micros()) {
            Ok(us) => Wait::Micros(us),
            Err(_) => Wait::Forever,
        }
    }
}

/// The built-in types' numbers.
pub(crate) mod builtin {
    pub(crate) const DICT: u16 = 1;
    pub(crate) const LIST: u16 = 2;
    pub(crate) const NAMESPACE: u16 = 3;
    pub(crate) const VALUE: u16 = 4;
    pub(crate) const SET: u16 = 5;
    pub(crate) const ARRAY: u16 = 6;
    pub(crate) const QUEUE: u16 = 10;
    pub(crate) const LOCK: u16 = 11;
    pub(crate) const RLOCK: u16 = 12;
    pub(crate) const SEMAPHORE: u16 = 13;
    pub(crate) const BOUNDED_SEMAPHORE: u16 = 14;
    pub(crate) const EVENT: u16 = 15;
    pub(crate) const CONDITION: u16 = 16;
    pub(crate) const BARRIER: u16 = 17;
    pub(crate) const SEGMENTS: u16 = 20;
}

/// Method numbers, per type. A number means something only for its type; the server answers
/// `NoSuchMethod` for a number its object's type does not list.
pub(crate) mod method {
    /// Methods of a dict (and, where they apply, a set and a namespace: keys and values
    /// are blobs).
    pub(crate) mod map {
        pub(crate) const LEN: u16 = 1;
        pub(crate) const GET: u16 = 2;
        pub(crate) const GET_OPT: u16 = 3;
        pub(crate) const SET: u16 = 4;
        pub(crate) const DEL: u16 = 5;
        pub(crate) const POP: u16 = 6;
        pub(crate) const CONTAINS: u16 = 7;
        pub(crate) const KEYS: u16 = 8;
        pub(crate) const VALUES: u16 = 9;
        pub(crate) const ITEMS: u16 = 10;
        pub(crate) const CLEAR: u16 = 11;
        pub(crate) const UPDATE: u16 = 12;
        pub(crate) const GET_MANY: u16 = 13;
        pub(crate) const SETDEFAULT: u16 = 14;
        pub(crate) const POPITEM: u16 = 15;
        pub(crate) const DISCARD: u16 = 16;
        pub(crate) const ADD: u16 = 17;
    }
    /// Methods of a list and an array (an array refuses those that change its length).
    pub(crate) mod seq {
        pub(crate) const LEN: u16 = 1;
        pub(crate) const GET: u16 = 2;
        pub(crate) const SET: u16 = 3;
        pub(crate) const APPEND: u16 = 4;
        pub(crate) const EXTEND: u16 = 5;
        pub(crate) const INSERT: u16 = 6;
        pub(crate) const POP: u16 = 7;
        pub(crate) const REMOVE: u16 = 8;
        pub(crate) const INDEX: u16 = 9;
        pub(crate) const COUNT: u16 = 10;
        pub(crate) const SLICE: u16 = 11;
        pub(crate) const CLEAR: u16 = 12;
        pub(crate) const REVERSE: u16 = 13;
        pub(crate) const DEL: u16 = 14;
        pub(crate) const REPLACE: u16 = 15;
        pub(crate) const REPEAT: u16 = 16;
        pub(crate) const CONTAINS: u16 = 17;
    }
    /// Methods of a value.
    pub(crate) mod value {
        pub(crate) const GET: u16 = 1;
        pub(crate) const SET: u16 = 2;
        pub(crate) const SWAP: u16 = 3;
    }
    /// Methods of the locks, semaphores and condition (`ACQUIRE` takes `(owner, Wait)`).
    pub(crate) mod lock {
        pub(crate) const ACQUIRE: u16 = 1;
        pub(crate) const RELEASE: u16 = 2;
        pub(crate) const LOCKED: u16 = 3;
        pub(crate) const VALUE: u16 = 4;
        pub(crate) const WAIT: u16 = 5;
        pub(crate) const NOTIFY: u16 = 6;
    }
    /// Methods of an event.
    pub(crate) mod event {
        pub(crate) const SET: u16 = 1;
        pub(crate) const CLEAR: u16 = 2;
        pub(crate) const IS_SET: u16 = 3;
        pub(crate) const WAIT: u16 = 4;
    }
    /// Methods of a barrier.
    pub(crate) mod barrier {
        pub(crate) const WAIT: u16 = 1;
        pub(crate) const RESET: u16 = 2;
        pub(crate) const ABORT: u16 = 3;
        pub(crate) const PARTIES: u16 = 4;
        pub(crate) const N_WAITING: u16 = 5;
        pub(crate) const BROKEN: u16 = 6;
    }
    /// Methods of a queue.
    pub(crate) mod queue {
        pub(crate) const PUT: u16 = 1;
        pub(crate) const GET: u16 = 2;
        pub(crate) const QSIZE: u16 = 3;
        pub(crate) const TASK_DONE: u16 = 4;
        pub(crate) const JOIN: u16 = 5;
        pub(crate) const MAXSIZE: u16 = 6;
    }
    /// Methods of a shared-memory manager's segment registry.
    pub(crate) mod segments {
        pub(crate) const CREATE_SEGMENT: u16 = 1;
        pub(crate) const CREATE_LIST: u16 = 2;
    }
    /// The one method of a custom type: its argument is the type's request.
    pub(crate) const CALL: u16 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let reqs = [
            Request::Hello { magic: MAGIC, version: VERSION },
            Request::Call(Call { object: 7, method: 3, args: Blob(vec![1, 2, 3]) }),
            Request::Batch(vec![Call { object: 1, method: 1, args: Blob::default() }]),
            Request::Create { kind: TypeKey::Custom("Counter".into()), init: Blob(vec![9]) },
        ];
        for r in reqs {
            let b = crate::codec::encode(&r).unwrap();
            assert_eq!(crate::codec::decode::<Request>(&b).unwrap(), r);
        }
        let rep = Reply::Batch(vec![Ok(Blob(vec![4])), Err(Fault::new(ManagerErrorKind::KeyError, "k"))]);
        let b = crate::codec::encode(&rep).unwrap();
        assert_eq!(crate::codec::decode::<Reply>(&b).unwrap(), rep);
    }

    #[test]
    fn a_blob_is_one_byte_string() {
        let b = crate::codec::encode(&Blob(vec![5; 3])).unwrap();
        assert_eq!(b, vec![3, 5, 5, 5]);
    }
}
