//! The scenario files a command reads: the paths given, or the bundled `scenarios/`.

use std::path::{Path, PathBuf};

use scenario::plan::Case;

use crate::error::CliError;

/// The scenarios folder: `./scenarios` if present, else the one in the source tree.
pub fn default_paths() -> Vec<PathBuf> {
    let here = Path::new("scenarios");
    if here.is_dir() {
        return vec![here.to_owned()];
    }
    vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")]
}

/// Loads the cases of `paths` (the default folder when empty); diagnostics are an error.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Case>, CliError> {
    let paths = if paths.is_empty() {
        default_paths()
    } else {
        paths.to_vec()
    };
    scenario::load_paths(&paths).map_err(CliError::Scenarios)
}
