#![no_main]
//! Fuzzes `multiproc::fuzzing::queue_ring`: bytes another process may have written.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    multiproc::fuzzing::queue_ring(data);
});
