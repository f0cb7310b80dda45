//! parse -> Display -> parse must give an equal schedule, and searching from
//! any instant in any of a few zones must not panic and must move forward.
//! The checks live in `botman_cron::fuzzing`, shared with the plain test that
//! replays `fuzz/corpus/parse_roundtrip/` and `fuzz/regressions/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| botman_cron::fuzzing::parse_roundtrip(data));
