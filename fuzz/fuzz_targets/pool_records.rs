#![no_main]
//! Fuzzes `multiproc::fuzzing::pool_records`: bytes another process may have written.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    multiproc::fuzzing::pool_records(data);
});
