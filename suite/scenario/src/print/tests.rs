//! The printer inverts the parser: known answers (canonical text prints as itself), the
//! whole catalogue and generated cases round-trip, and plans without text are errors.

use std::fmt::Write as _;
use std::path::PathBuf;

use proptest::prelude::*;

use super::*;
use crate::parse_str;
use crate::plan::Span;

/// A case with every span, source and compiled regex blanked: what must survive a round trip
/// (sources are the printer's canonical text, regexes follow from the pieces).
fn shape(case: &Case) -> String {
    let blank = Span {
        file: Arc::new(PathBuf::new()),
        line: 0,
        col: 0,
    };
    let mut c = case.clone();
    c.span = blank.clone();
    for step in &mut c.steps {
        step.span = blank.clone();
        let clear = |p: &mut Pattern| {
            p.source.clear();
            p.regex = None;
        };
        match &mut step.action {
            Action::Send { template, .. } => template.source.clear(),
            Action::Expect(p)
            | Action::ExpectRepeated(p)
            | Action::ExpectAbsent(p)
            | Action::ExpectPresent(p) => clear(p),
            Action::ExpectAnyOf(ps) | Action::ExpectUnordered(ps) => ps.iter_mut().for_each(clear),
            _ => {}
        }
    }
    format!("{c:#?}")
}

/// `text` parses, prints, parses again to the same plan, and prints the same text again.
fn round_trip(case: &Case) -> Result<(), String> {
    let printed = print(case).map_err(|e| e.to_string())?;
    let back = parse_str("printed.pop3", &printed)
        .map_err(|d| format!("the printed text does not parse:\n{d}\n{printed}"))?;
    if back.len() != 1 {
        return Err(format!("{} cases from:\n{printed}", back.len()));
    }
    if shape(case) != shape(&back[0]) {
        return Err(format!(
            "a different plan from:\n{printed}\nbefore: {}\nafter: {}",
            shape(case),
            shape(&back[0])
        ));
    }
    let again = print(&back[0]).map_err(|e| e.to_string())?;
    if again != printed {
        return Err(format!(
            "not a fixed point:\n{printed}\n---- then ----\n{again}"
        ));
    }
    Ok(())
}

fn one(text: &str) -> Case {
    let mut cases = parse_str("t.pop3", text).unwrap_or_else(|d| panic!("{d}\n{text}"));
    assert_eq!(cases.len(), 1);
    cases.remove(0)
}

const HEADER: &str = "id: t/1
title: T
rfc: 1939 §7
level: MUST
requirement: \"say \\\"hi\\\" \\\\ there\"
fixture: any
mutates: no
---
";

/// Canonical text prints as itself, byte for byte.
#[test]
fn known_answers() {
    let bodies = [
        "S: +OK {*}\nC: QUIT\nS: +OK {*}\neof\n",
        "S: +OK {*}{stamp:<[^<>]*>}{*}\nC: APOP {user} {apop(stamp, password)}\nS: +OK\n",
        "C:\nS:\nC!: STAT{crlf()}NOOP{crlf()}\nS: {{literal}} {/[0-9]+/} x\n",
        "C: XTND {\"\\x00\\r\\n\\t\\\"\\\\\\xff\"} {repeat(\"A\", 2000)}\n",
        "S: +OK {count:\\d+} {total:\\d+}\nC: LIST\nS: +OK {*}\nS*: {num:\\d+} {size:\\d+}\nS: .\nassert sum(size) == total\nassert count(num) == count\nassert count != 0\n",
        "S|: -ERR {*}\nS|: {eof}\nopen c2\nS: +OK {*}\nuse main\ndrop\nuse c2\nlogin\n",
        "C: CAPA\nS: +OK {*}\nS~: USER\nS~: SASL {mechs}\nS!: STLS\nS+: TOP\nS: .\n",
        "C: RETR 1\nS: +OK {size}\nB: octets=size fixture=1 lines=12 capture=body\nB?: top=7,12\nB:\nassert unique(body)\nassert not_reused(body, body)\n",
        "C: STLS\nS|: +OK {*}\nS|: -ERR {*}\nstarttls if ok\nstarttls or eof\nstarttls\nreseed\n",
        "S: +OK {x} {x2:a{1,3}} {/a\\/}b/}\nS: {x}{x2}\n",
    ];
    for body in bodies {
        let text = format!("{HEADER}{body}");
        let case = one(&text);
        assert_eq!(print(&case).unwrap(), text);
        round_trip(&case).unwrap();
    }
    let full = "id: rfc1939/7/x\ntitle: A title: with a colon\nrfc: 2449 §6.1\nlevel: SHOULD\nrequirement: \"r\"\nrequires: SASL PLAIN, !STLS, @TLS\ntags: a, b c\nfixture: standard\nmutates: yes\nafter: rfc1939/7/y, z\n---\nC: NOOP\n";
    assert_eq!(print(&one(full)).unwrap(), full);
}

/// Header spellings the printer normalises (the plan is the same).
#[test]
fn header_spellings_normalise() {
    let text = "id: t/2\ntitle:   T  \nrfc: RFC1939§7\nlevel: must not\nrequirement: \"r\"\nrequires: stls,  sasl   plain\ntags:\n---\nC: NOOP\n";
    let case = one(text);
    let printed = print(&case).unwrap();
    assert!(
        printed.starts_with("id: t/2\ntitle: T\nrfc: 1939 §7\nlevel: MUST\n"),
        "{printed}"
    );
    assert!(
        printed.contains("requires: STLS, SASL PLAIN\n"),
        "{printed}"
    );
    round_trip(&case).unwrap();
}

/// Comments go where they are asked for, and only there.
#[test]
fn comments_are_printed_around_the_plan() {
    let case = one(&format!("{HEADER}C: NOOP\nS: +OK {{*}}\n"));
    let comments = Comments {
        preamble: vec!["Written by a test.".into(), String::new()],
        before_step: [(1, vec!["the answer".into()])].into(),
    };
    let text = print_commented(&case, &comments).unwrap();
    assert!(
        text.starts_with("# Written by a test.\n#\n\nid: t/1\n"),
        "{text}"
    );
    assert!(
        text.ends_with("C: NOOP\n# the answer\nS: +OK {*}\n"),
        "{text}"
    );
    let back = one(&text);
    assert_eq!(shape(&back), shape(&case));
}

/// Plans the language cannot write are errors that say where and why.
#[test]
fn unprintable_plans() {
    let case = one(&format!(
        "{HEADER}S|: +OK\nS|: -ERR\nC: NOOP\nS|: +OK\nS|: -ERR\n"
    ));
    let mut adjacent = case.clone();
    adjacent.steps.remove(1);
    let e = print(&adjacent).unwrap_err();
    assert_eq!(
        (e.place.clone(), e.reason.clone()),
        (Place::Step(1), Reason::AdjacentGroups)
    );
    assert!(e.to_string().starts_with("case `t/1`, step 2: "), "{e}");

    let mut eof = one(&format!("{HEADER}S: x\n"));
    let Action::Expect(p) = &mut eof.steps[0].action else {
        unreachable!()
    };
    p.pieces = vec![Piece::Eof];
    assert_eq!(print(&eof).unwrap_err().reason, Reason::MisplacedEof);

    let mut control = one(&format!("{HEADER}S: x\n"));
    let Action::Expect(p) = &mut control.steps[0].action else {
        unreachable!()
    };
    p.pieces = vec![Piece::Literal("a\rb".into())];
    assert_eq!(
        print(&control).unwrap_err().reason,
        Reason::ControlCharacter
    );

    let mut wild = control.clone();
    let Action::Expect(p) = &mut wild.steps[0].action else {
        unreachable!()
    };
    p.pieces = vec![
        Piece::Literal("+OK ".into()),
        Piece::Wildcard { trailing: false },
    ];
    assert_eq!(print(&wild).unwrap_err().reason, Reason::AmbiguousWildcard);

    let mut regex = control.clone();
    let Action::Expect(p) = &mut regex.steps[0].action else {
        unreachable!()
    };
    p.pieces = vec![Piece::Regex("a/}b".into())];
    assert!(matches!(
        print(&regex).unwrap_err().reason,
        Reason::Regex(_)
    ));

    let mut session = control.clone();
    session.steps[0].session = 1;
    assert_eq!(print(&session).unwrap_err().reason, Reason::Session(1));

    let mut title = control.clone();
    title.title = "two\nlines".into();
    assert_eq!(print(&title).unwrap_err().place, Place::Header("title"));

    let mut none = control;
    none.steps.clear();
    assert_eq!(print(&none).unwrap_err().reason, Reason::NoSteps);
}

/// Every case of the catalogue round-trips.
#[test]
fn the_catalogue_round_trips() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let cases = crate::load_paths(&[root]).unwrap_or_else(|d| panic!("{d}"));
    assert!(cases.len() > 100, "{}", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| round_trip(c).err().map(|e| format!("{}: {e}", c.id)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The built constructors agree with the parser.
#[test]
fn constructed_patterns_and_templates_match_parsed_ones() {
    let built = Pattern::from_pieces(vec![
        Piece::Literal("+OK ".into()),
        Piece::Capture {
            name: "n".into(),
            regex: "\\d+".into(),
        },
        Piece::Wildcard { trailing: true },
    ]);
    assert_eq!(built.source, "+OK {n:\\d+} {*}");
    assert!(built.regex.is_some());
    let parsed = one(&format!("{HEADER}S: +OK {{n:\\d+}} {{*}}\n"));
    let Action::Expect(p) = &parsed.steps[0].action else {
        unreachable!()
    };
    assert_eq!(format!("{:?}", p.pieces), format!("{:?}", built.pieces));
    assert_eq!(
        p.regex.as_ref().map(|r| r.0.as_str().to_owned()),
        built.regex.map(|r| r.0.as_str().to_owned())
    );
    let t = Template::from_pieces(vec![
        TemplatePiece::Literal(b"USER ".to_vec()),
        TemplatePiece::Expr(Expr::Var("user".into())),
    ]);
    assert_eq!(t.source, "USER {user}");
}

// ---- generated cases ----

/// One generated step, rendered to text with the names bound so far.
#[derive(Debug, Clone)]
enum Gen {
    Send(bool, Vec<Tpl>),
    Expect(u8, Vec<Pat>),
    Group(bool, Vec<Vec<Pat>>, bool),
    Body(bool, Vec<u8>),
    Word(u8),
    Open,
    Use(u8),
    Assert(u8),
}

#[derive(Debug, Clone)]
enum Tpl {
    Lit(String),
    Bound(u8),
    Str(Vec<u8>),
    Int(u64),
    Call(u8),
}

#[derive(Debug, Clone)]
enum Pat {
    Lit(String),
    Wild,
    Capture(Option<&'static str>),
    Back(u8),
    Regex(&'static str),
}

const REGEXES: &[&str] = &[
    "\\d+",
    "<[^<>]*>",
    "[!-~]{1,70}",
    "a|b",
    "(?:x)?",
    "[}{]",
    "\\}",
];

fn text() -> impl Strategy<Value = String> {
    "[ -~]{1,6}|é{1,2}"
}

fn tpl() -> impl Strategy<Value = Tpl> {
    prop_oneof![
        3 => text().prop_map(Tpl::Lit),
        1 => any::<u8>().prop_map(Tpl::Bound),
        1 => proptest::collection::vec(any::<u8>(), 0..6).prop_map(Tpl::Str),
        1 => any::<u64>().prop_map(Tpl::Int),
        1 => (0u8..5).prop_map(Tpl::Call),
    ]
}

fn pat() -> impl Strategy<Value = Pat> {
    prop_oneof![
        3 => text().prop_map(Pat::Lit),
        1 => Just(Pat::Wild),
        2 => proptest::option::of(proptest::sample::select(REGEXES)).prop_map(Pat::Capture),
        1 => any::<u8>().prop_map(Pat::Back),
        1 => proptest::sample::select(REGEXES).prop_map(Pat::Regex),
    ]
}

fn gen() -> impl Strategy<Value = Gen> {
    let pats = || proptest::collection::vec(pat(), 0..5);
    prop_oneof![
        3 => (any::<bool>(), proptest::collection::vec(tpl(), 0..5)).prop_map(|(c, t)| Gen::Send(c, t)),
        4 => (0u8..4, pats()).prop_map(|(m, p)| Gen::Expect(m, p)),
        1 => (any::<bool>(), proptest::collection::vec(pats(), 1..4), any::<bool>())
            .prop_map(|(a, ps, eof)| Gen::Group(a, ps, eof)),
        1 => (any::<bool>(), proptest::collection::vec(0u8..5, 0..4)).prop_map(|(i, c)| Gen::Body(i, c)),
        1 => (0u8..8).prop_map(Gen::Word),
        1 => Just(Gen::Open),
        1 => any::<u8>().prop_map(Gen::Use),
        1 => (0u8..4).prop_map(Gen::Assert),
    ]
}

/// Renders generated steps as a case's text, binding names as the language requires.
#[derive(Default)]
struct Render {
    out: String,
    scalars: Vec<String>,
    lists: Vec<String>,
    fresh: usize,
    sessions: usize,
}

impl Render {
    fn fresh(&mut self) -> String {
        self.fresh += 1;
        format!("v{}", self.fresh)
    }

    fn scalar(&self, k: u8) -> String {
        let all: Vec<&String> = self.scalars.iter().chain(&self.lists).collect();
        match all.len() {
            0 => "user".to_owned(),
            n => all[usize::from(k) % n].clone(),
        }
    }

    fn template(&self, pieces: &[Tpl]) -> String {
        let mut s = String::new();
        for p in pieces {
            match p {
                Tpl::Lit(t) => s.push_str(&t.replace('{', "{{").replace('}', "}}")),
                Tpl::Bound(k) => {
                    let _ = write!(s, "{{{}}}", self.scalar(*k));
                }
                Tpl::Str(b) => {
                    let _ = write!(s, "{{{}}}", string_text(b));
                }
                Tpl::Int(n) => {
                    let _ = write!(s, "{{ {n} }}");
                }
                Tpl::Call(f) => s.push_str(match f {
                    0 => "{crlf()}",
                    1 => "{plain(\"\", user, password)}",
                    2 => "{base64( repeat(\"ab\",3) )}",
                    3 => "{apop(user,password)}",
                    _ => "{cram_md5(\"x\", user, password)}",
                }),
            }
        }
        s
    }

    /// A pattern's text; its captures are returned (bound by the caller).
    fn pattern(&mut self, pieces: &[Pat], may_capture: bool) -> (String, Vec<String>) {
        let mut s = String::new();
        let mut caps = Vec::new();
        for p in pieces {
            match p {
                Pat::Lit(t) => s.push_str(&t.replace('{', "{{").replace('}', "}}")),
                Pat::Wild => s.push_str("{*}"),
                Pat::Capture(re) if may_capture => {
                    let name = self.fresh();
                    match re {
                        Some(re) => {
                            let _ = write!(s, "{{{name}:{re}}}");
                        }
                        None => {
                            let _ = write!(s, "{{{name}}}");
                        }
                    }
                    caps.push(name);
                }
                Pat::Capture(_) => s.push_str("{*}"),
                Pat::Back(k) => {
                    let _ = write!(s, "{{{}}}", self.scalar(*k));
                }
                Pat::Regex(re) => {
                    let _ = write!(s, "{{/{re}/}}");
                }
            }
        }
        (s, caps)
    }

    fn line(&mut self, prefix: &str, text: &str) {
        let _ = writeln!(self.out, "{prefix} {text}");
    }

    fn step(&mut self, g: &Gen) {
        match g {
            Gen::Send(crlf, t) => {
                let text = self.template(t);
                self.line(if *crlf { "C:" } else { "C!:" }, &text);
            }
            Gen::Expect(mode, p) => {
                let (prefix, capture) = match mode {
                    0 => ("S:", true),
                    1 => ("S*:", true),
                    2 => ("S!:", false),
                    _ => ("S+:", false),
                };
                let (text, caps) = self.pattern(p, capture);
                self.line(prefix, &text);
                if *mode == 1 {
                    self.lists.extend(caps);
                } else {
                    self.scalars.extend(caps);
                }
            }
            Gen::Group(any_of, ps, eof) => {
                let prefix = if *any_of { "S|:" } else { "S~:" };
                let mut bound = Vec::new();
                for p in ps {
                    let (text, caps) = self.pattern(p, true);
                    self.line(prefix, &text);
                    bound.extend(caps);
                }
                if *any_of && *eof {
                    self.line(prefix, "{eof}");
                }
                // captured by only some alternatives of an `S|:` group: not usable later
                if !*any_of {
                    self.scalars.extend(bound);
                }
                // a group ends at the next step of another kind
                self.line("C:", "NOOP");
            }
            Gen::Body(if_ok, checks) => {
                let mut parts = Vec::new();
                let mut caps = Vec::new();
                for c in checks {
                    parts.push(match c {
                        0 => format!("octets={}", self.scalar(1)),
                        1 => "lines=12".to_owned(),
                        2 => "fixture=3".to_owned(),
                        3 => "top=7,0".to_owned(),
                        _ => {
                            let name = self.fresh();
                            caps.push(name.clone());
                            format!("capture={name}")
                        }
                    });
                }
                self.line(if *if_ok { "B?:" } else { "B:" }, &parts.join(" "));
                self.lists.extend(caps);
            }
            Gen::Word(w) => {
                let word = [
                    "login",
                    "reseed",
                    "starttls",
                    "starttls or eof",
                    "starttls if ok",
                    "drop",
                    "eof",
                    "login",
                ][usize::from(*w)];
                let _ = writeln!(self.out, "{word}");
            }
            Gen::Open => {
                self.sessions += 1;
                let _ = writeln!(self.out, "open s{}", self.sessions);
            }
            Gen::Use(k) => {
                let k = usize::from(*k) % (self.sessions + 1);
                let name = if k == 0 {
                    "main".to_owned()
                } else {
                    format!("s{k}")
                };
                let _ = writeln!(self.out, "use {name}");
            }
            Gen::Assert(a) => {
                let x = self.scalar(0);
                let text = match (a, self.lists.first()) {
                    (0, _) => format!("{x} == \"a\\x00\""),
                    (1, _) => format!("{x} != 7"),
                    (2, Some(l)) => format!("unique({l})"),
                    (_, Some(l)) => format!("sum({l}) != count({l})"),
                    _ => format!("1 != {x}"),
                };
                self.line("assert", &text);
            }
        }
    }
}

fn generated_case() -> impl Strategy<Value = String> {
    (proptest::collection::vec(gen(), 1..16), any::<bool>()).prop_map(|(steps, standard)| {
        let mut r = Render::default();
        for g in &steps {
            r.step(g);
        }
        r.line("C:", "QUIT");
        let header = format!(
            "id: gen/1\ntitle: Generated\nrfc: RFC 1939 §7\nlevel: may\nrequirement: \"q\"\ntags: x\nfixture: {}\n---\n",
            if standard { "standard" } else { "any" }
        );
        format!("{header}{}", r.out)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// parse(print(c)) is c for generated cases (the text generated, then parsed: the plans
    /// the parser gives are the printer's domain).
    #[test]
    fn generated_cases_round_trip(text in generated_case()) {
        let case = one(&text);
        if let Err(e) = round_trip(&case) {
            prop_assert!(false, "{e}\nfrom:\n{text}");
        }
    }
}
