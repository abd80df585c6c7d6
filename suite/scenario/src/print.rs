//! A checked plan back to scenario text (`scenarios/LANGUAGE.md`): the inverse of the parser.
//! For every case `c` the parser gives, `parse(print(c))` is the same plan, spans aside
//! (proved by the round-trip tests over generated cases and the whole catalogue).
//!
//! What the plan does not keep, the printer decides:
//!
//! - **Session names** (LANGUAGE.md §3.8): a plan numbers sessions in the order they are
//!   opened; the printer names them [`session_name`]: `main`, then `c2`, `c3`, ...
//! - **Source text** of patterns and templates ([`Pattern::source`], [`Template::source`]):
//!   the printer writes the canonical text of the pieces (`{name}` for a capture with the
//!   default regex, `, ` between arguments, literal braces doubled); a parsed case gets that
//!   text as its new source.
//! - **Comments and blank lines**: the parser drops them. [`print_commented`] writes
//!   [`Comments`] a caller keeps beside the plan (a file's preamble, a note before a step).
//! - **Header spelling**: keys in the order of LANGUAGE.md §2, `rfc: 1939 §7`, `level` as
//!   MUST/SHOULD/MAY, `fixture` and `mutates` always, `requires`/`tags`/`after` only when
//!   not empty.
//!
//! A plan the language cannot write is an [`Unprintable`] error, never a text that parses to
//! something else: two `S|:` (or `S~:`) groups in a row on one session (the parser reads one
//! group), a control character in a pattern or a header, `{eof}` outside an `S|:` group, a
//! plain `{*}` ending a pattern right after a space (the parser reads the optional trailing
//! form), a session used before it is opened. Adjacent literals in a plan print as one (the
//! parser merges them).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

use crate::diagnostic::Sink;
use crate::matcher::fixed_regex;
use crate::pieces::{self, Frag, PatPieceSyn};
use crate::plan::{
    AExpr, Action, Assertion, BodyCheck, Case, Condition, Expr, Fixture, Func, Pattern, Piece,
    RfcRef, Step, Template, TemplatePiece,
};

/// Comment lines printed with a case (the plan has none: the parser drops comments).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comments {
    /// Lines before the header (the file's preamble).
    pub preamble: Vec<String>,
    /// Lines before step `i` (an index into [`Case::steps`]).
    pub before_step: BTreeMap<usize, Vec<String>>,
}

/// Where in a case the printer met something the language cannot write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A header value (its key).
    Header(&'static str),
    /// Step `i` (from 0).
    Step(usize),
    /// A comment line.
    Comment,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Header(key) => write!(f, "header `{key}`"),
            Place::Step(i) => write!(f, "step {}", i + 1),
            Place::Comment => f.write_str("a comment"),
        }
    }
}

/// Why a plan has no text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// LANGUAGE.md §1: no control characters but tab in a file; patterns have no escapes.
    #[error("a control character or line break, which the language cannot write there")]
    ControlCharacter,
    /// A value the header or the expression syntax does not accept (LANGUAGE.md §2, §3.1).
    #[error("not a valid {0}")]
    Invalid(&'static str),
    /// LANGUAGE.md §3.3/§3.4: consecutive `S|:` (`S~:`) lines are one group.
    #[error("a second `S|:`/`S~:` group right after the first on the same session (the parser reads one group)")]
    AdjacentGroups,
    /// A group of no patterns.
    #[error("an `S|:`/`S~:` group without patterns")]
    EmptyGroup,
    /// LANGUAGE.md §3.3: `{eof}` is only an `S|:` alternative, alone.
    #[error("`{{eof}}` outside an `S|:` group or not alone in its pattern")]
    MisplacedEof,
    /// LANGUAGE.md §3.2: ` {*}` at the very end is the optional trailing form.
    #[error("a plain `{{*}}` ends the pattern after a space (the parser reads the optional trailing form)")]
    AmbiguousWildcard,
    /// A regex the piece syntax cannot delimit (`/}` inside `{/.../}`, unbalanced braces in
    /// `{name:...}`).
    #[error("the regex `{0}` cannot be delimited in a pattern piece")]
    Regex(String),
    /// LANGUAGE.md §3.8: sessions are opened in order before they are used.
    #[error("session {0} is used before it is opened, or opened out of order")]
    Session(usize),
    /// A case needs steps.
    #[error("a case without steps")]
    NoSteps,
}

/// A case the language cannot write, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("case `{case}`, {place}: {reason}")]
pub struct Unprintable {
    /// The case's id.
    pub case: String,
    /// Where.
    pub place: Place,
    /// Why.
    pub reason: Reason,
}

/// The name the printer gives session `index` (LANGUAGE.md §3.8): `main`, `c2`, `c3`, ...
pub fn session_name(index: usize) -> String {
    if index == 0 {
        "main".to_owned()
    } else {
        format!("c{}", index + 1)
    }
}

/// The text of one case, header and steps.
pub fn print(case: &Case) -> Result<String, Unprintable> {
    print_commented(case, &Comments::default())
}

/// The text of several cases, separated by `===` (LANGUAGE.md §1).
pub fn print_file(cases: &[Case]) -> Result<String, Unprintable> {
    let texts: Result<Vec<String>, Unprintable> = cases.iter().map(print).collect();
    Ok(texts?.join("\n===\n\n"))
}

/// The text of one case with `comments` around it.
pub fn print_commented(case: &Case, comments: &Comments) -> Result<String, Unprintable> {
    let fail = |place, reason| Unprintable {
        case: case.id.clone(),
        place,
        reason,
    };
    let mut out = String::new();
    for line in &comments.preamble {
        comment(&mut out, line).map_err(|r| fail(Place::Comment, r))?;
    }
    if !comments.preamble.is_empty() {
        out.push('\n');
    }
    header(&mut out, case).map_err(|(key, r)| fail(Place::Header(key), r))?;
    out.push_str("---\n");
    if case.steps.is_empty() {
        return Err(fail(Place::Step(0), Reason::NoSteps));
    }
    let mut sessions = Sessions::default();
    for (i, step) in case.steps.iter().enumerate() {
        for line in comments.before_step.get(&i).into_iter().flatten() {
            comment(&mut out, line).map_err(|r| fail(Place::Comment, r))?;
        }
        sessions
            .switch(&mut out, step)
            .and_then(|()| step_lines(&mut out, step))
            .map_err(|r| fail(Place::Step(i), r))?;
    }
    Ok(out)
}

/// One `# text` line.
fn comment(out: &mut String, text: &str) -> Result<(), Reason> {
    no_controls(text)?;
    if text.is_empty() {
        out.push_str("#\n");
    } else {
        let _ = writeln!(out, "# {text}");
    }
    Ok(())
}

/// The header lines (LANGUAGE.md §2), or the key whose value has no text.
fn header(out: &mut String, case: &Case) -> Result<(), (&'static str, Reason)> {
    let id_ok = valid_id(&case.id) && !case.id.is_empty();
    check("id", id_ok, Reason::Invalid("case id"))?;
    let title = case.title.as_str();
    no_controls(title).map_err(|r| ("title", r))?;
    let title_ok = !title.is_empty() && title.trim_matches([' ', '\t']) == title;
    check("title", title_ok, Reason::Invalid("one-line title"))?;
    check(
        "rfc",
        valid_rfc(&case.rfc),
        Reason::Invalid("RFC reference"),
    )?;
    no_controls(&case.requirement).map_err(|r| ("requirement", r))?;
    let _ = writeln!(out, "id: {}", case.id);
    let _ = writeln!(out, "title: {title}");
    let _ = writeln!(out, "rfc: {}", rfc_text(&case.rfc));
    let _ = writeln!(out, "level: {}", case.level);
    let quoted = case.requirement.replace('\\', "\\\\").replace('"', "\\\"");
    let _ = writeln!(out, "requirement: \"{quoted}\"");
    let requires: Vec<String> = case.requires.iter().map(Condition::to_string).collect();
    let requires_ok = requires.iter().all(|r| valid_requirement(r));
    check("requires", requires_ok, Reason::Invalid("capability"))?;
    list_line(out, "requires", &requires);
    let tags_ok = case.tags.iter().all(|t| valid_item(t));
    check("tags", tags_ok, Reason::Invalid("tag"))?;
    list_line(out, "tags", &case.tags);
    let fixture = match case.fixture {
        Fixture::Any => "any",
        Fixture::Standard => "standard",
        Fixture::Messages => "messages",
    };
    let _ = writeln!(out, "fixture: {fixture}");
    let _ = writeln!(out, "mutates: {}", if case.mutates { "yes" } else { "no" });
    let after_ok = case.after.iter().all(|a| valid_id(a) && *a != case.id);
    check("after", after_ok, Reason::Invalid("case id"))?;
    list_line(out, "after", &case.after);
    Ok(())
}

fn check(key: &'static str, ok: bool, reason: Reason) -> Result<(), (&'static str, Reason)> {
    if ok {
        Ok(())
    } else {
        Err((key, reason))
    }
}

/// `key: a, b` when there are items.
fn list_line(out: &mut String, key: &str, items: &[String]) {
    if !items.is_empty() {
        let _ = writeln!(out, "{key}: {}", items.join(", "));
    }
}

/// `[a-z0-9][a-z0-9._/-]*` (LANGUAGE.md §2).
fn valid_id(v: &str) -> bool {
    let mut chars = v.chars();
    matches!(chars.next(), Some('a'..='z' | '0'..='9'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '/' | '-'))
}

fn valid_rfc(r: &RfcRef) -> bool {
    r.number > 0
        && (r.section.is_empty()
            || r.section
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric())))
}

/// `1939` or `1939 §7.1`.
fn rfc_text(r: &RfcRef) -> String {
    if r.section.is_empty() {
        r.number.to_string()
    } else {
        format!("{} §{}", r.number, r.section)
    }
}

/// A list item as the header reads it back: no comma, inner whitespace single spaces.
fn valid_item(item: &str) -> bool {
    !item.contains(',')
        && no_controls(item).is_ok()
        && item.split_whitespace().collect::<Vec<_>>().join(" ") == item
}

/// A `requires:` item as the header reads it back (upper case, LANGUAGE.md §2).
fn valid_requirement(item: &str) -> bool {
    valid_item(item) && item.to_uppercase() == item && item != "!"
}

fn no_controls(text: &str) -> Result<(), Reason> {
    if text.chars().any(|c| c.is_control() && c != '\t') {
        Err(Reason::ControlCharacter)
    } else {
        Ok(())
    }
}

/// The sessions opened so far, and the one later steps act on (LANGUAGE.md §3.8).
#[derive(Debug)]
struct Sessions {
    opened: usize,
    current: usize,
    /// The last line written was an `S|:` or `S~:` group on the current session.
    group: Option<GroupKind>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            opened: 1,
            current: 0,
            group: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupKind {
    AnyOf,
    Unordered,
}

impl Sessions {
    /// Writes the `open`/`use` line `step` needs (an [`Action::Open`] is its own line).
    fn switch(&mut self, out: &mut String, step: &Step) -> Result<(), Reason> {
        let group = match step.action {
            Action::ExpectAnyOf(_) => Some(GroupKind::AnyOf),
            Action::ExpectUnordered(_) => Some(GroupKind::Unordered),
            _ => None,
        };
        if matches!(step.action, Action::Open) {
            if step.session != self.opened {
                return Err(Reason::Session(step.session));
            }
            self.opened += 1;
            self.current = step.session;
            self.group = None;
            return Ok(());
        }
        if step.session >= self.opened {
            return Err(Reason::Session(step.session));
        }
        if step.session != self.current {
            let _ = writeln!(out, "use {}", session_name(step.session));
            self.current = step.session;
        } else if group.is_some() && group == self.group {
            return Err(Reason::AdjacentGroups);
        }
        self.group = group;
        Ok(())
    }
}

/// The line(s) of one action (an `S|:`/`S~:` group is one line per pattern).
fn step_lines(out: &mut String, step: &Step) -> Result<(), Reason> {
    let action = &step.action;
    let mut line = |prefix: &str, text: String| {
        if text.is_empty() {
            let _ = writeln!(out, "{prefix}");
        } else {
            let _ = writeln!(out, "{prefix} {text}");
        }
    };
    match action {
        Action::Send { template, crlf } => {
            line(if *crlf { "C:" } else { "C!:" }, template_text(template)?);
        }
        Action::Expect(p) => line("S:", pattern_text(p, false)?),
        Action::ExpectAnyOf(ps) | Action::ExpectUnordered(ps) => {
            let any_of = matches!(action, Action::ExpectAnyOf(_));
            if ps.is_empty() {
                return Err(Reason::EmptyGroup);
            }
            for p in ps {
                line(if any_of { "S|:" } else { "S~:" }, pattern_text(p, any_of)?);
            }
        }
        Action::ExpectRepeated(p) => line("S*:", pattern_text(p, false)?),
        Action::ExpectAbsent(p) => line("S!:", pattern_text(p, false)?),
        Action::ExpectPresent(p) => line("S+:", pattern_text(p, false)?),
        Action::Body(checks) => line("B:", body_text(checks)?),
        Action::BodyIfOk(checks) => line("B?:", body_text(checks)?),
        Action::Assert(a) => line("assert", assertion_text(a)?),
        Action::Open => line("open", session_name(step.session)),
        keyword => line(keyword_text(keyword), String::new()),
    }
    Ok(())
}

/// The one-word steps.
fn keyword_text(action: &Action) -> &'static str {
    match action {
        Action::Reseed => "reseed",
        Action::Login => "login",
        Action::StartTls => "starttls",
        Action::StartTlsOrEof => "starttls or eof",
        Action::StartTlsIfOk => "starttls if ok",
        Action::PassIfErr => "pass if err",
        Action::NotApplicableIfErr => "not applicable if err",
        Action::Drop => "drop",
        _ => "eof",
    }
}

/// The text of a pattern (LANGUAGE.md §3.2); `alternative`: it is an `S|:` line, where
/// `{eof}` may stand alone.
pub fn pattern_text(pattern: &Pattern, alternative: bool) -> Result<String, Reason> {
    pieces_text(&pattern.pieces, alternative)
}

fn pieces_text(pieces: &[Piece], alternative: bool) -> Result<String, Reason> {
    if let [Piece::Eof] = pieces {
        return if alternative {
            Ok("{eof}".to_owned())
        } else {
            Err(Reason::MisplacedEof)
        };
    }
    let mut out = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        match piece {
            Piece::Literal(text) => {
                no_controls(text)?;
                out.push_str(&text.replace('{', "{{").replace('}', "}}"));
            }
            Piece::Eof => return Err(Reason::MisplacedEof),
            Piece::Wildcard { trailing: true } if last => out.push_str(" {*}"),
            Piece::Wildcard { trailing: true } => return Err(Reason::AmbiguousWildcard),
            Piece::Wildcard { trailing: false } if last && out.ends_with(' ') => {
                return Err(Reason::AmbiguousWildcard)
            }
            Piece::Wildcard { trailing: false } => out.push_str("{*}"),
            Piece::Var(name) => out.push_str(&name_piece(name)?),
            Piece::Capture { name, regex } if regex == ".*?" => {
                out.push_str(&name_piece(name)?);
            }
            Piece::Capture { name, regex } => {
                let text = format!("{}:{regex}}}", &name_piece(name)?[..name.len() + 1]);
                delimited(&text, regex)?;
                out.push_str(&text);
            }
            Piece::Regex(regex) => {
                let text = format!("{{/{regex}/}}");
                delimited(&text, regex)?;
                out.push_str(&text);
            }
        }
    }
    Ok(out)
}

/// `{name}`, for a valid name.
fn name_piece(name: &str) -> Result<String, Reason> {
    if pieces::is_name(name) && name != "eof" {
        Ok(format!("{{{name}}}"))
    } else {
        Err(Reason::Invalid("name"))
    }
}

/// Whether the piece syntax reads `text` back as one piece with this `regex`.
fn delimited(text: &str, regex: &str) -> Result<(), Reason> {
    no_controls(regex)?;
    let mut sink = Sink::new(Arc::new(PathBuf::new()));
    let back = pieces::parse_pattern(Frag::new(text, 1, 1), &mut sink);
    let same = match back.pieces.as_slice() {
        [PatPieceSyn::NameRegex { regex: r, .. }] | [PatPieceSyn::Regex { regex: r, .. }] => {
            r == regex
        }
        _ => false,
    };
    if same && sink.diags.is_empty() {
        Ok(())
    } else {
        Err(Reason::Regex(regex.to_owned()))
    }
}

/// The text of a `C:` line (LANGUAGE.md §3.1).
pub fn template_text(template: &Template) -> Result<String, Reason> {
    let mut out = String::new();
    for piece in &template.pieces {
        match piece {
            TemplatePiece::Literal(bytes) => {
                let text = std::str::from_utf8(bytes).map_err(|_| Reason::ControlCharacter)?;
                no_controls(text)?;
                out.push_str(&text.replace('{', "{{").replace('}', "}}"));
            }
            TemplatePiece::Expr(e) => {
                let _ = write!(out, "{{{}}}", expr_text(e)?);
            }
        }
    }
    Ok(out)
}

/// An expression (LANGUAGE.md §3.1).
fn expr_text(e: &Expr) -> Result<String, Reason> {
    Ok(match e {
        Expr::Var(name) if pieces::is_name(name) => name.clone(),
        Expr::Var(_) => return Err(Reason::Invalid("name")),
        Expr::Str(bytes) => string_text(bytes),
        Expr::Int(n) => n.to_string(),
        Expr::Call(func, args) => {
            let args: Result<Vec<String>, Reason> = args.iter().map(expr_text).collect();
            format!("{}({})", func_name(*func), args?.join(", "))
        }
    })
}

/// A `"..."` string with the language's escapes; other bytes as `\xHH`.
fn string_text(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    out
}

fn func_name(f: Func) -> &'static str {
    match f {
        Func::Apop => "apop",
        Func::CramMd5 => "cram_md5",
        Func::Base64 => "base64",
        Func::Plain => "plain",
        Func::Repeat => "repeat",
        Func::Crlf => "crlf",
        Func::Lf => "lf",
        Func::Cr => "cr",
        Func::Nul => "nul",
        Func::ScramClientFirst => "scram_client_first",
        Func::ScramClientFinal => "scram_client_final",
        Func::ScramServerSignature => "scram_server_signature",
        Func::ScramClientFinalCb => "scram_client_final_cb",
        Func::ScramServerSignatureCb => "scram_server_signature_cb",
        Func::ScramAttr => "scram_attr",
        Func::OAuthBearer => "oauthbearer",
        Func::OAuthBearerKv => "oauthbearer_kv",
        Func::Xoauth2 => "xoauth2",
        Func::OAuthStatus => "oauth_status",
        Func::Prefix => "prefix",
        Func::Min => "min",
    }
}

/// The checks of a `B:` line (LANGUAGE.md §3.7).
fn body_text(checks: &[BodyCheck]) -> Result<String, Reason> {
    let texts: Result<Vec<String>, Reason> = checks
        .iter()
        .map(|c| {
            Ok(match c {
                BodyCheck::Octets(e) => format!("octets={}", expr_text(e)?),
                BodyCheck::Lines(e) => format!("lines={}", expr_text(e)?),
                BodyCheck::Fixture(n) => format!("fixture={n}"),
                BodyCheck::Top(n, k) => format!("top={n},{k}"),
                BodyCheck::Capture(name) if pieces::is_name(name) => format!("capture={name}"),
                BodyCheck::Capture(_) => return Err(Reason::Invalid("name")),
            })
        })
        .collect();
    Ok(texts?.join(" "))
}

/// The text after `assert` (LANGUAGE.md §3.10).
fn assertion_text(a: &Assertion) -> Result<String, Reason> {
    let list = |name: &String| {
        if pieces::is_name(name) {
            Ok(name.clone())
        } else {
            Err(Reason::Invalid("name"))
        }
    };
    Ok(match a {
        Assertion::Eq(x, y) => format!("{} == {}", operand_text(x)?, operand_text(y)?),
        Assertion::Ne(x, y) => format!("{} != {}", operand_text(x)?, operand_text(y)?),
        Assertion::Unique(name) => format!("unique({})", list(name)?),
        Assertion::NotReused(new, old) => format!("not_reused({}, {})", list(new)?, list(old)?),
    })
}

fn operand_text(a: &AExpr) -> Result<String, Reason> {
    match a {
        AExpr::Value(e) => expr_text(e),
        AExpr::Sum(name) | AExpr::Count(name) if !pieces::is_name(name) => {
            Err(Reason::Invalid("name"))
        }
        AExpr::Sum(name) => Ok(format!("sum({name})")),
        AExpr::Count(name) => Ok(format!("count({name})")),
    }
}

impl Pattern {
    /// A pattern made of `pieces` (by a program, not parsed): its source is the printer's
    /// text (the pieces' `Debug` where they have none), and its whole-line regex is compiled
    /// when it depends on no bound value, as the compiler does.
    pub fn from_pieces(pieces: Vec<Piece>) -> Pattern {
        let alternative = matches!(pieces.as_slice(), [Piece::Eof]);
        let source = pieces_text(&pieces, alternative).unwrap_or_else(|_| format!("{pieces:?}"));
        let mut pattern = Pattern {
            source,
            pieces,
            regex: None,
        };
        pattern.regex = fixed_regex(&pattern).and_then(Result::ok);
        pattern
    }
}

impl Template {
    /// A template made of `pieces` (by a program, not parsed), its source the printer's text.
    pub fn from_pieces(pieces: Vec<TemplatePiece>) -> Template {
        let mut template = Template {
            source: String::new(),
            pieces,
        };
        template.source =
            template_text(&template).unwrap_or_else(|_| format!("{:?}", template.pieces));
        template
    }
}

#[cfg(test)]
mod tests;
