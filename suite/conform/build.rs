//! The scenario catalogue is built into the binary (`src/scenarios.rs`, `include_dir!`):
//! rebuild when any file under `scenarios/` changes (cargo scans a directory given here
//! for changes to any file in it).

fn main() {
    println!("cargo:rerun-if-changed=../../scenarios");
    println!("cargo:rerun-if-changed=build.rs");
}
