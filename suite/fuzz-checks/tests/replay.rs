//! Replays every file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` (past
//! crash inputs) through the target's check, on stable Rust: the same functions the
//! cargo-fuzz targets call, so CI checks the corpus without nightly. Also checks that the
//! fuzz crate and [`fuzz_checks::TARGETS`] name the same targets.

use std::panic;
use std::path::{Path, PathBuf};

use fuzz_checks::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `dir`, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs `check` on every file of `dir`; returns how many ran and the failures.
fn replay(dir: &Path, check: fuzz_checks::Check) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let files = files(dir);
    for f in &files {
        let data = std::fs::read(f).expect("readable corpus file");
        if let Err(e) = panic::catch_unwind(|| check(&data)) {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {why}", f.display()));
        }
    }
    (files.len(), failures)
}

#[test]
fn every_corpus_and_regression_file_passes_its_check() {
    let mut failures = Vec::new();
    for (name, check) in TARGETS {
        let (seeds, mut f) = replay(&fuzz_dir().join("corpus").join(name), *check);
        assert!(seeds > 0, "fuzz/corpus/{name}/ has no seed");
        failures.append(&mut f);
        let (_, mut f) = replay(&fuzz_dir().join("regressions").join(name), *check);
        failures.append(&mut f);
    }
    assert!(
        failures.is_empty(),
        "failing inputs:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_folder_names_a_target() {
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for e in entries {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            assert!(
                TARGETS.iter().any(|(t, _)| *t == name),
                "fuzz/{kind}/{name} is not a target"
            );
        }
    }
}

/// Each target has its one-line wrapper and its `[[bin]]` in `fuzz/Cargo.toml`, and the fuzz
/// crate has no target the list lacks.
#[test]
fn fuzz_crate_wraps_every_check() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in TARGETS {
        let path = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let source = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            source.contains(&format!("fuzz_checks::{name}(")),
            "{} does not call fuzz_checks::{name}",
            path.display()
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
    }
    for f in files(&fuzz_dir().join("fuzz_targets")) {
        let stem = f
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        assert!(
            TARGETS.iter().any(|(t, _)| *t == stem),
            "{stem} is not in TARGETS"
        );
    }
}
