//! Any bytes as wsl.exe's output or a distribution's answer: an answer or an error, never a
//! panic, and no distribution name that is empty or holds a line break or NUL.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    memdefrag::fuzzing::wsl_output(data);
});
