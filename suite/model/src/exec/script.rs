//! The scenario a run writes as it goes: typed steps of the scenario plan
//! ([`scenario::plan`]), each on the session it acts on, with the comments that explain a
//! choice the server took. [`crate::replay`] turns it into a [`scenario::plan::Case`] and
//! [`scenario::print`] writes the text, so the file `conform run` replays is the plan the
//! model recorded, never text patched together.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use scenario::plan::{
    AExpr, Action, Assertion, BodyCheck, Expr, Func, Pattern, Piece, Span, Step, Template,
    TemplatePiece,
};
use scenario::print::{pattern_text, Comments};

/// One line of the scenario as recorded: a step, or a comment before the next step.
#[derive(Debug, Clone)]
pub enum ScriptLine {
    /// A step on session `session` (0 is `main`, LANGUAGE.md §3.8).
    Step {
        /// The connection it acts on.
        session: usize,
        /// What it does.
        action: Action,
    },
    /// `# text`.
    Comment(String),
}

/// The sequence as a scenario: its lines, and what the header must say.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// The lines, in order.
    pub lines: Vec<ScriptLine>,
    /// Capabilities the steps need (`requires:`).
    pub requires: BTreeSet<&'static str>,
    /// The case changes the maildrop (`mutates:`).
    pub mutates: bool,
}

impl Script {
    /// Records `action` on `session`.
    pub(crate) fn push(&mut self, session: usize, action: Action) {
        self.lines.push(ScriptLine::Step { session, action });
    }

    /// Records a comment before the next step.
    pub(crate) fn comment(&mut self, text: impl Into<String>) {
        self.lines.push(ScriptLine::Comment(text.into()));
    }

    /// Where the next line goes: a place [`Script::insert`] can put steps later.
    pub(crate) fn mark(&self) -> usize {
        self.lines.len()
    }

    /// Inserts steps at `mark` (a check the scenario needs before a command it recorded
    /// earlier: the LIST before a STAT whose total turned out to disagree).
    pub(crate) fn insert(&mut self, mark: usize, session: usize, actions: Vec<Action>) {
        let at = mark.min(self.lines.len());
        let lines = actions
            .into_iter()
            .map(|action| ScriptLine::Step { session, action });
        self.lines.splice(at..at, lines);
    }

    /// The plan's steps (spans all at `file`, line 0) and the comments before them.
    pub fn steps(&self, file: &Arc<PathBuf>) -> (Vec<Step>, Comments) {
        let mut steps = Vec::new();
        let mut comments = Comments::default();
        for line in &self.lines {
            match line {
                ScriptLine::Step { session, action } => steps.push(Step {
                    span: Span {
                        file: file.clone(),
                        line: 0,
                        col: 0,
                    },
                    session: *session,
                    action: action.clone(),
                }),
                ScriptLine::Comment(text) => comments
                    .before_step
                    .entry(steps.len())
                    .or_default()
                    .push(text.clone()),
            }
        }
        (steps, comments)
    }
}

/// Builds a [`Pattern`] piece by piece, as the compiler would from its text (adjacent
/// literals merged; [`PatternBuilder::rest`] is the optional trailing ` {*}`, LANGUAGE.md §3.2).
#[derive(Debug, Default)]
pub(crate) struct PatternBuilder(Vec<Piece>);

impl PatternBuilder {
    pub(crate) fn new() -> PatternBuilder {
        PatternBuilder::default()
    }

    /// Literal text.
    pub(crate) fn lit(mut self, text: &str) -> PatternBuilder {
        match self.0.last_mut() {
            Some(Piece::Literal(prev)) => prev.push_str(text),
            _ => self.0.push(Piece::Literal(text.to_owned())),
        }
        self
    }

    /// `{*}`.
    pub(crate) fn any(mut self) -> PatternBuilder {
        self.0.push(Piece::Wildcard { trailing: false });
        self
    }

    /// ` {*}` at the end: anything, or nothing with its space.
    pub(crate) fn rest(mut self) -> PatternBuilder {
        self.0.push(Piece::Wildcard { trailing: true });
        self
    }

    /// `{name:regex}`.
    pub(crate) fn capture(mut self, name: &str, regex: &str) -> PatternBuilder {
        self.0.push(Piece::Capture {
            name: name.to_owned(),
            regex: regex.to_owned(),
        });
        self
    }

    /// `{name}`, a name bound before.
    pub(crate) fn var(mut self, name: &str) -> PatternBuilder {
        self.0.push(Piece::Var(name.to_owned()));
        self
    }

    /// `{/regex/}`.
    pub(crate) fn regex(mut self, regex: &str) -> PatternBuilder {
        self.0.push(Piece::Regex(regex.to_owned()));
        self
    }

    /// The pattern, its source the printer's text. Its whole-line regex is left to whoever
    /// runs the plan (the model only prints it; compiling a regex per recorded line would
    /// cost more than the run).
    pub(crate) fn done(self) -> Pattern {
        uncompiled(self.0)
    }
}

/// `+OK {*}`.
pub(crate) fn ok_any() -> Pattern {
    PatternBuilder::new().lit("+OK").rest().done()
}

/// `-ERR {*}`.
pub(crate) fn err_any() -> Pattern {
    PatternBuilder::new().lit("-ERR").rest().done()
}

/// `{eof}`: the server closes instead of answering (an `S|:` alternative).
pub(crate) fn eof() -> Pattern {
    uncompiled(vec![Piece::Eof])
}

/// A pattern of `pieces` without its compiled regex.
fn uncompiled(pieces: Vec<Piece>) -> Pattern {
    let mut pattern = Pattern {
        source: String::new(),
        pieces,
        regex: None,
    };
    let alternative = pattern.is_eof();
    pattern.source = pattern_text(&pattern, alternative).unwrap_or_default();
    pattern
}

/// A line to send, built piece by piece (adjacent literal bytes merged, as the parser reads
/// them).
#[derive(Debug, Default)]
pub(crate) struct TemplateBuilder(Vec<TemplatePiece>);

impl TemplateBuilder {
    pub(crate) fn new() -> TemplateBuilder {
        TemplateBuilder::default()
    }

    /// Bytes sent as they are.
    pub(crate) fn lit(mut self, bytes: impl AsRef<[u8]>) -> TemplateBuilder {
        match self.0.last_mut() {
            Some(TemplatePiece::Literal(prev)) => prev.extend_from_slice(bytes.as_ref()),
            _ => self.0.push(TemplatePiece::Literal(bytes.as_ref().to_vec())),
        }
        self
    }

    /// `{expr}`.
    pub(crate) fn expr(mut self, e: Expr) -> TemplateBuilder {
        self.0.push(TemplatePiece::Expr(e));
        self
    }

    pub(crate) fn done(self) -> Template {
        Template::from_pieces(self.0)
    }
}

/// A variable.
pub(crate) fn var(name: &str) -> Expr {
    Expr::Var(name.to_owned())
}

/// A string literal.
pub(crate) fn string(text: &str) -> Expr {
    Expr::Str(text.as_bytes().to_vec())
}

/// A call.
pub(crate) fn call(func: Func, args: Vec<Expr>) -> Expr {
    Expr::Call(func, args)
}

/// `C: template`.
pub(crate) fn send(template: Template) -> Action {
    Action::Send {
        template,
        crlf: true,
    }
}

/// `C!: template` (nothing appended).
pub(crate) fn send_raw(template: Template) -> Action {
    Action::Send {
        template,
        crlf: false,
    }
}

/// `B: octets=VAR` (when the size is known to the scenario) and the fixture check.
pub(crate) fn body(checks: Vec<BodyCheck>) -> Action {
    Action::Body(checks)
}

/// `assert a == b` over two scenario variables.
pub(crate) fn assert_same(a: &str, b: &str) -> Action {
    Action::Assert(Assertion::Eq(AExpr::Value(var(a)), AExpr::Value(var(b))))
}

/// `assert a != b`.
pub(crate) fn assert_differ(a: &str, b: &str) -> Action {
    Action::Assert(Assertion::Ne(AExpr::Value(var(a)), AExpr::Value(var(b))))
}

/// `assert sum(list) == total`.
pub(crate) fn assert_sum(list: &str, total: &str) -> Action {
    Action::Assert(Assertion::Eq(
        AExpr::Sum(list.to_owned()),
        AExpr::Value(var(total)),
    ))
}
