//! Any text as pressure's input: an answer or an error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    memdefrag::fuzzing::pressure(text);
});
