//! The syntax inside one step line: expressions, `C:` templates, `S:` patterns, `B:` checks
//! and `assert` conditions. Names stay names here; [`crate::compile`] resolves them.

use crate::diagnostic::{Pos, Sink, WithExpected};

mod assert;
mod body;
mod pattern;

pub(crate) use assert::parse_assert;
pub(crate) use body::parse_body;
pub(crate) use pattern::parse_pattern;

/// How deep function calls may nest (a fuzzer would otherwise overflow the stack).
const MAX_DEPTH: usize = 32;

/// A piece of a step line, with the 1-based column of its first character.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frag<'a> {
    pub text: &'a str,
    pub line: u32,
    pub col: u32,
    /// Whether `text` is ASCII, so that byte offsets are columns.
    ascii: bool,
}

impl<'a> Frag<'a> {
    pub fn new(text: &'a str, line: u32, col: u32) -> Self {
        Frag {
            text,
            line,
            col,
            ascii: text.is_ascii(),
        }
    }

    /// The position of the byte offset `at` (a char boundary) in `text`.
    pub fn pos(&self, at: usize) -> Pos {
        let at = floor_boundary(self.text, at);
        let n = if self.ascii {
            at
        } else {
            self.text[..at].chars().count()
        };
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        Pos::new(self.line, self.col.saturating_add(n))
    }

    fn char_at(&self, at: usize) -> Option<char> {
        self.text.get(at..).and_then(|s| s.chars().next())
    }
}

fn floor_boundary(s: &str, mut at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A name as written, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ident {
    pub name: String,
    pub pos: Pos,
}

/// An expression as written.
#[derive(Debug, Clone)]
pub(crate) enum ExprSyn {
    Var(Ident),
    Str(Vec<u8>),
    Int(u64),
    Call { func: Ident, args: Vec<ExprSyn> },
}

/// A `C:` line's text.
#[derive(Debug, Clone)]
pub(crate) struct TemplateSyn {
    pub source: String,
    pub pieces: Vec<TplPieceSyn>,
}

#[derive(Debug, Clone)]
pub(crate) enum TplPieceSyn {
    Literal(String),
    Expr(ExprSyn),
}

/// An `S:` line's text.
#[derive(Debug, Clone)]
pub(crate) struct PatternSyn {
    pub source: String,
    pub pieces: Vec<PatPieceSyn>,
}

/// A piece of a pattern; `pos` is the column of the `{`.
#[derive(Debug, Clone)]
pub(crate) enum PatPieceSyn {
    Literal(String),
    Wildcard,
    /// `{name}`
    Name {
        name: String,
        pos: Pos,
    },
    /// `{name:regex}`
    NameRegex {
        name: String,
        regex: String,
        pos: Pos,
    },
    /// `{/regex/}`
    Regex {
        regex: String,
        pos: Pos,
    },
}

/// One check of a `B:` line.
#[derive(Debug, Clone)]
pub(crate) enum BodyCheckSyn {
    Octets(ExprSyn),
    Lines(ExprSyn),
    Fixture(u64, Pos),
    Top(u64, u64, Pos),
    Capture(Ident),
}

/// An `assert` condition.
#[derive(Debug, Clone)]
pub(crate) enum AssertSyn {
    Eq(AOperandSyn, AOperandSyn),
    Ne(AOperandSyn, AOperandSyn),
    Unique(Ident),
    NotReused(Ident, Ident),
}

#[derive(Debug, Clone)]
pub(crate) enum AOperandSyn {
    Expr(ExprSyn),
    Sum(Ident),
    Count(Ident),
}

const EXPR_EXPECTED: &str = "a name, a \"string\", an integer or a function call";

/// Expression parser over one fragment. Errors are reported to the sink; `Err(())` means
/// "already reported".
struct Parser<'a, 's> {
    f: Frag<'a>,
    i: usize,
    sink: &'s mut Sink,
    /// The `{` the expression is inside, if any: reaching the end of the line is then an
    /// unterminated `{`.
    brace: Option<Pos>,
}

type PResult<T> = Result<T, ()>;

impl<'a, 's> Parser<'a, 's> {
    fn new(f: Frag<'a>, i: usize, sink: &'s mut Sink, brace: Option<Pos>) -> Self {
        Parser { f, i, sink, brace }
    }

    fn peek(&self) -> Option<char> {
        self.f.char_at(self.i)
    }

    fn rest(&self) -> &'a str {
        self.f.text.get(self.i..).unwrap_or("")
    }

    fn skip_ws(&mut self) {
        while let Some(c @ (' ' | '\t')) = self.peek() {
            self.i += c.len_utf8();
        }
    }

    fn here(&self) -> Pos {
        self.f.pos(self.i)
    }

    /// Reports "expected X" at the current place, or an unterminated `{` at the end.
    fn fail(&mut self, message: &str, expected: &str) {
        if self.peek().is_none() {
            if let Some(brace) = self.brace {
                self.sink
                    .error(brace, "unterminated `{`")
                    .with_expected("`}`");
                return;
            }
            let pos = self.here();
            self.sink
                .error(pos, "unexpected end of line")
                .with_expected(expected);
            return;
        }
        let pos = self.here();
        self.sink.error(pos, message).with_expected(expected);
    }

    /// Scans `[A-Za-z_][A-Za-z0-9_]*` if present.
    fn word(&mut self) -> Option<(&'a str, Pos)> {
        let rest = self.rest();
        let first = rest.chars().next()?;
        if !(first.is_ascii_alphabetic() || first == '_') {
            return None;
        }
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let pos = self.here();
        self.i += len;
        Some((&rest[..len], pos))
    }

    /// A word that must be a lower-case name.
    fn ident(&mut self, what: &str) -> PResult<Ident> {
        match self.word() {
            Some((w, pos)) => check_name(w, pos, self.sink),
            None => {
                self.fail(&format!("expected {what}"), "a name: [a-z_][a-z0-9_]*");
                Err(())
            }
        }
    }

    fn expect_char(&mut self, c: char, expected: &str) -> PResult<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.fail_expected(expected);
            Err(())
        }
    }

    /// Reports "expected X" at the current place (no separate hint), or an unterminated `{`
    /// at the end.
    fn fail_expected(&mut self, expected: &str) {
        if self.peek().is_none() {
            self.fail("", expected);
        } else {
            let pos = self.here();
            self.sink.error(pos, format!("expected {expected}"));
        }
    }

    fn expr(&mut self, depth: usize) -> PResult<ExprSyn> {
        self.skip_ws();
        match self.peek() {
            Some('"') => self.string().map(ExprSyn::Str),
            Some(c) if c.is_ascii_digit() => self.int().map(ExprSyn::Int),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let Some((w, pos)) = self.word() else {
                    return Err(());
                };
                let save = self.i;
                self.skip_ws();
                if self.peek() == Some('(') {
                    let func = check_name(w, pos, self.sink)?;
                    if depth >= MAX_DEPTH {
                        self.sink.error(
                            pos,
                            format!("function calls nested more than {MAX_DEPTH} deep"),
                        );
                        return Err(());
                    }
                    self.i += 1;
                    let args = self.args(depth)?;
                    Ok(ExprSyn::Call { func, args })
                } else {
                    self.i = save;
                    Ok(ExprSyn::Var(check_name(w, pos, self.sink)?))
                }
            }
            _ => {
                self.fail("expected an expression", EXPR_EXPECTED);
                Err(())
            }
        }
    }

    /// After `(`: arguments up to and including `)`.
    fn args(&mut self, depth: usize) -> PResult<Vec<ExprSyn>> {
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.i += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.i += 1,
                Some(')') => {
                    self.i += 1;
                    return Ok(args);
                }
                _ => {
                    self.fail_expected("`,` or `)`");
                    return Err(());
                }
            }
        }
    }

    /// A `"..."` string with escapes `\" \\ \r \n \t \0 \xHH`.
    fn string(&mut self) -> PResult<Vec<u8>> {
        let open = self.here();
        self.i += 1;
        let mut out = Vec::new();
        let mut ok = true;
        loop {
            let Some(c) = self.peek() else {
                self.sink
                    .error(open, "unterminated string")
                    .with_expected("a closing `\"`");
                return Err(());
            };
            let at = self.i;
            self.i += c.len_utf8();
            match c {
                '"' => break,
                '\\' => {
                    let esc = self.peek();
                    if let Some(e) = esc {
                        self.i += e.len_utf8();
                    }
                    match esc {
                        Some('"') => out.push(b'"'),
                        Some('\\') => out.push(b'\\'),
                        Some('r') => out.push(b'\r'),
                        Some('n') => out.push(b'\n'),
                        Some('t') => out.push(b'\t'),
                        Some('0') => out.push(0),
                        Some('x') => {
                            let hex = self.rest().get(..2).filter(|h| {
                                h.len() == 2 && h.bytes().all(|b| b.is_ascii_hexdigit())
                            });
                            if let Some(h) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                                out.push(h);
                                self.i += 2;
                            } else {
                                let pos = self.f.pos(at);
                                self.sink
                                    .error(pos, "invalid `\\x` escape")
                                    .with_expected("two hex digits, as in `\\x0d`");
                                ok = false;
                            }
                        }
                        _ => {
                            let pos = self.f.pos(at);
                            self.sink
                                .error(pos, "unknown escape in string")
                                .with_expected("one of \\\" \\\\ \\r \\n \\t \\0 \\xHH");
                            ok = false;
                        }
                    }
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if ok {
            Ok(out)
        } else {
            Err(())
        }
    }

    /// A decimal integer.
    fn int(&mut self) -> PResult<u64> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let pos = self.here();
        self.i += len;
        rest[..len].parse::<u64>().map_err(|_| {
            self.sink
                .error(pos, "integer too large")
                .with_expected("at most 18446744073709551615");
        })
    }

    fn at_end(&self) -> bool {
        self.peek().is_none()
    }
}

/// Checks that a word is a valid name (`[a-z_][a-z0-9_]*`).
fn check_name(w: &str, pos: Pos, sink: &mut Sink) -> PResult<Ident> {
    if is_name(w) {
        Ok(Ident {
            name: w.to_string(),
            pos,
        })
    } else {
        sink.error(pos, format!("invalid name `{w}`"))
            .with_expected("a lower-case name: [a-z_][a-z0-9_]*");
        Err(())
    }
}

/// Whether `w` is `[a-z_][a-z0-9_]*`.
pub(crate) fn is_name(w: &str) -> bool {
    let mut chars = w.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// Parses the text of a `C:` line.
pub(crate) fn parse_template(f: Frag<'_>, sink: &mut Sink) -> TemplateSyn {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let text = f.text;
    let mut i = 0;
    while let Some(c) = f.char_at(i) {
        match c {
            '{' if text[i..].starts_with("{{") => {
                lit.push('{');
                i += 2;
            }
            '}' if text[i..].starts_with("}}") => {
                lit.push('}');
                i += 2;
            }
            '}' => {
                sink.error(f.pos(i), "unmatched `}`")
                    .with_expected("`}}` for a literal brace");
                lit.push('}');
                i += 1;
            }
            '{' => {
                if !lit.is_empty() {
                    pieces.push(TplPieceSyn::Literal(std::mem::take(&mut lit)));
                }
                let brace = f.pos(i);
                let mut p = Parser::new(f, i + 1, sink, Some(brace));
                p.skip_ws();
                let result = if p.peek() == Some('}') {
                    p.sink
                        .error(brace, "empty `{}`")
                        .with_expected("an expression, or `{{` for a literal brace");
                    p.i += 1;
                    Err(())
                } else {
                    p.expr(0).and_then(|e| {
                        p.skip_ws();
                        p.expect_char('}', "`}`").map(|()| e)
                    })
                };
                let end = p.i;
                match result {
                    Ok(e) => {
                        pieces.push(TplPieceSyn::Expr(e));
                        i = end;
                    }
                    Err(()) => match text.get(end..).and_then(|r| r.find('}')) {
                        Some(off) => i = end + off + 1,
                        None => i = text.len(),
                    },
                }
            }
            c => {
                lit.push(c);
                i += c.len_utf8();
            }
        }
    }
    if !lit.is_empty() {
        pieces.push(TplPieceSyn::Literal(lit));
    }
    TemplateSyn {
        source: text.to_string(),
        pieces,
    }
}
