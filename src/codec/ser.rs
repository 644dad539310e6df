//! The encoding half of postcard's format, written for speed: postcard's own serializer
//! builds every varint in a stack buffer and hands it to its output a slice at a time,
//! which made encoding most of a pool `map`'s cost (4 to 9 ns per `u64`, against 1 to 3
//! here). The bytes are postcard's exactly (the tests compare them with postcard's for
//! every kind of value serde has), and decoding stays postcard's.
//!
//! The format (postcard 1.x): unsigned integers wider than a byte as LEB128 varints, signed
//! ones zigzagged first; `u8`, `i8` and `bool` as one byte; floats little-endian; `char`,
//! strings and byte strings as a varint length and the bytes; `None` 0, `Some` 1 and the
//! value; enum variants as a varint index; sequences and maps with a varint length first;
//! structs and tuples as their fields, in order.

use serde::Serialize;
use serde::ser;

/// Why an encode failed.
#[derive(Debug)]
pub(super) enum Error {
    /// What postcard would have said: the buffer is full, a sequence of unknown length, a
    /// `Display` that failed in `collect_str`.
    Format(postcard::Error),
    /// The value's own `Serialize` returned this error (kept, where postcard drops the text).
    Custom(String),
}

/// The output has no room left.
pub(super) const FULL: Error = Error::Format(postcard::Error::SerializeBufferFull);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Format(e) => e.fmt(f),
            Error::Custom(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<M: std::fmt::Display>(msg: M) -> Error {
        Error::Custom(msg.to_string())
    }
}

type Result<T = ()> = std::result::Result<T, Error>;

/// Where the encoder writes.
pub(super) trait Out {
    /// One byte.
    fn byte(&mut self, b: u8) -> Result;
    /// Some bytes.
    fn bytes(&mut self, b: &[u8]) -> Result;
    /// `v` as a varint.
    fn varint(&mut self, v: u64) -> Result;
}

/// The varint of `v` into `dst`; returns its length (1 to 10).
#[inline(always)]
pub(crate) fn put_varint(dst: &mut [u8; 10], mut v: u64) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        dst[i] = v as u8 | 0x80;
        v >>= 7;
        i += 1;
    }
    dst[i] = v as u8;
    i + 1
}

/// A `u128` varint (up to 19 bytes), for the rare 128-bit integers.
fn varint_u128(out: &mut impl Out, mut v: u128) -> Result {
    while v >= 0x80 {
        out.byte(v as u8 | 0x80)?;
        v >>= 7;
    }
    out.byte(v as u8)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The encoder over an [`Out`].
pub(super) struct Encoder<'a, O>(pub(super) &'a mut O);

impl<O: Out> Encoder<'_, O> {
    #[inline(always)]
    fn len(&mut self, len: Option<usize>) -> Result {
        self.0.varint(len.ok_or(Error::Format(postcard::Error::SerializeSeqLengthUnknown))? as u64)
    }
}

impl<'a, 'b, O: Out> ser::Serializer for &'b mut Encoder<'a, O> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result {
        self.0.byte(u8::from(v))
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.0.byte(v as u8)
    }
    #[inline(always)]
    fn serialize_i16(self, v: i16) -> Result {
        self.0.varint(zigzag(i64::from(v)))
    }
    #[inline(always)]
    fn serialize_i32(self, v: i32) -> Result {
        self.0.varint(zigzag(i64::from(v)))
    }
    #[inline(always)]
    fn serialize_i64(self, v: i64) -> Result {
        self.0.varint(zigzag(v))
    }
    fn serialize_i128(self, v: i128) -> Result {
        varint_u128(self.0, ((v << 1) ^ (v >> 127)) as u128)
    }
    #[inline(always)]
    fn serialize_u8(self, v: u8) -> Result {
        self.0.byte(v)
    }
    #[inline(always)]
    fn serialize_u16(self, v: u16) -> Result {
        self.0.varint(u64::from(v))
    }
    #[inline(always)]
    fn serialize_u32(self, v: u32) -> Result {
        self.0.varint(u64::from(v))
    }
    #[inline(always)]
    fn serialize_u64(self, v: u64) -> Result {
        self.0.varint(v)
    }
    fn serialize_u128(self, v: u128) -> Result {
        varint_u128(self.0, v)
    }
    fn serialize_f32(self, v: f32) -> Result {
        self.0.bytes(&v.to_le_bytes())
    }
    fn serialize_f64(self, v: f64) -> Result {
        self.0.bytes(&v.to_le_bytes())
    }
    fn serialize_char(self, v: char) -> Result {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result {
        self.serialize_bytes(v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result {
        self.0.varint(v.len() as u64)?;
        self.0.bytes(v)
    }
    fn serialize_none(self) -> Result {
        self.0.byte(0)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        self.0.byte(1)?;
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, index: u32, _: &'static str) -> Result {
        self.0.varint(u64::from(index))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result {
        self.0.varint(u64::from(index))?;
        value.serialize(self)
    }
    #[inline(always)]
    fn serialize_seq(self, len: Option<usize>) -> Result<Self> {
        self.len(len)?;
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self> {
        Ok(self)
    }
    fn serialize_tuple_variant(self, _: &'static str, index: u32, _: &'static str, _: usize) -> Result<Self> {
        self.0.varint(u64::from(index))?;
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self> {
        self.len(len)?;
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self> {
        Ok(self)
    }
    fn serialize_struct_variant(self, _: &'static str, index: u32, _: &'static str, _: usize) -> Result<Self> {
        self.0.varint(u64::from(index))?;
        Ok(self)
    }
    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result {
        use std::fmt::Write as _;
        let mut s = String::new();
        write!(s, "{value}").map_err(|_| Error::Format(postcard::Error::CollectStrError))?;
        self.serialize_str(&s)
    }
}

macro_rules! compound {
    ($($tr:ident :: $f:ident),*) => { $(
        impl<O: Out> ser::$tr for &mut Encoder<'_, O> {
            type Ok = ();
            type Error = Error;
            #[inline(always)]
            fn $f<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result {
                Ok(())
            }
        }
    )* };
}
compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

macro_rules! fields {
    ($($tr:ident),*) => { $(
        impl<O: Out> ser::$tr for &mut Encoder<'_, O> {
            type Ok = ();
            type Error = Error;
            #[inline(always)]
            fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Result {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result {
                Ok(())
            }
        }
    )* };
}
fields!(SerializeStruct, SerializeStructVariant);

impl<O: Out> ser::SerializeMap for &mut Encoder<'_, O> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result {
        Ok(())
    }
}

/// The fuzzer's check of the encoder: `data` decoded (by postcard) as a tree of every serde
/// kind, then encoded by us and by postcard, which must give the same bytes. `false` when
/// `data` is not such a tree (nothing to compare).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz(data: &[u8]) -> bool {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    /// A byte string (serde's bytes, not a sequence of `u8`).
    #[derive(Debug)]
    struct ByteBuf(Vec<u8>);

    impl Serialize for ByteBuf {
        fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }

    impl<'de> Deserialize<'de> for ByteBuf {
        fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<ByteBuf, D::Error> {
            struct V;
            impl serde::de::Visitor<'_> for V {
                type Value = ByteBuf;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> std::result::Result<ByteBuf, E> {
                    Ok(ByteBuf(v.to_vec()))
                }
            }
            d.deserialize_bytes(V)
        }
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Unit;

    #[derive(Debug, Serialize, Deserialize)]
    struct Wrapped(i32);

    #[derive(Debug, Serialize, Deserialize)]
    struct Pair(u16, Box<Sample>);

    #[derive(Debug, Serialize, Deserialize)]
    enum Sample {
        Nothing,
        Bool(bool),
        U8(u8),
        I8(i8),
        U16(u16),
        I16(i16),
        U32(u32),
        I32(i32),
        U64(u64),
        I64(i64),
        U128(u128),
        I128(i128),
        F32(f32),
        F64(f64),
        Char(char),
        Str(String),
        Bytes(ByteBuf),
        Unit(Unit),
        Wrapped(Wrapped),
        Pair(Pair),
        Opt(Option<Box<Sample>>),
        Seq(Vec<Sample>),
        Tuple((u64, i16, Box<Sample>)),
        Map(BTreeMap<u32, Sample>),
        Record { id: u64, name: String, next: Option<Box<Sample>> },
    }

    // A few hundred bytes nest a few hundred levels deep at most: no stack overflow.
    let data = &data[..data.len().min(512)];
    let Ok(values) = postcard::from_bytes::<Vec<Sample>>(data) else { return false };
    assert_same_as_postcard(&values);
    true
}

/// Asserts that our bytes for `v` are postcard's, through `encode` and through
/// `encode_to_slice` (into a buffer of exactly their length, and a longer one), and that a
/// buffer one byte short is refused; returns the bytes.
#[cfg(any(test, feature = "fuzzing"))]
fn assert_same_as_postcard<T: Serialize + ?Sized + std::fmt::Debug>(v: &T) -> Vec<u8> {
    use crate::codec::{encode, encode_to_slice};
    let theirs = postcard::to_stdvec(v).expect("postcard encodes it");
    assert_eq!(encode(v).expect("we encode it"), theirs, "{v:?}");
    for extra in [0, 3] {
        let mut buf = vec![0xAAu8; theirs.len() + extra];
        assert_eq!(encode_to_slice(v, &mut buf).unwrap(), Some(theirs.len()), "{v:?}");
        assert_eq!(&buf[..theirs.len()], &theirs[..], "{v:?}");
    }
    if let Some(short) = theirs.len().checked_sub(1) {
        assert_eq!(encode_to_slice(v, &mut vec![0u8; short]).unwrap(), None, "{v:?} into {short} bytes");
    }
    theirs
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Serialize, Serializer};

    use crate::codec::{encode, encode_to_slice};

    /// [`assert_same_as_postcard`](super::assert_same_as_postcard), and every buffer too
    /// short for the bytes is refused.
    fn same<T: Serialize + ?Sized + std::fmt::Debug>(v: &T) {
        let theirs = super::assert_same_as_postcard(v);
        for short in 0..theirs.len() {
            assert_eq!(encode_to_slice(v, &mut vec![0u8; short]).unwrap(), None, "{v:?} into {short} bytes");
        }
    }

    const EDGES: [u64; 20] = [
        0,
        1,
        127,
        128,
        255,
        256,
        16_383,
        16_384,
        (1 << 21) - 1,
        1 << 21,
        u32::MAX as u64,
        1 << 35,
        (1 << 42) - 1,
        (1 << 49) - 1,
        1 << 49,
        (1 << 56) - 1,
        1 << 56,
        1 << 57,
        (1 << 63) - 1,
        u64::MAX,
    ];

    #[test]
    fn integers_at_every_varint_length() {
        for &e in &EDGES {
            same(&e);
            same(&(e as u32));
            same(&(e as u16));
            same(&(e as u8));
            same(&(e as usize));
            same(&(e as i64));
            same(&(-(e as i64)));
            same(&(e as i32));
            same(&(e as i32).wrapping_neg());
            same(&(e as i16));
            same(&(e as i8));
            same(&(u128::from(e) << 64 | u128::from(e)));
            same(&((i128::from(e) << 64) | i128::from(e)));
            same(&-(i128::from(e) << 60));
        }
        for v in [i64::MIN, i64::MAX] {
            same(&v);
        }
        same(&[i32::MIN, i32::MAX]);
        same(&[i16::MIN, i16::MAX]);
        same(&[i128::MIN, i128::MAX]);
        same(&u128::MAX);
    }

    #[test]
    fn floats_bools_chars_and_strings() {
        same(&(true, false));
        same(&[0.0f32, -1.5, f32::MAX, f32::INFINITY, f32::MIN_POSITIVE]);
        same(&[0.0f64, -1.5, f64::MAX, f64::NEG_INFINITY, 1e-300]);
        same(&['a', 'é', '€', '😀']);
        for s in ["", "x", "fifteen bytes..", "sixteen bytes...", "seventeen bytes..", "grüße, 世界"] {
            same(s);
            same(&s.to_string());
        }
        same(&"y".repeat(300));
        same(&vec![7u8; 200]);
    }

    #[derive(Debug, Serialize)]
    struct Unit;

    #[derive(Debug, Serialize)]
    struct Newtype(u64);

    #[derive(Debug, Serialize)]
    struct Pair(i32, String);

    #[derive(Debug, Serialize)]
    struct Record {
        id: u64,
        name: String,
        tags: Vec<String>,
        score: Option<f64>,
        nested: Option<Box<Record>>,
    }

    #[derive(Debug, Serialize)]
    enum Shape {
        Empty,
        Circle(f64),
        Rect(u32, u32),
        Poly { points: Vec<(i64, i64)>, closed: bool },
    }

    /// A byte string (serde's `serialize_bytes`, not a sequence of `u8`).
    #[derive(Debug)]
    struct Bytes(Vec<u8>);

    impl Serialize for Bytes {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }

    /// A value written through `collect_str`.
    #[derive(Debug)]
    struct Shown(u32);

    impl Serialize for Shown {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(&format_args!("#{}", self.0))
        }
    }

    #[test]
    fn every_compound_kind() {
        same(&());
        same(&Unit);
        same(&Newtype(300));
        same(&Pair(-5, "five".into()));
        same(&(1u8, 2u16, 3u32, 4u64, ("in", 'x'), [9u64; 3]));
        let inner = Record { id: 1, name: "a".into(), tags: vec![], score: None, nested: None };
        same(&Record {
            id: 1 << 40,
            name: "outer".into(),
            tags: vec!["x".into(), "yy".into()],
            score: Some(0.5),
            nested: Some(Box::new(inner)),
        });
        same(&[
            Shape::Empty,
            Shape::Circle(2.0),
            Shape::Rect(3, 400),
            Shape::Poly { points: vec![(1, -1), (i64::MIN, i64::MAX)], closed: true },
        ]);
        same(&BTreeMap::from([(1u32, "one"), (300, "three hundred")]));
        same(&BTreeMap::<String, Vec<u8>>::new());
        same(&(Some(Some(3u8)), None::<u64>, Some(())));
        same(&Bytes(vec![]));
        same(&Bytes((0..=255).collect()));
        same(&Shown(42));
        same(&vec![vec![1u64, 2], vec![], vec![u64::MAX]]);
        same(&Ok::<u64, String>(5));
        same(&Err::<u64, String>("no".into()));
    }

    /// A sequence that does not know its length up front: postcard cannot carry it.
    #[derive(Debug)]
    struct Unsized;

    impl Serialize for Unsized {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            let mut seq = s.serialize_seq(None)?;
            seq.serialize_element(&1u8)?;
            seq.end()
        }
    }

    #[test]
    fn the_fuzz_seeds_are_values_the_check_compares() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/codec_encoder");
        for name in ["scalars", "nested", "map_bytes_tuple"] {
            let data = std::fs::read(dir.join(name)).unwrap();
            assert!(super::fuzz(&data), "seed {name} does not decode");
        }
        assert!(!super::fuzz(&[1, 99]), "an unknown variant is not compared");
    }

    #[test]
    fn an_unknown_length_is_refused_as_postcard_refuses_it() {
        assert!(postcard::to_stdvec(&Unsized).is_err());
        let e = encode(&Unsized).unwrap_err().to_string();
        assert!(e.contains("Unsized"), "{e}");
        let mut out = vec![1, 2, 3];
        assert!(crate::codec::encode_into(&Unsized, &mut out).is_err());
        assert_eq!(out, [1, 2, 3], "a failed encode leaves the buffer as it was");
    }
}
