//! The internal codec: how the crate turns values into bytes for another process of the same
//! program (process arguments, typed `Connection::send`, queue items, the bootstrap and
//! report messages), and back.
//!
//! One seam, [`Codec`], with one implementation today, [`Postcard`]; everything else calls
//! [`encode`], [`encode_into`] and [`decode`], which use the crate's codec ([`Wire`]). CPython's
//! connection framing and pickles are not this layer (a Python peer uses `send_bytes`).
//!
//! # What postcard can and cannot carry
//!
//! Postcard is a compact, non-self-describing format: the receiver must know the type, and
//! types whose `Deserialize` asks the format what comes next cannot be decoded. That rules out
//! `#[serde(untagged)]` and internally tagged (`#[serde(tag = "...")]`) enums,
//! `#[serde(flatten)]`, and types that call `deserialize_any` (`serde_json::Value`, say).
//! Everything derived plainly (structs, enums, tuples, `Vec`, `HashMap`, `String`, `Option`,
//! ...) works.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::CodecError;

/// A way to turn values into bytes and back.
pub(crate) trait Codec {
    /// Appends the encoding of `value` to `out`.
    fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError>;
    /// Writes the encoding of `value` at the start of `buf`; returns its length, or `None`
    /// when it does not fit (`buf` then holds a partial encoding).
    fn encode_to_slice<T: Serialize + ?Sized>(value: &T, buf: &mut [u8]) -> Result<Option<usize>, CodecError>;
    /// Decodes a whole `T` from `bytes`.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
        Self::decode_borrowed(bytes)
    }
    /// Decodes a whole `T` that may borrow from `bytes` (byte strings as slices of them).
    fn decode_borrowed<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CodecError>;
}

/// [postcard](https://docs.rs/postcard): varint integers, length-prefixed sequences.
#[derive(Debug)]
pub(crate) enum Postcard {}

/// A postcard flavor that appends to a `Vec` the caller owns (and may reuse).
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }
    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        // Varints and small fields come here a few bytes at a time: copied inline, a call
        // to `memcpy` each would cost more than the copy (measured: a sixth of a pool map).
        if data.len() <= 16 {
            self.0.reserve(data.len());
            for &b in data {
                self.0.push(b);
            }
        } else {
            self.0.extend_from_slice(data);
        }
        Ok(())
    }
    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// A postcard flavor that fills a slice the caller owns.
struct Fill<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl postcard::ser_flavors::Flavor for Fill<'_> {
    type Output = usize;
    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        let slot = self.buf.get_mut(self.at).ok_or(postcard::Error::SerializeBufferFull)?;
        *slot = data;
        self.at += 1;
        Ok(())
    }
    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        let end = self.at + data.len();
        let dst = self.buf.get_mut(self.at..end).ok_or(postcard::Error::SerializeBufferFull)?;
        if data.len() <= 16 {
            for (d, &b) in dst.iter_mut().zip(data) {
                *d = b;
            }
        } else {
            dst.copy_from_slice(data);
        }
        self.at = end;
        Ok(())
    }
    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.at)
    }
}

impl Codec for Postcard {
    #[inline]
    fn encode_to_slice<T: Serialize + ?Sized>(value: &T, buf: &mut [u8]) -> Result<Option<usize>, CodecError> {
        // The serializer by hand rather than through `serialize_with_flavor`, which does not
        // inline: a pool worker encodes every item's result this way, one at a time.
        let mut ser = postcard::Serializer { output: Fill { buf, at: 0 } };
        match value.serialize(&mut ser) {
            Ok(()) => Ok(Some(ser.output.at)),
            Err(postcard::Error::SerializeBufferFull) => Ok(None),
            Err(e) => Err(encode_error(value, &e)),
        }
    }

    fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        postcard::serialize_with_flavor(value, Append(out)).map_err(|e| {
            out.truncate(start);
            encode_error(value, &e)
        })
    }

    fn decode_borrowed<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CodecError> {
        let (value, rest) =
            postcard::take_from_bytes(bytes).map_err(|e| CodecError::from_codec(true, explain::<T>(&e)))?;
        if !rest.is_empty() {
            // A value of another type can decode from a prefix of the bytes (a `u8` from a
            // string's length): bytes left over mean the sender sent something else.
            return Err(CodecError::new(
                true,
                format!(
                    "`{}`: {} bytes are left after the value: the sender and the receiver disagree on the type",
                    std::any::type_name::<T>(),
                    rest.len()
                ),
            ));
        }
        Ok(value)
    }
}

/// The error for a failed encode of `value`.
#[cold]
fn encode_error<T: Serialize + ?Sized>(value: &T, e: &postcard::Error) -> CodecError {
    // Postcard keeps no text of a Serialize impl's own error: walk the value once more, with
    // a serializer that does, to give the caller the impl's message.
    if matches!(e, postcard::Error::SerdeSerCustom)
        && let Err(Custom(msg)) = value.serialize(MessageOnly)
    {
        crate::error::forget_codec_detail();
        return CodecError::new(false, format!("`{}`: {msg}", std::any::type_name::<T>()));
    }
    CodecError::from_codec(false, explain::<T>(e))
}

/// Postcard's error for a `T`, with what it means for the user and what to do.
fn explain<T: ?Sized>(e: &postcard::Error) -> String {
    use postcard::Error as E;
    let ty = std::any::type_name::<T>();
    let why = match e {
        E::WontImplement => {
            "its Deserialize asks the data what comes next (`deserialize_any`), which postcard, a compact \
             format that does not describe itself, cannot answer: `#[serde(untagged)]` and internally tagged \
             (`#[serde(tag = \"...\")]`) enums, `#[serde(flatten)]` fields and values such as \
             `serde_json::Value` do this; use serde's default (externally tagged) enums and plain fields, or \
             send such data as a string or bytes (JSON, say)"
        }
        E::SerializeSeqLengthUnknown => {
            "postcard needs the length of every sequence and map before its items: `#[serde(flatten)]` \
             fields and Serialize impls that call `serialize_seq(None)` or `serialize_map(None)` cannot be \
             encoded; drop the flatten or give the length"
        }
        E::SerdeSerCustom => "the value's own Serialize impl returned an error",
        E::SerdeDeCustom => "the type's own Deserialize impl refused the bytes",
        E::DeserializeUnexpectedEnd => {
            "the bytes end before a whole value: the sender and the receiver disagree on the type, or the \
             message was cut"
        }
        E::DeserializeBadVarint
        | E::DeserializeBadBool
        | E::DeserializeBadChar
        | E::DeserializeBadUtf8
        | E::DeserializeBadOption
        | E::DeserializeBadEnum
        | E::DeserializeBadEncoding => {
            "the bytes are not a value of this type: the sender and the receiver disagree on the type, or \
             the bytes were damaged"
        }
        _ => "",
    };
    if why.is_empty() { format!("`{ty}`: {e}") } else { format!("`{ty}`: {why} ({e})") }
}

/// The text of a Serialize impl's own error (`S::Error::custom(msg)`).
#[derive(Debug)]
struct Custom(String);

impl std::fmt::Display for Custom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Custom {}

impl serde::ser::Error for Custom {
    fn custom<M: std::fmt::Display>(msg: M) -> Custom {
        Custom(msg.to_string())
    }
}

/// A serializer that writes nothing and only keeps the message of the first custom error a
/// Serialize impl returns: run after postcard failed, to recover that message.
struct MessageOnly;

macro_rules! ok_scalars {
    ($($f:ident: $t:ty),*) => { $(
        fn $f(self, _: $t) -> Result<(), Custom> { Ok(()) }
    )* };
}

impl serde::Serializer for MessageOnly {
    type Ok = ();
    type Error = Custom;
    type SerializeSeq = MessageOnly;
    type SerializeTuple = MessageOnly;
    type SerializeTupleStruct = MessageOnly;
    type SerializeTupleVariant = MessageOnly;
    type SerializeMap = MessageOnly;
    type SerializeStruct = MessageOnly;
    type SerializeStructVariant = MessageOnly;

    ok_scalars!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_u128: u128, serialize_f32: f32, serialize_f64: f64, serialize_char: char,
        serialize_str: &str, serialize_bytes: &[u8], serialize_unit_struct: &'static str
    );

    fn serialize_none(self) -> Result<(), Custom> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Custom> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Custom> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Custom> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Custom> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        v: &T,
    ) -> Result<(), Custom> {
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<MessageOnly, Custom> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<MessageOnly, Custom> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<MessageOnly, Custom> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<MessageOnly, Custom> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MessageOnly, Custom> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<MessageOnly, Custom> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<MessageOnly, Custom> {
        Ok(self)
    }
}

macro_rules! compound {
    ($($tr:ident :: $f:ident),*) => { $(
        impl serde::ser::$tr for MessageOnly {
            type Ok = ();
            type Error = Custom;
            fn $f<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Custom> {
                v.serialize(MessageOnly)
            }
            fn end(self) -> Result<(), Custom> {
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

impl serde::ser::SerializeMap for MessageOnly {
    type Ok = ();
    type Error = Custom;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Custom> {
        k.serialize(MessageOnly)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Custom> {
        v.serialize(MessageOnly)
    }
    fn end(self) -> Result<(), Custom> {
        Ok(())
    }
}

impl serde::ser::SerializeStruct for MessageOnly {
    type Ok = ();
    type Error = Custom;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, v: &T) -> Result<(), Custom> {
        v.serialize(MessageOnly)
    }
    fn end(self) -> Result<(), Custom> {
        Ok(())
    }
}

impl serde::ser::SerializeStructVariant for MessageOnly {
    type Ok = ();
    type Error = Custom;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, v: &T) -> Result<(), Custom> {
        v.serialize(MessageOnly)
    }
    fn end(self) -> Result<(), Custom> {
        Ok(())
    }
}

/// The codec the crate uses between its processes.
pub(crate) type Wire = Postcard;

/// The encoding of `value`.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    Wire::encode_into(value, &mut out)?;
    Ok(out)
}

/// Appends the encoding of `value` to `out` (a reused buffer); on failure `out` is as it was.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    Wire::encode_into(value, out)
}

/// Writes the encoding of `value` at the start of `buf`: its length, or `None` if it does
/// not fit.
#[inline]
pub(crate) fn encode_to_slice<T: Serialize + ?Sized>(value: &T, buf: &mut [u8]) -> Result<Option<usize>, CodecError> {
    Wire::encode_to_slice(value, buf)
}

/// The encoding of `value`, written in place into a buffer of about `hint` bytes (doubled until
/// it fits): with a good guess, one pass without a capacity check per byte, twice as fast as
/// [`encode`] for long sequences of small values.
pub(crate) fn encode_sized<T: Serialize + ?Sized>(value: &T, hint: usize) -> Result<Vec<u8>, CodecError> {
    let mut size = hint.max(64);
    loop {
        let mut out = vec![0u8; size];
        match Wire::encode_to_slice(value, &mut out)? {
            Some(n) => {
                out.truncate(n);
                return Ok(out);
            }
            None => size = size.saturating_mul(2),
        }
    }
}

/// Decodes a `T` from `bytes`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    Wire::decode(bytes)
}

/// Decodes a `T` that may borrow from `bytes` (a `&[u8]` field is a slice of them).
pub(crate) fn decode_borrowed<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CodecError> {
    Wire::decode_borrowed(bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[test]
    fn round_trips_and_appends() {
        let v: (u32, String, Vec<u8>, BTreeMap<u8, bool>) = (7, "x".into(), vec![1, 2], [(1, true)].into());
        let bytes = encode(&v).unwrap();
        assert_eq!(decode::<(u32, String, Vec<u8>, BTreeMap<u8, bool>)>(&bytes).unwrap(), v);
        let mut buf = vec![0xAA];
        encode_into(&5u8, &mut buf).unwrap();
        assert_eq!(buf, [0xAA, 5]);
    }

    #[test]
    fn a_sized_encode_is_the_same_whatever_the_guess() {
        let v: Vec<u64> = (0..1000).map(|i| i * 977).collect();
        let want = encode(&v).unwrap();
        for hint in [0, 1, 100, want.len(), 1 << 20] {
            assert_eq!(encode_sized(&v, hint).unwrap(), want, "hint {hint}");
        }
    }

    #[test]
    fn encodes_into_a_slice_or_says_it_does_not_fit() {
        let mut buf = [0u8; 8];
        assert_eq!(encode_to_slice(&(300u32, 7u8), &mut buf).unwrap(), Some(3));
        assert_eq!(decode::<(u32, u8)>(&buf[..3]).unwrap(), (300, 7));
        assert_eq!(encode_to_slice(&[1u8; 20].to_vec(), &mut buf).unwrap(), None);
        assert_eq!(encode_to_slice(&"", &mut []).unwrap(), None);
    }

    #[test]
    fn a_failed_encode_leaves_the_buffer_as_it_was() {
        struct Bad;
        impl Serialize for Bad {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let mut buf = vec![1, 2];
        assert!(encode_into(&(3u8, Bad), &mut buf).is_err());
        assert_eq!(buf, [1, 2]);
    }

    #[test]
    fn a_serialize_impls_own_message_reaches_the_caller() {
        struct Picky(u32);
        impl Serialize for Picky {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if self.0 > 9 {
                    return Err(serde::ser::Error::custom(format!("{} is too big for a Picky", self.0)));
                }
                s.serialize_u32(self.0)
            }
        }
        let e = encode(&(1u8, vec![Picky(3), Picky(12)])).unwrap_err().to_string();
        assert!(e.contains("12 is too big for a Picky"), "{e}");
        assert!(e.contains("Picky"), "{e}");
    }

    #[test]
    fn truncated_and_garbage_input_is_an_error() {
        let bytes = encode(&(1u64 << 40, "hello".to_string())).unwrap();
        for n in 0..bytes.len() {
            assert!(decode::<(u64, String)>(&bytes[..n]).is_err(), "prefix of {n} bytes");
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct S(Vec<u8>);
        assert!(decode::<S>(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err(), "a huge length is refused, not allocated");
        assert!(decode::<bool>(&[2]).is_err());
    }

    #[test]
    fn what_postcard_cannot_do_is_explained_with_the_type() {
        #[derive(Serialize, Deserialize, Debug)]
        #[serde(untagged)]
        enum Loose {
            N(u32),
            S(String),
        }
        let bytes = encode(&Loose::N(3)).unwrap();
        let e = decode::<Loose>(&bytes).unwrap_err().to_string();
        assert!(e.contains("Loose") && e.contains("untagged") && e.contains("deserialize_any"), "{e}");

        #[derive(Serialize)]
        struct Inner {
            a: u8,
        }
        #[derive(Serialize)]
        struct Outer {
            #[serde(flatten)]
            inner: Inner,
        }
        let e = encode(&Outer { inner: Inner { a: 1 } }).unwrap_err().to_string();
        assert!(e.contains("Outer") && e.contains("flatten"), "{e}");

        let e = decode::<u8>(&encode("not a byte").unwrap()).unwrap_err().to_string();
        assert!(e.contains("bytes are left after the value"), "{e}");

        let e = decode::<(u32, String)>(&[1]).unwrap_err().to_string();
        assert!(e.contains("(u32, alloc::string::String)") && e.contains("disagree on the type"), "{e}");
    }
}
