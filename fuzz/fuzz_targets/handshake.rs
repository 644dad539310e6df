#![no_main]
//! Fuzzes `multiproc::fuzzing::handshake`: bytes another process or a peer may send.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    multiproc::fuzzing::handshake(data);
});
