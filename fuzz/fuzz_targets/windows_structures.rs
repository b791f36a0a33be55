//! Any values in the Windows structures the kernel fills: a snapshot, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    memdefrag::fuzzing::windows_structures(data);
});
