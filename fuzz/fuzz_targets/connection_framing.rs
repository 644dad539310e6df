#![no_main]
//! Fuzzes `multiproc::fuzzing::connection_framing`: bytes another process or a peer may send.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    multiproc::fuzzing::connection_framing(data);
});
