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

mod checks;
mod pattern;

/// The reserved name of the "server closed the connection" alternative.
const EOF: &str = "eof";

/// Compiles every case of a file. Cases with errors are left out (the errors are in the sink).
pub(crate) fn compile_file(file: FileSyntax, sink: &mut Sink) -> Vec<Case> {
    let mut out = Vec::new();
    // one compiled regex per distinct pattern of the file: `+OK {*}` stands in most cases,
    // and a compiled regex costs kilobytes (clones share it)
    let mut regexes: HashMap<String, LineRegex> = HashMap::new();
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
        let steps = compile_steps(&case, sink, &mut regexes);
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
    /// The file's compiled line regexes, by regex text.
    regexes: &'s mut HashMap<String, LineRegex>,
    vars: HashMap<String, Bound>,
    /// Session names, in index order, with where they were opened (`main` has none).
    sessions: Vec<(String, Option<Pos>)>,
    current: usize,
}

fn compile_steps(
    case: &CaseSyntax,
    sink: &mut Sink,
    regexes: &mut HashMap<String, LineRegex>,
) -> Vec<Step> {
    let mut c = Compiler {
        sink,
        regexes,
        vars: HashMap::from([
            ("user".to_string(), Bound::Profile),
            ("password".to_string(), Bound::Profile),
            ("token".to_string(), Bound::Profile),
            // the TLS channel's bindings (RFC 5802 §6), set by the runner over TLS
            ("tls_exporter".to_string(), Bound::Profile),
            ("tls_server_end_point".to_string(), Bound::Profile),
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
            StepKind::PassIfErr => Some(Action::PassIfErr),
            StepKind::NotApplicableIfErr => Some(Action::NotApplicableIfErr),
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
}

const FUNCS_EXPECTED: &str =
    "one of apop/2, cram_md5/3, base64/1, plain/3, repeat/2, crlf/0, lf/0, cr/0, nul/0, \
     scram_client_first/3, scram_client_final/4, scram_server_signature/4, \
     scram_client_final_cb/5, scram_server_signature_cb/5, scram_attr/2, \
     oauthbearer/2, oauthbearer_kv/3, xoauth2/2, oauth_status/1, prefix/2, min/2";

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
        "scram_client_first" => (Func::ScramClientFirst, 3),
        "scram_client_final" => (Func::ScramClientFinal, 4),
        "scram_server_signature" => (Func::ScramServerSignature, 4),
        "scram_client_final_cb" => (Func::ScramClientFinalCb, 5),
        "scram_server_signature_cb" => (Func::ScramServerSignatureCb, 5),
        "scram_attr" => (Func::ScramAttr, 2),
        "oauthbearer" => (Func::OAuthBearer, 2),
        "oauthbearer_kv" => (Func::OAuthBearerKv, 3),
        "xoauth2" => (Func::Xoauth2, 2),
        "oauth_status" => (Func::OAuthStatus, 1),
        "prefix" => (Func::Prefix, 2),
        "min" => (Func::Min, 2),
        _ => return None,
    })
}
