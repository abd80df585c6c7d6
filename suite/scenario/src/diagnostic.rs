//! Errors found in scenario files, each at a file:line:col.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::plan::Span;

/// One error in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the error is.
    pub span: Span,
    /// What is wrong.
    pub message: String,
    /// What would have been accepted there, if that is worth saying.
    pub expected: Option<String>,
}

impl Diagnostic {
    /// An error without an "expected" hint.
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            span,
            message: message.into(),
            expected: None,
        }
    }

    /// Adds the "expected" hint.
    #[must_use]
    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: error: {}", self.span, self.message)?;
        if let Some(expected) = &self.expected {
            write!(f, " (expected {expected})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// All the errors found in one or more scenario files, in file order (and line, column order
/// within a file). Displays one error per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The errors.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// How many errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sorts by line then column (stable), for a single file's errors.
    pub(crate) fn sort_by_position(&mut self) {
        self.0.sort_by_key(|d| (d.span.line, d.span.col));
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(v: Vec<Diagnostic>) -> Self {
        Diagnostics(v)
    }
}

/// A 1-based line and column inside the file being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub fn new(line: u32, col: u32) -> Self {
        Pos { line, col }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Collects the errors of one file.
#[derive(Debug)]
pub(crate) struct Sink {
    pub file: Arc<PathBuf>,
    pub diags: Vec<Diagnostic>,
}

impl Sink {
    pub fn new(file: Arc<PathBuf>) -> Self {
        Sink {
            file,
            diags: Vec::new(),
        }
    }

    pub fn span(&self, pos: Pos) -> Span {
        Span {
            file: self.file.clone(),
            line: pos.line,
            col: pos.col,
        }
    }

    /// Records an error and returns it for an optional `expected` hint.
    pub fn error(&mut self, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        let d = Diagnostic::new(self.span(pos), message);
        self.diags.push(d);
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }
}

/// Lets `sink.error(..).with_expected(..)` read naturally.
pub(crate) trait WithExpected {
    fn with_expected(&mut self, expected: impl Into<String>);
}

impl WithExpected for Diagnostic {
    fn with_expected(&mut self, expected: impl Into<String>) {
        self.expected = Some(expected.into());
    }
}
