#![no_main]
//! Fuzzes `multiproc::fuzzing::tracker`: bytes another process or a peer may send.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    multiproc::fuzzing::tracker(data);
});
