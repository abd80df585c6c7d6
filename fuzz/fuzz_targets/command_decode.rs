#![no_main]
// The property lives in suite/fuzz-checks (replayed on stable by its tests).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::command_decode(data));
