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

mod ser;

pub(crate) use ser::put_varint;

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use ser::fuzz as fuzz_encoder;

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

/// [postcard](https://docs.rs/postcard)'s format: varint integers, length-prefixed sequences.
/// Values are encoded by [`ser`] (postcard's bytes, faster) and decoded by postcard.
#[derive(Debug)]
pub(crate) enum Postcard {}

/// Output that appends to a `Vec` the caller owns (and may reuse).
struct Append<'a>(&'a mut Vec<u8>);

impl ser::Out for Append<'_> {
    #[inline(always)]
    fn byte(&mut self, b: u8) -> Result<(), ser::Error> {
        self.0.push(b);
        Ok(())
    }
    #[inline(always)]
    fn bytes(&mut self, data: &[u8]) -> Result<(), ser::Error> {
        if data.len() <= 16 {
            // Floats and short strings: two moves, not a call to `memcpy`.
            let at = self.0.len();
            self.0.extend_from_slice(&[0u8; 16]);
            copy_small(&mut self.0[at..at + data.len()], data);
            self.0.truncate(at + data.len());
        } else {
            self.0.extend_from_slice(data);
        }
        Ok(())
    }
    #[inline(always)]
    fn varint(&mut self, v: u64) -> Result<(), ser::Error> {
        let at = self.0.len();
        self.0.extend_from_slice(&[0u8; 10]);
        let dst: &mut [u8; 10] = (&mut self.0[at..at + 10]).try_into().expect("10 bytes");
        let n = ser::put_varint(dst, v);
        self.0.truncate(at + n);
        Ok(())
    }
}

/// Copies `src` into `dst`, of the same length: up to 16 bytes with two fixed-size moves at
/// most (for the short fields that dominate, a byte loop or a call to `memcpy` costs more than
/// the rest of their encoding), longer ones with `memcpy`.
#[inline(always)]
fn copy_small(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    debug_assert!(n == dst.len());
    if n > 16 {
        dst.copy_from_slice(src);
    } else if n >= 8 {
        let (head, tail): ([u8; 8], [u8; 8]) = (src[..8].try_into().unwrap(), src[n - 8..].try_into().unwrap());
        dst[..8].copy_from_slice(&head);
        dst[n - 8..].copy_from_slice(&tail);
    } else if n >= 4 {
        let (head, tail): ([u8; 4], [u8; 4]) = (src[..4].try_into().unwrap(), src[n - 4..].try_into().unwrap());
        dst[..4].copy_from_slice(&head);
        dst[n - 4..].copy_from_slice(&tail);
    } else if n > 0 {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

/// Output that fills a slice the caller owns; `SerializeBufferFull` when it has no room.
struct Fill<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl ser::Out for Fill<'_> {
    #[inline(always)]
    fn byte(&mut self, b: u8) -> Result<(), ser::Error> {
        let slot = self.buf.get_mut(self.at).ok_or(ser::FULL)?;
        *slot = b;
        self.at += 1;
        Ok(())
    }
    #[inline(always)]
    fn bytes(&mut self, data: &[u8]) -> Result<(), ser::Error> {
        let end = self.at + data.len();
        copy_small(self.buf.get_mut(self.at..end).ok_or(ser::FULL)?, data);
        self.at = end;
        Ok(())
    }
    #[inline(always)]
    fn varint(&mut self, v: u64) -> Result<(), ser::Error> {
        if let Some(dst) = self.buf.get_mut(self.at..self.at + 10) {
            self.at += ser::put_varint(dst.try_into().expect("10 bytes"), v);
            return Ok(());
        }
        // The last bytes of the buffer: only what fits.
        let mut tmp = [0u8; 10];
        let n = ser::put_varint(&mut tmp, v);
        self.bytes(&tmp[..n])
    }
}

impl Codec for Postcard {
    #[inline]
    fn encode_to_slice<T: Serialize + ?Sized>(value: &T, buf: &mut [u8]) -> Result<Option<usize>, CodecError> {
        let mut out = Fill { buf, at: 0 };
        match value.serialize(&mut ser::Encoder(&mut out)) {
            Ok(()) => Ok(Some(out.at)),
            Err(ser::Error::Format(postcard::Error::SerializeBufferFull)) => Ok(None),
            Err(e) => Err(encode_error::<T>(e)),
        }
    }

    fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        value.serialize(&mut ser::Encoder(&mut Append(out))).map_err(|e| {
            out.truncate(start);
            encode_error::<T>(e)
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
fn encode_error<T: ?Sized>(e: ser::Error) -> CodecError {
    match e {
        ser::Error::Custom(msg) => {
            crate::error::forget_codec_detail();
            CodecError::new(false, format!("`{}`: {msg}", std::any::type_name::<T>()))
        }
        ser::Error::Format(e) => CodecError::from_codec(false, explain::<T>(&e)),
    }
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
