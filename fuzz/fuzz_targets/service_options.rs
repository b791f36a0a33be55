//! Any service command line read back from the registry: its recorded options, or not ours.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = memdefrag_service::spec::recorded_options(text);
});
