//! Where a report goes: [`Output`], and [`ReportFile`], a file that is written under a
//! temporary name beside its path and renamed into place only once the report is complete,
//! so that a failed or killed run never leaves a cut report (nor truncates an earlier one).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A report that could not be written in full: which report, where, and the OS's error.
#[derive(Debug, thiserror::Error)]
#[error("the {report} report could not be written to {to}: {error}")]
pub struct ReportError {
    /// `JUnit`, `JSON`, `HTML`, `console`.
    pub report: &'static str,
    /// The path (or `standard output`).
    pub to: String,
    /// What the OS said.
    pub error: io::Error,
}

/// Where a file report writes: a writer that knows its name and how to put a complete report
/// in place.
pub trait Output: Write + Send {
    /// What an error names: the path.
    fn name(&self) -> String;

    /// The report is complete: flush it and put it in place (a [`ReportFile`] is renamed).
    fn complete(&mut self) -> io::Result<()> {
        self.flush()
    }
}

impl Output for Vec<u8> {
    fn name(&self) -> String {
        "memory".into()
    }
}

/// A report file: written under a temporary name beside `path` (`.NAME.PID.partial`), then
/// flushed, synced and renamed onto `path` by [`Output::complete`]. Dropped before that, the
/// temporary file is removed and `path` keeps what it had. A path that exists and is no
/// regular file (`/dev/stdout`, a FIFO, `/dev/full`) is written directly: it cannot be
/// replaced, and what is written is seen as it goes.
#[derive(Debug)]
pub struct ReportFile {
    path: PathBuf,
    /// The temporary file until it is renamed onto `path`; `None` when written directly.
    partial: Option<PathBuf>,
    out: BufWriter<File>,
}

impl ReportFile {
    /// Opens the report file for `path`, its folder made if needed.
    pub fn create(path: &Path) -> io::Result<ReportFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => {
                let file = File::options().write(true).open(path)?;
                return Ok(ReportFile {
                    path: path.to_owned(),
                    partial: None,
                    out: BufWriter::new(file),
                });
            }
            _ => {}
        }
        // a symbolic link to a file: the file it names is replaced, not the link
        let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "report".into());
        let partial = target.with_file_name(format!(".{name}.{}.partial", std::process::id()));
        let file = File::create(&partial)?;
        Ok(ReportFile {
            path: target,
            partial: Some(partial),
            out: BufWriter::new(file),
        })
    }

    /// The path the report is written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Write for ReportFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Output for ReportFile {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn complete(&mut self) -> io::Result<()> {
        self.out.flush()?;
        if let Some(partial) = &self.partial {
            // a full disk may only show when the data reaches it
            self.out.get_ref().sync_all()?;
            std::fs::rename(partial, &self.path)?;
            self.partial = None;
        }
        Ok(())
    }
}

impl Drop for ReportFile {
    fn drop(&mut self) {
        if let Some(partial) = self.partial.take() {
            let _ = std::fs::remove_file(partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_report_leaves_the_earlier_one_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/junit.xml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "earlier").unwrap();
        let mut f = ReportFile::create(&path).unwrap();
        f.write_all(b"half a rep").unwrap();
        f.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "earlier");
        drop(f);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "earlier");
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left: {left:?}");

        let mut f = ReportFile::create(&path).unwrap();
        f.write_all(b"complete").unwrap();
        f.complete().unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "complete");
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    #[test]
    fn a_device_is_written_directly_and_its_errors_show() {
        let mut f = ReportFile::create(Path::new("/dev/full")).unwrap();
        assert_eq!(f.path(), Path::new("/dev/full"));
        // small enough to stay in the buffer: the error shows when the report is completed
        f.write_all(b"<testsuites/>").unwrap();
        let err = f.complete().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(28), "{err}"); // ENOSPC
    }
}
