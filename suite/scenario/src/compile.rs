//! Syntax → checked plan: header values, sessions, functions, regexes, and which names are
//! bound where.

use std::collections::{BTreeSet, HashMap};

use crate::diagnostic::{Pos, Sink, WithExpected};
use crate::header::compile_header;
use crate::maildrop;
use crate::matcher::fixed_regex;
use crate::pieces::{
    AOperandSyn, AssertSyn, BodyCheckSyn, ExprSyn, Ident, PatPieceSyn, PatternSyn, TemplateSyn,
    TplPieceSyn,
};
use crate::plan::{
    AExpr, Action, Assertion, BodyCheck, Case, Expr, Func, LineRegex, Pattern, Piece, Step,
    Template, TemplatePiece,
};
use crate::syntax::{CaseSyntax, ExpectMode, FileSyntax, StepKind, StepLine};

/// The reserved name of the "server closed the connection" alternative.
const EOF: &str = "eof";

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
                holds_maildrop: maildrop::holds_maildrop(h.mutates, &steps),
                logs_in_with_step: maildrop::logs_in_with_step(&steps),
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
                    let group = expect_group(line.pos, *mode, pattern, &lines[i..]);
                    i += group.len() - 1;
                    Some(c.group(*mode, line.pos, &group))
                }
                _ => Some(c.expect_line(pattern, *mode, line.pos)),
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

/// An `S|:` or `S~:` group: the line at `pos` and the lines of the same mode right after it
/// (`rest`).
fn expect_group<'l>(
    pos: Pos,
    mode: ExpectMode,
    pattern: &'l PatternSyn,
    rest: &'l [StepLine],
) -> Vec<(Pos, &'l PatternSyn)> {
    let mut group = vec![(pos, pattern)];
    for line in rest {
        match &line.kind {
            StepKind::Expect { mode: m, pattern } if *m == mode => group.push((line.pos, pattern)),
            _ => break,
        }
    }
    group
}

impl Compiler<'_> {
    /// `S:`, `S*:`, `S!:`, `S+:` (at `at`): the pattern, and its captures bound after the
    /// line (as lists for `S*:`).
    fn expect_line(&mut self, pattern: &PatternSyn, mode: ExpectMode, at: Pos) -> Action {
        let (p, caps) = self.pattern(pattern, mode, at);
        for (name, pos) in caps {
            let b = if mode == ExpectMode::Repeated {
                Bound::List(pos)
            } else {
                Bound::Scalar(pos)
            };
            self.vars.insert(name, b);
        }
        match mode {
            ExpectMode::Repeated => Action::ExpectRepeated(p),
            ExpectMode::Absent => Action::ExpectAbsent(p),
            ExpectMode::Present => Action::ExpectPresent(p),
            _ => Action::Expect(p),
        }
    }

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

    /// Compiles one pattern (of the step line at `at`) against the names bound before it.
    /// Returns the pattern and the names it captures (bound by the caller, after the line).
    fn pattern(
        &mut self,
        p: &PatternSyn,
        mode: ExpectMode,
        at: Pos,
    ) -> (Pattern, Vec<(String, Pos)>) {
        if mode == ExpectMode::AnyOf
            && matches!(p.pieces.as_slice(), [PatPieceSyn::Name { name, .. }] if name == EOF)
        {
            let pattern = Pattern {
                source: p.source.clone(),
                pieces: vec![Piece::Eof],
                regex: None,
            };
            return (pattern, Vec::new());
        }
        self.reserved_eof(p);
        let before = self.sink.diags.len();
        let mut pieces: Vec<Piece> = Vec::new();
        let mut caps: Vec<(String, Pos)> = Vec::new();
        for piece in &p.pieces {
            let compiled = match piece {
                PatPieceSyn::Literal(s) => {
                    match pieces.last_mut() {
                        Some(Piece::Literal(prev)) => prev.push_str(s),
                        _ => pieces.push(Piece::Literal(s.clone())),
                    }
                    None
                }
                PatPieceSyn::Wildcard => Some(Piece::Wildcard { trailing: false }),
                PatPieceSyn::Regex { regex, pos } => self
                    .check_regex(regex, *pos)
                    .then(|| Piece::Regex(regex.clone())),
                PatPieceSyn::Name { name, pos } => self.name_piece(name, *pos, mode, &mut caps),
                PatPieceSyn::NameRegex { name, regex, pos } => {
                    self.name_regex_piece(name, regex, *pos, mode, &mut caps)
                }
            };
            pieces.extend(compiled);
        }
        optional_trailing_wildcard(&mut pieces);
        let mut pattern = Pattern {
            source: p.source.clone(),
            pieces,
            regex: None,
        };
        if self.sink.diags.len() == before {
            pattern.regex = self.line_regex(&pattern, at);
        }
        (pattern, caps)
    }

    /// `{eof}` anywhere but alone in an `S|:` alternative is an error.
    fn reserved_eof(&mut self, p: &PatternSyn) {
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
    }

    /// `{name}`: a back-reference when the name is bound, else a capture (shortest match).
    fn name_piece(
        &mut self,
        name: &str,
        pos: Pos,
        mode: ExpectMode,
        caps: &mut Vec<(String, Pos)>,
    ) -> Option<Piece> {
        if self.captured_here(name, pos, caps) {
            return None;
        }
        if self.vars.contains_key(name) {
            let id = Ident {
                name: name.to_owned(),
                pos,
            };
            return self.use_var(&id).then(|| Piece::Var(name.to_owned()));
        }
        if matches!(mode, ExpectMode::Absent | ExpectMode::Present) {
            self.sink
                .error(
                    pos,
                    format!(
                        "unbound variable `{name}`: captures are not allowed in `S!:` and `S+:`"
                    ),
                )
                .with_expected("`{*}`, `{/regex/}` or a name bound by an earlier line");
            self.vars.insert(name.to_owned(), Bound::Poisoned);
            return None;
        }
        caps.push((name.to_owned(), pos));
        Some(Piece::Capture {
            name: name.to_owned(),
            regex: ".*?".to_owned(),
        })
    }

    /// `{name:regex}`: a capture, of a name not bound yet, with a regex that compiles.
    fn name_regex_piece(
        &mut self,
        name: &str,
        regex: &str,
        pos: Pos,
        mode: ExpectMode,
        caps: &mut Vec<(String, Pos)>,
    ) -> Option<Piece> {
        if matches!(mode, ExpectMode::Absent | ExpectMode::Present) {
            self.sink
                .error(
                    pos,
                    format!("capture `{name}` in `S!:`/`S+:`: captures are not allowed there"),
                )
                .with_expected("`{*}`, `{/regex/}` or a name bound by an earlier line");
            return None;
        }
        if self.captured_here(name, pos, caps) {
            return None;
        }
        if let Some(bound) = self.vars.get(name).copied() {
            self.already_bound(name, bound, pos);
            return None;
        }
        if !self.check_regex(regex, pos) {
            return None;
        }
        caps.push((name.to_owned(), pos));
        Some(Piece::Capture {
            name: name.to_owned(),
            regex: regex.to_owned(),
        })
    }

    /// A capture of a name that is bound already (nothing more about a poisoned name).
    fn already_bound(&mut self, name: &str, bound: Bound, pos: Pos) {
        let msg = match bound {
            Bound::Profile => format!("`{name}` is already bound (a profile value)"),
            Bound::Scalar(at) | Bound::List(at) => format!("`{name}` is already bound at {at}"),
            Bound::Partial(at) => {
                format!("`{name}` is already bound by some alternatives of the `S|:` group at {at}")
            }
            Bound::Poisoned => return,
        };
        self.sink.error(pos, msg).with_expected(format!(
            "a new name, or `{{{name}}}` to match the value bound"
        ));
    }

    /// The pattern's whole-line regex when it depends on no bound value (the step line is at
    /// `at`). Its pieces compiled on their own; together they may still pass the regex
    /// crate's size limit, an error here rather than a line that never matches.
    fn line_regex(&mut self, pattern: &Pattern, at: Pos) -> Option<LineRegex> {
        match fixed_regex(pattern)? {
            Ok(re) => Some(re),
            Err(e) => {
                self.sink
                    .error(
                        at,
                        format!(
                            "pattern does not compile as a whole: {}",
                            regex_error_summary(&e)
                        ),
                    )
                    .with_expected("smaller repetition counts in its regexes");
                None
            }
        }
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
        for (at, p) in lines {
            let (pat, caps) = self.pattern(p, mode, *at);
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
        if usize::try_from(n).is_ok_and(|n| (1..=fixture::COUNT).contains(&n)) {
            u32::try_from(n).ok()
        } else {
            self.sink
                .error(pos, format!("no standard-fixture message {n}"))
                .with_expected(format!("a message number 1..={}", fixture::COUNT));
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

/// A ` {*}` that ends a pattern is optional together with its space (LANGUAGE.md §3.2): the
/// space moves into the wildcard.
fn optional_trailing_wildcard(pieces: &mut Vec<Piece>) {
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
