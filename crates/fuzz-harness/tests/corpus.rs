//! Replays the committed fuzz corpus and every crash input ever found through the harness, on
//! stable Rust: `fuzz/corpus/<target>/*` and `fuzz/regressions/<target>/*`.

use fuzz_harness::{rtmp_ingest, seeds::seeds, TARGETS};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files under `fuzz/<kind>/<target>/`, none if the directory is absent.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    entries
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_file())
        .collect()
}

#[test]
fn committed_corpus_and_regressions_pass_every_target() {
    let mut replayed = 0;
    for (target, run) in TARGETS {
        let files: Vec<PathBuf> = ["corpus", "regressions"]
            .iter()
            .flat_map(|kind| inputs(kind, target))
            .collect();
        assert!(!files.is_empty(), "fuzz/corpus/{target} has seeds");
        for file in files {
            let bytes = std::fs::read(&file).expect("a readable input");
            run(&bytes);
            replayed += 1;
        }
    }
    let targets_dir = fuzz_dir().join("fuzz_targets");
    let on_disk = std::fs::read_dir(&targets_dir)
        .expect("fuzz/fuzz_targets")
        .count();
    assert_eq!(
        on_disk,
        TARGETS.len(),
        "one fuzz target per harness function"
    );
    assert!(replayed >= TARGETS.len());
}

/// The generated seeds pass their targets, and the committed corpus holds every one of them
/// as generated (regenerate with `cargo run -p fuzz-harness --example write_seeds`).
#[test]
fn seeds_pass_and_are_committed() {
    for (target, name, bytes) in seeds() {
        let run = TARGETS
            .iter()
            .find(|(known, _)| *known == target)
            .map(|(_, run)| run)
            .expect("a seed for a known target");
        run(&bytes);
        assert!(
            fuzz_dir().join("corpus").join(target).join(name).is_file(),
            "fuzz/corpus/{target}/{name} is committed"
        );
    }
}

/// The RTMP seed reaches a publish and media, so fuzzing starts deep in the session.
#[test]
fn rtmp_seed_publishes_media() {
    let (_, _, publish) = seeds()
        .into_iter()
        .find(|(target, _, _)| *target == "rtmp_ingest")
        .expect("an RTMP seed");
    let outcome = rtmp_ingest(&publish);
    assert_eq!(outcome.publishes, 1, "{outcome:?}");
    assert!(outcome.media_events >= 4, "{outcome:?}");
    assert!(!outcome.library_panicked && !outcome.refused, "{outcome:?}");
}

/// An RTMP message whose length shrinks in a later chunk's header underflows `rml_rtmp`'s chunk
/// reader (a panic in checked builds). The harness, like the cloud, catches it and ends the
/// session: a refused publisher, not a crash.
#[test]
fn rtmp_length_that_shrinks_mid_message_is_caught() {
    let input =
        std::fs::read(fuzz_dir().join("regressions/rtmp_ingest/length-shrinks-mid-message"))
            .expect("the committed regression input");
    let outcome = rtmp_ingest(&input);
    assert_eq!(outcome.publishes, 0);
    assert!(
        outcome.library_panicked || outcome.refused,
        "the session ends: {outcome:?}"
    );
    // Overflow checks come with debug assertions: there the library's subtraction panics.
    assert_eq!(
        outcome.library_panicked,
        cfg!(debug_assertions),
        "{outcome:?}"
    );
}
