//! The scenario parser and compiler (`suite/scenario`, `scenarios/LANGUAGE.md`).

use std::path::Path;

use scenario::plan::Span;

const FILE: &str = "fuzz.pop3";

/// `scenario_file`: [`scenario::parse_str`] on any bytes.
///
/// Properties: no panic; a file that compiles has at least one case, each with an id, and
/// every case and step points at a line and column of the file; a file that does not has
/// at least one error, and every error is `fuzz.pop3:line:col: error: ...` with the line
/// in the file and the column at most one past the end of that line (LANGUAGE.md §1:
/// columns count characters from 1).
pub fn scenario_file(data: &[u8]) {
    let lines = Lines::of(data);
    match scenario::parse_str(FILE, data) {
        Ok(cases) => {
            assert!(!cases.is_empty(), "a file that compiles has a case");
            for case in &cases {
                assert!(!case.id.is_empty());
                lines.check(&case.span, "case");
                for step in &case.steps {
                    lines.check(&step.span, "step");
                }
            }
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "an error without a diagnostic");
            for d in diagnostics.iter() {
                lines.check(&d.span, &d.message);
                let shown = d.to_string();
                let at = format!("{FILE}:{}:{}: error: ", d.span.line, d.span.col);
                assert!(shown.starts_with(&at), "{shown:?}");
            }
        }
    }
}

/// The length in characters of each line of the text (the valid UTF-8 prefix of it, as far
/// as it goes; an invalid byte counts as one character).
struct Lines(Vec<usize>);

impl Lines {
    fn of(data: &[u8]) -> Lines {
        Lines(
            data.split(|&b| b == b'\n')
                .map(|l| String::from_utf8_lossy(l).chars().count())
                .collect(),
        )
    }

    fn check(&self, span: &Span, what: &str) {
        assert_eq!(span.file.as_path(), Path::new(FILE), "{what}");
        assert!(span.line >= 1 && span.col >= 1, "{what} at {span}");
        let line = usize::try_from(span.line - 1).unwrap_or(usize::MAX);
        let Some(&len) = self.0.get(line) else {
            panic!("{what} at {span}: the file has {} lines", self.0.len());
        };
        let col = usize::try_from(span.col).unwrap_or(usize::MAX);
        assert!(
            col <= len + 1,
            "{what} at {span}: the line has {len} characters"
        );
    }
}
