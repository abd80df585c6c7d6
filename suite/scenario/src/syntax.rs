//! A scenario file's structure: cases split at `===`, each a header of `key: value` lines,
//! a `---` line, then one step per line. The text inside steps is parsed by
//! [`crate::pieces`]; nothing is resolved or checked for meaning here.

use crate::diagnostic::{Pos, Sink, WithExpected};
use crate::pieces::{self, AssertSyn, BodyCheckSyn, Frag, Ident, PatternSyn, TemplateSyn};

/// A whole file.
#[derive(Debug)]
pub(crate) struct FileSyntax {
    pub cases: Vec<CaseSyntax>,
}

/// One case as written.
#[derive(Debug)]
pub(crate) struct CaseSyntax {
    /// Its first non-blank, non-comment line.
    pub start: Pos,
    pub header: Vec<HeaderLine>,
    /// The `---` line, if there is one.
    pub separator: Option<Pos>,
    pub steps: Vec<StepLine>,
}

/// A `key: value` header line, with its continuation lines folded in.
#[derive(Debug)]
pub(crate) struct HeaderLine {
    pub key: String,
    pub key_pos: Pos,
    /// The value, trimmed; continuation lines joined with single spaces.
    pub value: String,
    /// Where each folded part of `value` starts: (byte offset in `value`, position).
    pub segments: Vec<(usize, Pos)>,
}

impl HeaderLine {
    /// The position of the byte offset `at` in `value`.
    pub fn pos(&self, at: usize) -> Pos {
        let (start, pos) = self
            .segments
            .iter()
            .rev()
            .find(|(off, _)| *off <= at)
            .copied()
            .unwrap_or((0, self.key_pos));
        Frag::new(self.value.get(start..).unwrap_or(""), pos.line, pos.col).pos(at - start)
    }
}

/// One step line (or a `use` line, which selects a session and emits no step).
#[derive(Debug)]
pub(crate) struct StepLine {
    pub pos: Pos,
    pub kind: StepKind,
}

/// Which kind of `S` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExpectMode {
    One,
    AnyOf,
    Unordered,
    Repeated,
    Absent,
    Present,
}

#[derive(Debug)]
pub(crate) enum StepKind {
    Send {
        crlf: bool,
        template: TemplateSyn,
    },
    Expect {
        mode: ExpectMode,
        pattern: PatternSyn,
    },
    Body {
        checks: Vec<BodyCheckSyn>,
        /// `B?:`: only after a positive status line.
        if_ok: bool,
    },
    Open(Ident),
    Use(Ident),
    StartTls,
    StartTlsOrEof,
    StartTlsIfOk,
    /// `pass if err`.
    PassIfErr,
    /// `not applicable if err`.
    NotApplicableIfErr,
    Drop,
    Eof,
    Login,
    Reseed,
    Assert(AssertSyn),
    /// A step line whose text had errors (already reported): counts as a step, does nothing.
    Broken,
}

/// The header keys the language knows.
pub(crate) const HEADER_KEYS: &[&str] = &[
    "id",
    "title",
    "rfc",
    "level",
    "requirement",
    "requires",
    "tags",
    "fixture",
    "mutates",
    "after",
];

pub(crate) const STEP_EXPECTED: &str =
    "a step (C:, C!:, S:, S|:, S~:, S*:, S!:, S+:, B:, B?:, login, open, use, starttls, drop, eof, reseed, assert)";

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits a file into cases and lines. Never fails: errors go to the sink.
pub(crate) fn parse_file(text: &str, sink: &mut Sink) -> FileSyntax {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut cases = Vec::new();
    let mut cur = CaseBuilder::default();
    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        check_controls(line, line_no, sink);
        let trimmed = line.trim_matches(is_blank);
        if trimmed == "===" {
            cur.finish(&mut cases);
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            cur.folding = false;
            continue;
        }
        cur.add_line(line, line_no, sink);
    }
    cur.finish(&mut cases);
    FileSyntax { cases }
}

/// Control characters other than tab are errors anywhere: protocol control bytes are
/// written with `{cr()}`, `{lf()}`, `{nul()}` or string escapes.
fn check_controls(line: &str, line_no: u32, sink: &mut Sink) {
    for (col, c) in (1u32..).zip(line.chars()) {
        if c.is_control() && c != '\t' {
            sink.error(
                Pos::new(line_no, col),
                format!("control character U+{:04X} in the file", u32::from(c)),
            )
            .with_expected(
                "printable text; send control bytes with {cr()}, {lf()}, {nul()} or a \"\\xHH\" string",
            );
        }
    }
}

#[derive(Debug, Default)]
struct CaseBuilder {
    start: Option<Pos>,
    header: Vec<HeaderLine>,
    separator: Option<Pos>,
    steps: Vec<StepLine>,
    /// Steps were seen (the `---` line or a step before it).
    in_steps: bool,
    /// The previous line was a header line, so an indented line continues it.
    folding: bool,
}

impl CaseBuilder {
    fn finish(&mut self, cases: &mut Vec<CaseSyntax>) {
        let b = std::mem::take(self);
        if let Some(start) = b.start {
            cases.push(CaseSyntax {
                start,
                header: b.header,
                separator: b.separator,
                steps: b.steps,
            });
        }
    }

    fn add_line(&mut self, line: &str, line_no: u32, sink: &mut Sink) {
        let body = line.trim_start_matches(is_blank);
        let indent = line.len() - body.len();
        let pos = Pos::new(line_no, u32::try_from(indent + 1).unwrap_or(u32::MAX));
        self.start.get_or_insert(pos);
        let folding = std::mem::replace(&mut self.folding, false);

        if body.trim_end_matches(is_blank) == "---" {
            if let Some(first) = self.separator {
                sink.error(
                    pos,
                    format!("a second `---` in this case (the first is at {first})"),
                )
                .with_expected(format!("{STEP_EXPECTED}; cases are separated by `===`"));
            } else if self.in_steps {
                sink.error(pos, "`---` after the steps have started")
                    .with_expected(STEP_EXPECTED);
            } else {
                self.separator = Some(pos);
            }
            self.in_steps = true;
            return;
        }

        if !self.in_steps {
            if indent > 0 && folding {
                if let Some(h) = self.header.last_mut() {
                    let part = body.trim_end_matches(is_blank);
                    if !h.value.is_empty() {
                        h.value.push(' ');
                    }
                    h.segments.push((h.value.len(), pos));
                    h.value.push_str(part);
                    self.folding = true;
                    return;
                }
            }
            if looks_like_step(body) {
                sink.error(pos, "step before the `---` line that ends the header")
                    .with_expected("header lines `key: value`, then a line `---`, then the steps");
                self.in_steps = true;
                // Fall through: parse it as a step so its own errors and bindings count.
            } else if let Some((key, value_at)) = header_key(body) {
                let raw_value = &body[value_at..];
                let value = raw_value.trim_start_matches(is_blank);
                let lead = raw_value.len() - value.len();
                let value = value.trim_end_matches(is_blank);
                let value_pos = Frag::new(line, line_no, 1).pos(indent + value_at + lead);
                self.header.push(HeaderLine {
                    key: key.to_string(),
                    key_pos: pos,
                    value: value.to_string(),
                    segments: vec![(0, value_pos)],
                });
                self.folding = true;
                return;
            } else {
                sink.error(pos, "expected a header line `key: value` or `---`")
                    .with_expected(format!("one of the keys {}", HEADER_KEYS.join(", ")));
                return;
            }
        }

        match parse_step(body, line_no, pos.col, sink) {
            Some(kind) => self.steps.push(StepLine { pos, kind }),
            None => match header_key(body) {
                Some((key, _)) if HEADER_KEYS.contains(&key) => {
                    sink.error(pos, format!("header line `{key}:` after `---`"))
                        .with_expected(format!(
                            "{STEP_EXPECTED}; header lines go before the `---` line"
                        ));
                }
                _ => {
                    sink.error(pos, "expected a step").with_expected(
                        "C:, C!:, S:, S|:, S~:, S*:, S!:, S+:, B:, B?:, login, open, use, starttls, drop, eof, reseed, assert, pass if err or not applicable if err",
                    );
                }
            },
        }
    }
}

/// `key:` at the start of `body`: the key and the offset just after the colon.
fn header_key(body: &str) -> Option<(&str, usize)> {
    let len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(body.len());
    let key = &body[..len];
    if key.is_empty() || !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    body[len..].starts_with(':').then_some((key, len + 1))
}

const LINE_PREFIXES: &[&str] = &[
    "C!:", "C:", "S|:", "S~:", "S*:", "S!:", "S+:", "S:", "B?:", "B:",
];
const KEYWORDS: &[&str] = &[
    "open", "use", "starttls", "drop", "eof", "assert", "login", "reseed", "pass", "not",
];

fn first_word(body: &str) -> &str {
    body.split(is_blank).next().unwrap_or("")
}

fn looks_like_step(body: &str) -> bool {
    LINE_PREFIXES.iter().any(|p| body.starts_with(p)) || KEYWORDS.contains(&first_word(body))
}

/// Where a step line's text starts: fragments of it at byte offsets keep their columns.
#[derive(Debug, Clone, Copy)]
struct LineAt {
    line: u32,
    col: u32,
}

impl LineAt {
    fn frag(self, at: usize, text: &str) -> Frag<'_> {
        Frag::new(
            text,
            self.line,
            self.col
                .saturating_add(u32::try_from(at).unwrap_or(u32::MAX)),
        )
    }
}

/// Parses one step. `None` if the line is not a step at all (not yet reported); a step
/// whose text has errors is reported and returned as [`StepKind::Broken`].
fn parse_step(body: &str, line_no: u32, col: u32, sink: &mut Sink) -> Option<StepKind> {
    let at = LineAt { line: line_no, col };
    if let Some(prefix) = LINE_PREFIXES.iter().find(|p| body.starts_with(**p)) {
        return Some(prefixed_step(prefix, body, at, sink));
    }
    let word = first_word(body);
    if !KEYWORDS.contains(&word) {
        return None;
    }
    let after = &body[word.len()..];
    let args = after.trim_start_matches(is_blank);
    let args_at = word.len() + (after.len() - args.len());
    let args = args.trim_end_matches(is_blank);
    let args_f = at.frag(args_at, args);
    match word {
        "open" | "use" => Some(session_step(word, args, args_f, sink)),
        "assert" => {
            Some(pieces::parse_assert(args_f, sink).map_or(StepKind::Broken, StepKind::Assert))
        }
        "starttls" if args.trim() == "or eof" => Some(StepKind::StartTlsOrEof),
        "starttls" if args.trim() == "if ok" => Some(StepKind::StartTlsIfOk),
        "pass" if args.trim() == "if err" => Some(StepKind::PassIfErr),
        "not" if args.trim() == "applicable if err" => Some(StepKind::NotApplicableIfErr),
        "pass" | "not" => {
            sink.error(args_f.pos(0), format!("unexpected step `{word} {args}`"))
                .with_expected("`pass if err` or `not applicable if err`");
            Some(StepKind::Broken)
        }
        _ => {
            if !args.is_empty() {
                sink.error(args_f.pos(0), format!("unexpected text after `{word}`"))
                    .with_expected("end of line");
                return Some(StepKind::Broken);
            }
            Some(match word {
                "starttls" => StepKind::StartTls,
                "drop" => StepKind::Drop,
                "login" => StepKind::Login,
                "reseed" => StepKind::Reseed,
                _ => StepKind::Eof,
            })
        }
    }
}

/// A step written with a line prefix (`C:`, `S|:`, `B?:`, ...), the text after it parsed as
/// a template, a pattern or body checks.
fn prefixed_step(prefix: &str, body: &str, at: LineAt, sink: &mut Sink) -> StepKind {
    let rest = &body[prefix.len()..];
    let text_at = prefix.len() + usize::from(rest.starts_with(' '));
    let text = &body[text_at..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        sink.error(
            at.frag(prefix.len(), "").pos(0),
            format!("expected a space after `{prefix}`"),
        )
        .with_expected(format!("`{prefix} text`"));
        return StepKind::Broken;
    }
    // Prefixes are ASCII, so byte offsets equal columns here.
    let f = at.frag(text_at, text);
    let kind = match prefix {
        "C:" | "C!:" => StepKind::Send {
            crlf: prefix == "C:",
            template: pieces::parse_template(f, sink),
        },
        "B:" | "B?:" => StepKind::Body {
            checks: pieces::parse_body(f, sink),
            if_ok: prefix == "B?:",
        },
        p => {
            let mode = match p {
                "S|:" => ExpectMode::AnyOf,
                "S~:" => ExpectMode::Unordered,
                "S*:" => ExpectMode::Repeated,
                "S!:" => ExpectMode::Absent,
                "S+:" => ExpectMode::Present,
                _ => ExpectMode::One,
            };
            StepKind::Expect {
                mode,
                pattern: pieces::parse_pattern(f, sink),
            }
        }
    };
    // A line with errors keeps its good pieces: their captures still bind (no cascade of
    // "unbound" errors) and their names are still checked.
    kind
}

/// `open NAME` or `use NAME`.
fn session_step(word: &str, args: &str, args_f: Frag<'_>, sink: &mut Sink) -> StepKind {
    let name_len = args.find(is_blank).unwrap_or(args.len());
    let name = &args[..name_len];
    if name.is_empty() {
        sink.error(
            args_f.pos(0),
            format!("expected a session name after `{word}`"),
        )
        .with_expected("a name: [A-Za-z_][A-Za-z0-9_-]*");
        return StepKind::Broken;
    }
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        sink.error(args_f.pos(0), format!("invalid session name `{name}`"))
            .with_expected("a name: [A-Za-z_][A-Za-z0-9_-]*");
        return StepKind::Broken;
    }
    if name_len < args.len() {
        sink.error(
            args_f.pos(name_len),
            "unexpected text after the session name",
        )
        .with_expected("end of line");
        return StepKind::Broken;
    }
    let ident = Ident {
        name: name.to_string(),
        pos: args_f.pos(0),
    };
    if word == "open" {
        StepKind::Open(ident)
    } else {
        StepKind::Use(ident)
    }
}
