#![no_main]
//! Fuzzes `multiproc::fuzzing::manager_requests`: requests an authenticated peer may send a
//! manager server.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    multiproc::fuzzing::manager_requests(data);
});
