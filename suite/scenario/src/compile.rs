//! Syntax → checked plan: header values, sessions, functions, regexes, and which names are
//! bound where.

use std::collections::{BTreeSet, HashMap};

/// The reserved name of the "server closed the connection" alternative.
const EOF: &str = "eof";

/// `requires` items that describe the run's connections rather than a CAPA tag (the
/// runner decides them): not TLS, TLS (implicit or STLS first), implicit TLS.
pub const PSEUDO_CAPABILITIES: &[&str] = &["@PLAINTEXT", "@TLS", "@IMPLICIT-TLS"];

use crate::diagnostic::{Pos, Sink, WithExpected};
use crate::pieces::{
    AOperandSyn, AssertSyn, BodyCheckSyn, ExprSyn, Ident, PatPieceSyn, PatternSyn, TemplateSyn,
    TplPieceSyn,
};
use crate::plan::{
    AExpr, Action, Assertion, BodyCheck, Case, Expr, Fixture, Func, Level, Pattern, Piece, RfcRef,
    Step, Template, TemplatePiece,
};
use crate::syntax::{
    CaseSyntax, ExpectMode, FileSyntax, HeaderLine, StepKind, StepLine, HEADER_KEYS,
};

/// Compiles every case of a file. Cases with errors are left out (the errors are in the sink).
pub(crate) fn compile_file(file: FileSyntax, sink: &mut Sink) -> Vec<Case> {
    let mut out = Vec::new();
    let mut ids: HashMap<String, Pos> = HashMap::new();
    if file.cases.is_empty() {
        sink.error(Pos::new(1, 1), "no cases in this file")
            .with_expected("a header (`id:`, `title:`, ...), a line `---`, then steps");
    }
    for case in file.cases {
        let before = sink.diags.len();
        let (id, header) = compile_header(&case, sink);
        if let Some((id, pos)) = id {
            if let Some(first) = ids.get(&id) {
                let first = sink.span(*first);
                sink.error(
                    pos,
                    format!("duplicate case id `{id}` (first defined at {first})"),
                );
            } else {
                ids.insert(id, pos);
            }
        }
        let steps = compile_steps(&case, sink);
        if let (Some(h), true) = (header, sink.diags.len() == before) {
            out.push(Case {
                id: h.id,
                title: h.title,
                rfc: h.rfc,
                level: h.level,
                requirement: h.requirement,
                requires: h.requires,
                tags: h.tags,
                fixture: h.fixture,
                mutates: h.mutates,
                after: h.after,
                span: sink.span(h.id_pos),
                steps,
            });
        }
    }
    out
}

struct Header {
    id: String,
    id_pos: Pos,
    title: String,
    rfc: RfcRef,
    level: Level,
    requirement: String,
    requires: Vec<String>,
    tags: Vec<String>,
    fixture: Fixture,
    mutates: bool,
    after: Vec<String>,
}

const REQUIRED: &[&str] = &["id", "title", "rfc", "level", "requirement"];

/// The case's id (if valid, for the duplicate check) and its header (if all valid).
fn compile_header(case: &CaseSyntax, sink: &mut Sink) -> (Option<(String, Pos)>, Option<Header>) {
    let mut seen: HashMap<&str, Pos> = HashMap::new();
    let mut id = None;
    let mut title = None;
    let mut rfc = None;
    let mut level = None;
    let mut requirement = None;
    let mut requires = Vec::new();
    let mut tags = Vec::new();
    let mut fixture = Fixture::Any;
    let mut mutates = false;
    let mut after = Vec::new();
    let mut ok = true;

    for h in &case.header {
        let key = h.key.as_str();
        if !HEADER_KEYS.contains(&key) {
            sink.error(h.key_pos, format!("unknown header key `{key}`"))
                .with_expected(format!("one of {}", HEADER_KEYS.join(", ")));
            ok = false;
            continue;
        }
        if let Some(first) = seen.get(key) {
            sink.error(
                h.key_pos,
                format!("duplicate header key `{key}` (first at {first})"),
            );
            ok = false;
            continue;
        }
        seen.insert(key, h.key_pos);
        let vpos = h.pos(0);
        let v = h.value.as_str();
        if v.is_empty() && !matches!(key, "requires" | "tags") {
            sink.error(vpos, format!("empty value for `{key}`"));
            ok = false;
            continue;
        }
        match key {
            "id" => {
                if valid_id(v) {
                    id = Some((v.to_string(), h.key_pos));
                } else {
                    sink.error(vpos, format!("invalid case id `{v}`"))
                        .with_expected("[a-z0-9][a-z0-9._/-]*, e.g. `rfc1939/7/apop-digest`");
                    ok = false;
                }
            }
            "title" => title = Some(v.to_string()),
            "rfc" => match parse_rfc(v) {
                Some(r) => rfc = Some(r),
                None => {
                    sink.error(vpos, format!("invalid RFC reference `{v}`"))
                        .with_expected("`1939`, `1939 §7`, `1939 §7.1` or `RFC 1939 §7`");
                    ok = false;
                }
            },
            "level" => match parse_level(v) {
                Some(l) => level = Some(l),
                None => {
                    sink.error(vpos, format!("invalid level `{v}`"))
                        .with_expected("MUST, SHOULD or MAY");
                    ok = false;
                }
            },
            "requirement" => match parse_quoted(h, sink) {
                Some(s) => requirement = Some(s),
                None => ok = false,
            },
            "requires" | "tags" => {
                let mut items = Vec::new();
                let mut off = 0;
                for part in v.split(',') {
                    let item = part.split_whitespace().collect::<Vec<_>>().join(" ");
                    if item.is_empty() {
                        if !v.trim().is_empty() {
                            sink.error(h.pos(off), format!("empty item in `{key}`"))
                                .with_expected("a comma-separated list");
                            ok = false;
                        }
                    } else if key == "requires" {
                        let item = item.to_uppercase();
                        if item.starts_with('@') && !PSEUDO_CAPABILITIES.contains(&item.as_str()) {
                            sink.error(
                                h.pos(off + part.len() - part.trim_start().len()),
                                format!("unknown pseudo-capability `{item}`"),
                            )
                            .with_expected(format!("one of {}", PSEUDO_CAPABILITIES.join(", ")));
                            ok = false;
                        }
                        items.push(item);
                    } else {
                        items.push(item);
                    }
                    off += part.len() + 1;
                }
                if key == "requires" {
                    requires = items;
                } else {
                    tags = items;
                }
            }
            "after" => {
                let mut off = 0;
                for part in v.split(',') {
                    let item = part.trim();
                    let at = h.pos(off + part.len() - part.trim_start().len());
                    if !valid_id(item) {
                        sink.error(at, format!("invalid case id `{item}` in `after`"))
                            .with_expected("comma-separated case ids, e.g. `rfc1939/7/top-basic`");
                        ok = false;
                    } else if id.as_ref().is_some_and(|(i, _)| i == item) {
                        sink.error(at, "a case cannot come after itself")
                            .with_expected("the id of another case");
                        ok = false;
                    } else {
                        after.push(item.to_string());
                    }
                    off += part.len() + 1;
                }
            }
            "fixture" => match v.to_ascii_lowercase().as_str() {
                "standard" => fixture = Fixture::Standard,
                "any" => fixture = Fixture::Any,
                _ => {
                    sink.error(vpos, format!("invalid fixture `{v}`"))
                        .with_expected("`standard` or `any`");
                    ok = false;
                }
            },
            _ => match v.to_ascii_lowercase().as_str() {
                "yes" => mutates = true,
                "no" => mutates = false,
                _ => {
                    sink.error(vpos, format!("invalid value `{v}` for `mutates`"))
                        .with_expected("`yes` or `no`");
                    ok = false;
                }
            },
        }
    }
    for key in REQUIRED {
        if !seen.contains_key(key) {
            sink.error(case.start, format!("missing required header key `{key}`"))
                .with_expected(format!("a line `{key}: ...` before `---`"));
            ok = false;
        }
    }
    let Some((id, id_pos)) = id else {
        return (None, None);
    };
    let key = Some((id.clone(), id_pos));
    let header = (|| {
        ok.then_some(())?;
        Some(Header {
            id,
            id_pos,
            title: title?,
            rfc: rfc?,
            level: level?,
            requirement: requirement?,
            requires,
            tags,
            fixture,
            mutates,
            after,
        })
    })();
    (key, header)
}

fn valid_id(v: &str) -> bool {
    let mut chars = v.chars();
    matches!(chars.next(), Some('a'..='z' | '0'..='9'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '/' | '-'))
}

/// `1939`, `1939 §7`, `1939 §7.1`, `RFC 1939 §7`, `RFC1939§4.1a`.
fn parse_rfc(v: &str) -> Option<RfcRef> {
    let v = v.trim();
    let v = match v.get(..3) {
        Some(p) if p.eq_ignore_ascii_case("rfc") => v[3..].trim_start(),
        _ => v,
    };
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let number: u32 = v[..digits].parse().ok().filter(|n| *n > 0)?;
    let rest = v[digits..].trim_start();
    if rest.is_empty() {
        return Some(RfcRef {
            number,
            section: String::new(),
        });
    }
    let section = rest.strip_prefix('§')?.trim_start();
    let valid = !section.is_empty()
        && section
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
    valid.then(|| RfcRef {
        number,
        section: section.to_string(),
    })
}

/// MUST, SHOULD, MAY (any case), and the other RFC 2119 words for them.
fn parse_level(v: &str) -> Option<Level> {
    let words = v.split_whitespace().collect::<Vec<_>>().join(" ");
    match words.to_ascii_uppercase().as_str() {
        "MUST" | "MUST NOT" | "REQUIRED" | "SHALL" | "SHALL NOT" => Some(Level::Must),
        "SHOULD" | "SHOULD NOT" | "RECOMMENDED" | "NOT RECOMMENDED" => Some(Level::Should),
        "MAY" | "OPTIONAL" => Some(Level::May),
        _ => None,
    }
}

/// The `requirement:` value: one double-quoted string, escapes `\"` and `\\`.
fn parse_quoted(h: &HeaderLine, sink: &mut Sink) -> Option<String> {
    let v = h.value.as_str();
    if !v.starts_with('"') {
        sink.error(h.pos(0), "the requirement must be a double-quoted string")
            .with_expected("\"text quoted from the RFC\"");
        return None;
    }
    let mut out = String::new();
    let mut chars = v.char_indices().skip(1);
    let mut ok = true;
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => {
                let rest = &v[at + 1..];
                if !rest.trim().is_empty() {
                    let lead = rest.len() - rest.trim_start().len();
                    sink.error(
                        h.pos(at + 1 + lead),
                        "unexpected text after the closing `\"`",
                    )
                    .with_expected("end of line (write `\\\"` for a quote inside)");
                    return None;
                }
                return ok.then_some(out);
            }
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => out.push(e),
                _ => {
                    sink.error(h.pos(at), "unknown escape in the requirement")
                        .with_expected("`\\\"` or `\\\\`");
                    ok = false;
                }
            },
            c => out.push(c),
        }
    }
    sink.error(h.pos(0), "unterminated string")
        .with_expected("a closing `\"`");
    None
}

/// What a name is bound to, for the checks.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// `user`, `password`.
    Profile,
    /// One value, captured at the place.
    Scalar(Pos),
    /// A list (`S*:` captures, `B: capture=`), bound at the place.
    List(Pos),
    /// Captured by only some alternatives of the `S|:` group at the place.
    Partial(Pos),
    /// An error about this name was already reported: no more about it.
    Poisoned,
}

struct Compiler<'s> {
    sink: &'s mut Sink,
    vars: HashMap<String, Bound>,
    /// Session names, in index order, with where they were opened (`main` has none).
    sessions: Vec<(String, Option<Pos>)>,
    current: usize,
}

fn compile_steps(case: &CaseSyntax, sink: &mut Sink) -> Vec<Step> {
    let mut c = Compiler {
        sink,
        vars: HashMap::from([
            ("user".to_string(), Bound::Profile),
            ("password".to_string(), Bound::Profile),
        ]),
        sessions: vec![("main".to_string(), None)],
        current: 0,
    };
    let mut steps = Vec::new();
    let lines = &case.steps;
    if !lines.iter().any(|l| !matches!(l.kind, StepKind::Use(_))) {
        match case.separator {
            Some(sep) => {
                c.sink
                    .error(sep, "this case has no steps")
                    .with_expected("steps after `---`");
            }
            None => {
                c.sink
                    .error(case.start, "missing the `---` line after the header")
                    .with_expected("a line `---`, then the steps");
            }
        }
    }
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        i += 1;
        let action = match &line.kind {
            StepKind::Send { crlf, template } => {
                c.template(template).map(|template| Action::Send {
                    template,
                    crlf: *crlf,
                })
            }
            StepKind::Expect { mode, pattern } => match mode {
                ExpectMode::AnyOf | ExpectMode::Unordered => {
                    let mut group = vec![(line.pos, pattern)];
                    while let Some(StepLine {
                        pos,
                        kind: StepKind::Expect { mode: m, pattern },
                    }) = lines.get(i)
                    {
                        if m != mode {
                            break;
                        }
                        group.push((*pos, pattern));
                        i += 1;
                    }
                    Some(c.group(*mode, line.pos, &group))
                }
                ExpectMode::One
                | ExpectMode::Repeated
                | ExpectMode::Absent
                | ExpectMode::Present => {
                    let (p, caps) = c.pattern(pattern, *mode);
                    for (name, pos) in caps {
                        let b = if *mode == ExpectMode::Repeated {
                            Bound::List(pos)
                        } else {
                            Bound::Scalar(pos)
                        };
                        c.vars.insert(name, b);
                    }
                    Some(match mode {
                        ExpectMode::Repeated => Action::ExpectRepeated(p),
                        ExpectMode::Absent => Action::ExpectAbsent(p),
                        ExpectMode::Present => Action::ExpectPresent(p),
                        _ => Action::Expect(p),
                    })
                }
            },
            StepKind::Body { checks, if_ok } => {
                let checks = c.body(checks);
                Some(if *if_ok {
                    Action::BodyIfOk(checks)
                } else {
                    Action::Body(checks)
                })
            }
            StepKind::Login => Some(Action::Login),
            StepKind::Reseed => Some(Action::Reseed),
            StepKind::Open(name) => c.open(name).then_some(Action::Open),
            StepKind::Use(name) => {
                c.use_session(name);
                None
            }
            StepKind::StartTls => Some(Action::StartTls),
            StepKind::StartTlsOrEof => Some(Action::StartTlsOrEof),
            StepKind::StartTlsIfOk => Some(Action::StartTlsIfOk),
            StepKind::Drop => Some(Action::Drop),
            StepKind::Eof => Some(Action::ExpectClose),
            StepKind::Assert(a) => c.assert(a).map(Action::Assert),
            StepKind::Broken => None,
        };
        if let Some(action) = action {
            steps.push(Step {
                span: c.sink.span(line.pos),
                session: c.current,
                action,
            });
        }
    }
    steps
}

impl Compiler<'_> {
    fn open(&mut self, name: &Ident) -> bool {
        if let Some(idx) = self.sessions.iter().position(|(n, _)| *n == name.name) {
            let msg = match self.sessions[idx].1 {
                Some(at) => format!("session `{}` is already open (opened at {at})", name.name),
                None => format!(
                    "session `{}` is already open (it is the first session, open from the start)",
                    name.name
                ),
            };
            self.sink
                .error(name.pos, msg)
                .with_expected("a new session name");
            self.current = idx;
            return false;
        }
        self.sessions.push((name.name.clone(), Some(name.pos)));
        self.current = self.sessions.len() - 1;
        true
    }

    fn use_session(&mut self, name: &Ident) {
        match self.sessions.iter().position(|(n, _)| *n == name.name) {
            Some(idx) => self.current = idx,
            None => {
                let known = self
                    .sessions
                    .iter()
                    .map(|(n, _)| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.sink
                    .error(name.pos, format!("unknown session `{}`", name.name))
                    .with_expected(format!("a session opened before: {known}"));
            }
        }
    }

    /// Checks that a name used as a value is bound.
    fn use_var(&mut self, id: &Ident) -> bool {
        match self.vars.get(&id.name) {
            Some(Bound::Partial(at)) => {
                let at = *at;
                self.sink.error(
                    id.pos,
                    format!(
                        "variable `{}` is captured by only some alternatives of the `S|:` group at {at}",
                        id.name
                    ),
                ).with_expected("a name captured by every alternative, or by an earlier line");
                self.vars.insert(id.name.clone(), Bound::Poisoned);
                false
            }
            Some(_) => true,
            None => {
                self.sink
                    .error(id.pos, format!("unbound variable `{}`", id.name))
                    .with_expected("`user`, `password` or a name captured by an earlier `S:` line");
                self.vars.insert(id.name.clone(), Bound::Poisoned);
                false
            }
        }
    }

    /// Checks that a name names a list (for `sum`, `count`, `unique`).
    fn use_list(&mut self, id: &Ident, what: &str) -> bool {
        if !self.use_var(id) {
            return false;
        }
        let place = match self.vars.get(&id.name) {
            Some(Bound::Scalar(at)) => format!("captured at {at}"),
            Some(Bound::Profile) => "a profile value".to_string(),
            _ => return true,
        };
        self.sink
            .error(
                id.pos,
                format!(
                    "`{}` is a single value ({place}); `{what}(...)` needs a list",
                    id.name
                ),
            )
            .with_expected("a name captured by `S*:` or `B: capture=`");
        false
    }

    fn expr(&mut self, e: &ExprSyn) -> Option<Expr> {
        match e {
            ExprSyn::Var(id) => self.use_var(id).then(|| Expr::Var(id.name.clone())),
            ExprSyn::Str(s) => Some(Expr::Str(s.clone())),
            ExprSyn::Int(n) => Some(Expr::Int(*n)),
            ExprSyn::Call { func, args } => {
                let compiled: Vec<Option<Expr>> = args.iter().map(|a| self.expr(a)).collect();
                let Some((f, arity)) = resolve_func(&func.name) else {
                    self.sink
                        .error(func.pos, format!("unknown function `{}`", func.name))
                        .with_expected(FUNCS_EXPECTED);
                    return None;
                };
                if args.len() != arity {
                    let plural = if arity == 1 { "" } else { "s" };
                    self.sink.error(
                        func.pos,
                        format!(
                            "`{}` takes {arity} argument{plural}, found {}",
                            func.name,
                            args.len()
                        ),
                    );
                    return None;
                }
                let args: Option<Vec<Expr>> = compiled.into_iter().collect();
                Some(Expr::Call(f, args?))
            }
        }
    }

    fn template(&mut self, t: &TemplateSyn) -> Option<Template> {
        let mut pieces = Vec::new();
        let mut ok = true;
        for p in &t.pieces {
            match p {
                TplPieceSyn::Literal(s) => {
                    pieces.push(TemplatePiece::Literal(s.as_bytes().to_vec()))
                }
                TplPieceSyn::Expr(e) => match self.expr(e) {
                    Some(e) => pieces.push(TemplatePiece::Expr(e)),
                    None => ok = false,
                },
            }
        }
        ok.then(|| Template {
            source: t.source.clone(),
            pieces,
        })
    }

    /// Compiles one pattern against the names bound before it. Returns the pattern and the
    /// names it captures (bound by the caller, after the line).
    fn pattern(&mut self, p: &PatternSyn, mode: ExpectMode) -> (Pattern, Vec<(String, Pos)>) {
        if let [PatPieceSyn::Name { name, .. }] = p.pieces.as_slice() {
            if name == EOF && mode == ExpectMode::AnyOf {
                let pattern = Pattern {
                    source: p.source.clone(),
                    pieces: vec![Piece::Eof],
                };
                return (pattern, Vec::new());
            }
        }
        for piece in &p.pieces {
            if let PatPieceSyn::Name { name, pos } | PatPieceSyn::NameRegex { name, pos, .. } =
                piece
            {
                if name == EOF {
                    self.sink
                        .error(
                            *pos,
                            "`{eof}` is reserved: the server closing the connection",
                        )
                        .with_expected(
                            "`S|: {eof}` on its own line, as one alternative of an `S|:` group",
                        );
                }
            }
        }
        let mut pieces: Vec<Piece> = Vec::new();
        let mut caps: Vec<(String, Pos)> = Vec::new();
        for piece in &p.pieces {
            match piece {
                PatPieceSyn::Literal(s) => match pieces.last_mut() {
                    Some(Piece::Literal(prev)) => prev.push_str(s),
                    _ => pieces.push(Piece::Literal(s.clone())),
                },
                PatPieceSyn::Wildcard => pieces.push(Piece::Wildcard { trailing: false }),
                PatPieceSyn::Regex { regex, pos } => {
                    if self.check_regex(regex, *pos) {
                        pieces.push(Piece::Regex(regex.clone()));
                    }
                }
                PatPieceSyn::Name { name, pos } => {
                    if self.captured_here(name, *pos, &caps) {
                        continue;
                    }
                    match self.vars.get(name) {
                        Some(_) => {
                            let id = Ident {
                                name: name.clone(),
                                pos: *pos,
                            };
                            if self.use_var(&id) {
                                pieces.push(Piece::Var(name.clone()));
                            }
                        }
                        None if matches!(mode, ExpectMode::Absent | ExpectMode::Present) => {
                            self.sink
                                .error(*pos, format!("unbound variable `{name}`: captures are not allowed in `S!:` and `S+:`"))
                                .with_expected("`{*}`, `{/regex/}` or a name bound by an earlier line");
                            self.vars.insert(name.clone(), Bound::Poisoned);
                        }
                        None => {
                            caps.push((name.clone(), *pos));
                            pieces.push(Piece::Capture {
                                name: name.clone(),
                                regex: ".*?".to_string(),
                            });
                        }
                    }
                }
                PatPieceSyn::NameRegex { name, regex, pos } => {
                    if matches!(mode, ExpectMode::Absent | ExpectMode::Present) {
                        self.sink
                            .error(
                                *pos,
                                format!(
                                    "capture `{name}` in `S!:`/`S+:`: captures are not allowed there"
                                ),
                            )
                            .with_expected("`{*}`, `{/regex/}` or a name bound by an earlier line");
                        continue;
                    }
                    if self.captured_here(name, *pos, &caps) {
                        continue;
                    }
                    if let Some(b) = self.vars.get(name).copied() {
                        let msg = match b {
                            Bound::Profile => format!("`{name}` is already bound (a profile value)"),
                            Bound::Scalar(at) | Bound::List(at) => {
                                format!("`{name}` is already bound at {at}")
                            }
                            Bound::Partial(at) => format!(
                                "`{name}` is already bound by some alternatives of the `S|:` group at {at}"
                            ),
                            Bound::Poisoned => continue,
                        };
                        self.sink.error(*pos, msg).with_expected(format!(
                            "a new name, or `{{{name}}}` to match the value bound"
                        ));
                        continue;
                    }
                    if self.check_regex(regex, *pos) {
                        caps.push((name.clone(), *pos));
                        pieces.push(Piece::Capture {
                            name: name.clone(),
                            regex: regex.clone(),
                        });
                    }
                }
            }
        }
        // ` {*}` at the very end: optional, together with its space.
        if let [.., Piece::Literal(lit), Piece::Wildcard { trailing }] = pieces.as_mut_slice() {
            if lit.ends_with(' ') {
                lit.pop();
                *trailing = true;
                if lit.is_empty() {
                    let n = pieces.len();
                    pieces.remove(n - 2);
                }
            }
        }
        (
            Pattern {
                source: p.source.clone(),
                pieces,
            },
            caps,
        )
    }

    /// A second `{name}` for a name captured earlier on the same line is an error.
    fn captured_here(&mut self, name: &str, pos: Pos, caps: &[(String, Pos)]) -> bool {
        let Some((_, first)) = caps.iter().find(|(n, _)| n == name) else {
            return false;
        };
        self.sink.error(
            pos,
            format!(
                "`{name}` is already captured on this line (at {first}); \
                 a back-reference needs a capture from an earlier line"
            ),
        );
        true
    }

    fn check_regex(&mut self, re: &str, pos: Pos) -> bool {
        if re.is_empty() {
            self.sink
                .error(pos, "empty regex")
                .with_expected("a regex, e.g. `{/[0-9]+/}`");
            return false;
        }
        match regex::Regex::new(re) {
            Ok(r) if r.captures_len() == 1 => true,
            Ok(_) => {
                self.sink
                    .error(pos, format!("regex `{re}` has a capture group"))
                    .with_expected(
                        "non-capturing groups `(?:...)`; name captures with `{name:regex}`",
                    );
                false
            }
            Err(e) => {
                self.sink.error(
                    pos,
                    format!("invalid regex `{re}`: {}", regex_error_summary(&e)),
                );
                false
            }
        }
    }

    /// An `S|:` or `S~:` group: each line is compiled against the names bound before the
    /// group.
    fn group(&mut self, mode: ExpectMode, group_pos: Pos, lines: &[(Pos, &PatternSyn)]) -> Action {
        let mut patterns = Vec::new();
        let mut all_caps: Vec<Vec<(String, Pos)>> = Vec::new();
        for (_, p) in lines {
            let (pat, caps) = self.pattern(p, mode);
            patterns.push(pat);
            all_caps.push(caps);
        }
        if mode == ExpectMode::Unordered {
            let mut bound: HashMap<String, Pos> = HashMap::new();
            for (name, pos) in all_caps.into_iter().flatten() {
                if let Some(first) = bound.get(&name) {
                    self.sink
                        .error(
                            pos,
                            format!("`{name}` is already captured at {first} in this `S~:` group"),
                        )
                        .with_expected("a different name for each line of the group");
                } else {
                    bound.insert(name, pos);
                }
            }
            for (name, pos) in bound {
                self.vars.insert(name, Bound::Scalar(pos));
            }
            Action::ExpectUnordered(patterns)
        } else {
            let names: BTreeSet<&String> = all_caps.iter().flatten().map(|(n, _)| n).collect();
            let mut bind = Vec::new();
            for name in names {
                let everywhere = all_caps.iter().all(|c| c.iter().any(|(n, _)| n == name));
                let first = all_caps
                    .iter()
                    .flatten()
                    .find(|(n, _)| n == name)
                    .map_or(group_pos, |(_, p)| *p);
                bind.push((
                    name.clone(),
                    if everywhere {
                        Bound::Scalar(first)
                    } else {
                        Bound::Partial(group_pos)
                    },
                ));
            }
            self.vars.extend(bind);
            Action::ExpectAnyOf(patterns)
        }
    }

    fn body(&mut self, checks: &[BodyCheckSyn]) -> Vec<BodyCheck> {
        let mut out = Vec::new();
        let mut binds = Vec::new();
        for check in checks {
            match check {
                BodyCheckSyn::Octets(e) => {
                    if let Some(e) = self.expr(e) {
                        out.push(BodyCheck::Octets(e));
                    }
                }
                BodyCheckSyn::Lines(e) => {
                    if let Some(e) = self.expr(e) {
                        out.push(BodyCheck::Lines(e));
                    }
                }
                BodyCheckSyn::Fixture(n, pos) => {
                    if let Some(n) = self.fixture_number(*n, *pos) {
                        out.push(BodyCheck::Fixture(n));
                    }
                }
                BodyCheckSyn::Top(n, k, pos) => {
                    let n = self.fixture_number(*n, *pos);
                    let k = u32::try_from(*k).ok();
                    if k.is_none() {
                        self.sink
                            .error(*pos, "line count too large")
                            .with_expected("at most 4294967295");
                    }
                    if let (Some(n), Some(k)) = (n, k) {
                        out.push(BodyCheck::Top(n, k));
                    }
                }
                BodyCheckSyn::Capture(id) => {
                    let already = binds.iter().any(|(n, _): &(String, Pos)| *n == id.name);
                    match self.vars.get(&id.name) {
                        Some(Bound::Poisoned) => {}
                        Some(b) if !already => {
                            let msg = match b {
                                Bound::Profile => {
                                    format!("`{}` is already bound (a profile value)", id.name)
                                }
                                Bound::Scalar(at) | Bound::List(at) | Bound::Partial(at) => {
                                    format!("`{}` is already bound at {at}", id.name)
                                }
                                Bound::Poisoned => String::new(),
                            };
                            self.sink.error(id.pos, msg).with_expected("a new name");
                        }
                        _ if already => {
                            self.sink
                                .error(
                                    id.pos,
                                    format!("`{}` is already captured on this line", id.name),
                                )
                                .with_expected("one `capture=` per name");
                        }
                        _ => {
                            binds.push((id.name.clone(), id.pos));
                            out.push(BodyCheck::Capture(id.name.clone()));
                        }
                    }
                }
            }
        }
        for (name, pos) in binds {
            self.vars.insert(name, Bound::List(pos));
        }
        out
    }

    fn fixture_number(&mut self, n: u64, pos: Pos) -> Option<u32> {
        if (1..=7).contains(&n) {
            u32::try_from(n).ok()
        } else {
            self.sink
                .error(pos, format!("no standard-fixture message {n}"))
                .with_expected("a message number 1..=7");
            None
        }
    }

    fn operand(&mut self, a: &AOperandSyn) -> Option<AExpr> {
        match a {
            AOperandSyn::Expr(e) => self.expr(e).map(AExpr::Value),
            AOperandSyn::Sum(id) => self
                .use_list(id, "sum")
                .then(|| AExpr::Sum(id.name.clone())),
            AOperandSyn::Count(id) => self
                .use_list(id, "count")
                .then(|| AExpr::Count(id.name.clone())),
        }
    }

    fn assert(&mut self, a: &AssertSyn) -> Option<Assertion> {
        match a {
            AssertSyn::Eq(x, y) | AssertSyn::Ne(x, y) => {
                let x = self.operand(x);
                let y = self.operand(y);
                let (x, y) = (x?, y?);
                Some(if matches!(a, AssertSyn::Eq(..)) {
                    Assertion::Eq(x, y)
                } else {
                    Assertion::Ne(x, y)
                })
            }
            AssertSyn::Unique(id) => self
                .use_list(id, "unique")
                .then(|| Assertion::Unique(id.name.clone())),
            AssertSyn::NotReused(new, old) => {
                let ok = self.use_list(new, "not_reused") & self.use_list(old, "not_reused");
                ok.then(|| Assertion::NotReused(new.name.clone(), old.name.clone()))
            }
        }
    }
}

const FUNCS_EXPECTED: &str =
    "one of apop/2, cram_md5/3, base64/1, plain/3, repeat/2, crlf/0, lf/0, cr/0, nul/0";

/// A function name → the function and its arity.
fn resolve_func(name: &str) -> Option<(Func, usize)> {
    Some(match name {
        "apop" => (Func::Apop, 2),
        "cram_md5" => (Func::CramMd5, 3),
        "base64" => (Func::Base64, 1),
        "plain" => (Func::Plain, 3),
        "repeat" => (Func::Repeat, 2),
        "crlf" => (Func::Crlf, 0),
        "lf" => (Func::Lf, 0),
        "cr" => (Func::Cr, 0),
        "nul" => (Func::Nul, 0),
        _ => return None,
    })
}

/// The one-line gist of a `regex` error (its Display spans several lines).
fn regex_error_summary(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map_or_else(
            || text.lines().last().unwrap_or("").trim().to_string(),
            str::to_string,
        )
}
