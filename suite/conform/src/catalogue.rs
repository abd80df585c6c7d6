//! The scenario catalogue a command reads: the files and folders given, or the catalogue built
//! into the binary (the repository's `scenarios/` at build time), so that an installed
//! `conform` runs the whole catalogue from any directory. `conform scenarios export DIR`
//! writes the built-in catalogue out to read or extend it.

use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir, DirEntry};
use scenario::plan::Case;

use crate::error::CliError;

/// The repository's `scenarios/` folder as it was at build time (`build.rs` rebuilds when it
/// changes).
static BUILT_IN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../scenarios");

/// The folder name built-in files carry in spans, diagnostics and reports.
pub const BUILT_IN_ROOT: &str = "scenarios";

/// Loads the cases of `paths`, or of the built-in catalogue when none is given; diagnostics
/// are an error.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Case>, CliError> {
    if paths.is_empty() {
        return scenario::load_sources(built_in("pop3")).map_err(CliError::Scenarios);
    }
    scenario::load_paths(paths).map_err(CliError::Scenarios)
}

/// The built-in requirements catalogue (`requirements/*.toml`) as (name, text), for
/// [`scenario::coverage::Catalogue::parse`].
pub fn built_in_requirements() -> Vec<(PathBuf, String)> {
    built_in("toml")
        .into_iter()
        .filter(|(p, _)| p.parent() == Some(&Path::new(BUILT_IN_ROOT).join("requirements")))
        .map(|(p, bytes)| (p, String::from_utf8_lossy(bytes).into_owned()))
        .collect()
}

/// Every built-in file with extension `ext`, named `scenarios/<path>`, sorted by path (the
/// order [`scenario::load_paths`] reads a folder in).
fn built_in(ext: &str) -> Vec<(PathBuf, &'static [u8])> {
    let mut files: Vec<(PathBuf, &'static [u8])> = all_files(&BUILT_IN)
        .into_iter()
        .filter(|f| f.path().extension().is_some_and(|x| x == ext))
        .map(|f| (Path::new(BUILT_IN_ROOT).join(f.path()), f.contents()))
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// Every file under `dir`, at any depth.
fn all_files(dir: &'static Dir<'static>) -> Vec<&'static include_dir::File<'static>> {
    let mut out = Vec::new();
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => out.extend(all_files(d)),
            DirEntry::File(f) => out.push(f),
        }
    }
    out
}

/// Why the built-in catalogue could not be written out.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The destination holds files already (`--force` writes over them).
    #[error("{} is not empty (give --force to write over the files it shares with the catalogue)", .0.display())]
    NotEmpty(PathBuf),
    /// A folder or file could not be written.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Writes the built-in catalogue (scenarios, `LANGUAGE.md`, the requirements, baselines,
/// vectors and the fixture) under `dest`, as the repository's `scenarios/` folder is laid
/// out; returns how many files were written. An existing non-empty `dest` is refused unless
/// `force`.
pub fn export(dest: &Path, force: bool) -> Result<usize, ExportError> {
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| ExportError::Write { path, source }
    };
    if !force {
        if let Ok(mut entries) = std::fs::read_dir(dest) {
            if entries.next().is_some() {
                return Err(ExportError::NotEmpty(dest.to_owned()));
            }
        }
    }
    let files = all_files(&BUILT_IN);
    for f in &files {
        let path = dest.join(f.path());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(write_err(dir))?;
        }
        std::fs::write(&path, f.contents()).map_err(write_err(&path))?;
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in catalogue is the repository's, file for file.
    #[test]
    fn the_built_in_catalogue_is_the_repositorys() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
        let from_disk = scenario::load_paths(&[repo]).expect("the repository's catalogue");
        let built_in = load(&[]).expect("the built-in catalogue");
        let ids = |cases: &[Case]| cases.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        assert!(built_in.len() > 400, "{} cases", built_in.len());
        assert_eq!(ids(&built_in), ids(&from_disk));
        let requirements = built_in_requirements();
        assert!(requirements.len() >= 10, "{requirements:?}");
        assert!(requirements
            .iter()
            .all(|(p, _)| p.starts_with("scenarios/requirements")));
    }

    #[test]
    fn export_writes_the_catalogue_and_refuses_a_non_empty_folder() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("catalogue");
        let n = export(&dest, false).unwrap();
        assert!(n > 50, "{n} files");
        assert!(dest.join("LANGUAGE.md").is_file());
        assert!(dest.join("fixtures/maildrop/1.eml").is_file());
        let cases = scenario::load_paths(std::slice::from_ref(&dest)).unwrap();
        assert_eq!(cases.len(), load(&[]).unwrap().len());
        assert!(matches!(
            export(&dest, false),
            Err(ExportError::NotEmpty(_))
        ));
        assert_eq!(export(&dest, true).unwrap(), n);
    }
}
