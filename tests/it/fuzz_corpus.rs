//! Every committed fuzz input (fuzz/corpus/TARGET, the seeds in fuzz/seeds/TARGET and the
//! inputs that once crashed, fuzz/regressions/TARGET) replayed through the same entry points
//! the fuzz targets call (`rvenv::fuzzing`), on stable Rust: CI runs them without nightly or
//! cargo-fuzz. An entry point panics on a finding, which fails this test with the input's path.

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_fuzz_input_replays_without_a_finding() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    for (target, run) in rvenv::fuzzing::TARGETS {
        let corpus = inputs(&fuzz.join("corpus").join(target));
        // A target without a committed corpus is a packaging mistake, not a pass.
        assert!(
            corpus.len() >= 5,
            "fuzz/corpus/{target} has {} inputs; run fuzz/run-all.sh or cargo fuzz cmin",
            corpus.len()
        );
        let mut all = corpus;
        all.extend(inputs(&fuzz.join("seeds").join(target)));
        all.extend(inputs(&fuzz.join("regressions").join(target)));
        for path in &all {
            let data = std::fs::read(path).unwrap();
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                failures.push(path.display().to_string());
            }
        }
        eprintln!("{target}: {} inputs replayed", all.len());
    }
    assert!(
        failures.is_empty(),
        "inputs that fail:\n{}",
        failures.join("\n")
    );
}
