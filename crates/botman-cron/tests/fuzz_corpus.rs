//! Replays the fuzz target's kept corpus (`fuzz/corpus/parse_roundtrip/`)
//! and its past crashes (`fuzz/regressions/`) through the target's own checks,
//! so `cargo test` covers them on stable Rust, without cargo-fuzz.

use std::fs;
use std::panic;
use std::path::Path;

use botman_cron::fuzzing::parse_roundtrip;

/// Replays every file of `dir` (under `fuzz/`); returns how many there were.
fn replay(dir: &str, failures: &mut Vec<String>) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(dir);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if panic::catch_unwind(|| parse_roundtrip(&data)).is_err() {
            failures.push(format!(
                "{} ({:?})",
                path.display(),
                String::from_utf8_lossy(&data)
            ));
        }
        count += 1;
    }
    count
}

#[test]
fn ok_parse_roundtrip_corpus_and_regressions() {
    let mut failures = Vec::new();
    let corpus = replay("corpus/parse_roundtrip", &mut failures);
    let regressions = replay("regressions", &mut failures);
    assert!(
        failures.is_empty(),
        "{} inputs fail (messages above):\n{}",
        failures.len(),
        failures.join("\n")
    );
    // An emptied or moved directory must not pass silently.
    assert!(corpus >= 50, "only {corpus} corpus files");
    assert!(regressions >= 1, "no regression files");
}
