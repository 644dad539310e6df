#![no_main]
//! Fuzzes `multiproc::fuzzing::codec_encoder`: the crate's encoder must write postcard's bytes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    multiproc::fuzzing::codec_encoder(data);
});
