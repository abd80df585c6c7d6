//! A case's header (`key: value` lines before `---`, LANGUAGE.md §2) → its checked values:
//! one function per key, each reporting its own errors at the value.

use std::collections::HashMap;

use crate::diagnostic::{Pos, Sink, WithExpected};
use crate::plan::{Condition, ConnectionMode, Fixture, Level, RfcRef};
use crate::syntax::{CaseSyntax, HeaderLine, HEADER_KEYS};

/// A case's header, every value checked.
pub(crate) struct Header {
    pub id: String,
    pub id_pos: Pos,
    pub title: String,
    pub rfc: RfcRef,
    pub level: Level,
    pub requirement: String,
    pub requires: Vec<Condition>,
    pub tags: Vec<String>,
    pub fixture: Fixture,
    pub mutates: bool,
    pub after: Vec<String>,
}

const REQUIRED: &[&str] = &["id", "title", "rfc", "level", "requirement"];

/// The case's id (if valid, for the duplicate check) and its header (if all valid).
pub(crate) fn compile_header(
    case: &CaseSyntax,
    sink: &mut Sink,
) -> (Option<(String, Pos)>, Option<Header>) {
    let mut seen: HashMap<&str, Pos> = HashMap::new();
    let mut fields = Fields::default();
    let mut ok = true;
    for h in &case.header {
        ok &= check_key(h, &mut seen, sink) && fields.read(h, sink);
    }
    for key in REQUIRED {
        if !seen.contains_key(key) {
            sink.error(case.start, format!("missing required header key `{key}`"))
                .with_expected(format!("a line `{key}: ...` before `---`"));
            ok = false;
        }
    }
    let key = fields.id.clone();
    (key, fields.finish(ok))
}

/// Whether the line's key is known, not a duplicate, and has a value (only `requires` and
/// `tags` may be empty); reports the error otherwise.
fn check_key<'h>(h: &'h HeaderLine, seen: &mut HashMap<&'h str, Pos>, sink: &mut Sink) -> bool {
    let key = h.key.as_str();
    if !HEADER_KEYS.contains(&key) {
        sink.error(h.key_pos, format!("unknown header key `{key}`"))
            .with_expected(format!("one of {}", HEADER_KEYS.join(", ")));
        return false;
    }
    if let Some(first) = seen.get(key) {
        sink.error(
            h.key_pos,
            format!("duplicate header key `{key}` (first at {first})"),
        );
        return false;
    }
    seen.insert(key, h.key_pos);
    if h.value.is_empty() && !matches!(key, "requires" | "tags") {
        sink.error(h.pos(0), format!("empty value for `{key}`"));
        return false;
    }
    true
}

/// The header's values as they are read (the defaults for the optional keys).
#[derive(Default)]
struct Fields {
    id: Option<(String, Pos)>,
    title: Option<String>,
    rfc: Option<RfcRef>,
    level: Option<Level>,
    requirement: Option<String>,
    requires: Vec<Condition>,
    tags: Vec<String>,
    fixture: Option<Fixture>,
    mutates: bool,
    after: Vec<String>,
}

impl Fields {
    /// Reads one line of a known key; whether its value is valid.
    fn read(&mut self, h: &HeaderLine, sink: &mut Sink) -> bool {
        let v = h.value.as_str();
        match h.key.as_str() {
            "id" => {
                self.id = id(h, sink).map(|id| (id, h.key_pos));
                self.id.is_some()
            }
            "title" => {
                self.title = Some(v.to_owned());
                true
            }
            "rfc" => set(&mut self.rfc, rfc(h, sink)),
            "level" => set(&mut self.level, level(h, sink)),
            "requirement" => set(&mut self.requirement, parse_quoted(h, sink)),
            "requires" => requires(h, sink, &mut self.requires),
            "tags" => {
                let (items, ok) = list_items(h, "tags", sink);
                self.tags = items.into_iter().map(|(item, _)| item).collect();
                ok
            }
            "after" => after(
                h,
                self.id.as_ref().map(|(id, _)| id.as_str()),
                sink,
                &mut self.after,
            ),
            "fixture" => set(&mut self.fixture, fixture(h, sink)),
            _ => match mutates(h, sink) {
                Some(m) => {
                    self.mutates = m;
                    true
                }
                None => false,
            },
        }
    }

    /// The header, when every line was valid and the required keys are there.
    fn finish(self, ok: bool) -> Option<Header> {
        ok.then_some(())?;
        let (id, id_pos) = self.id?;
        Some(Header {
            id,
            id_pos,
            title: self.title?,
            rfc: self.rfc?,
            level: self.level?,
            requirement: self.requirement?,
            requires: self.requires,
            tags: self.tags,
            fixture: self.fixture.unwrap_or(Fixture::Any),
            mutates: self.mutates,
            after: self.after,
        })
    }
}

/// Stores a value that was read; whether there was one.
fn set<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    let ok = value.is_some();
    *slot = value;
    ok
}

/// `id: rfc1939/7/apop-digest`.
fn id(h: &HeaderLine, sink: &mut Sink) -> Option<String> {
    let v = h.value.as_str();
    if valid_id(v) {
        return Some(v.to_owned());
    }
    sink.error(h.pos(0), format!("invalid case id `{v}`"))
        .with_expected("[a-z0-9][a-z0-9._/-]*, e.g. `rfc1939/7/apop-digest`");
    None
}

/// `rfc: 1939 §7`.
fn rfc(h: &HeaderLine, sink: &mut Sink) -> Option<RfcRef> {
    let v = h.value.as_str();
    let r = parse_rfc(v);
    if r.is_none() {
        sink.error(h.pos(0), format!("invalid RFC reference `{v}`"))
            .with_expected("`1939`, `1939 §7`, `1939 §7.1` or `RFC 1939 §7`");
    }
    r
}

/// `level: MUST`.
fn level(h: &HeaderLine, sink: &mut Sink) -> Option<Level> {
    let v = h.value.as_str();
    let l = parse_level(v);
    if l.is_none() {
        sink.error(h.pos(0), format!("invalid level `{v}`"))
            .with_expected("MUST, SHOULD or MAY");
    }
    l
}

/// `fixture: any | messages | standard`.
fn fixture(h: &HeaderLine, sink: &mut Sink) -> Option<Fixture> {
    let v = h.value.as_str();
    match v.to_ascii_lowercase().as_str() {
        "standard" => Some(Fixture::Standard),
        "messages" => Some(Fixture::Messages),
        "any" => Some(Fixture::Any),
        _ => {
            sink.error(h.pos(0), format!("invalid fixture `{v}`"))
                .with_expected("`standard`, `messages` or `any`");
            None
        }
    }
}

/// `mutates: yes | no`.
fn mutates(h: &HeaderLine, sink: &mut Sink) -> Option<bool> {
    let v = h.value.as_str();
    match v.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => {
            sink.error(h.pos(0), format!("invalid value `{v}` for `mutates`"))
                .with_expected("`yes` or `no`");
            None
        }
    }
}

/// The items of a comma-separated value, inner whitespace collapsed, each with the offset of
/// its first character in the value; whether there was no empty item (an empty value has
/// no items and is valid).
fn list_items(h: &HeaderLine, key: &str, sink: &mut Sink) -> (Vec<(String, usize)>, bool) {
    let v = h.value.as_str();
    let mut items = Vec::new();
    let mut ok = true;
    let mut off = 0;
    for part in v.split(',') {
        let item = part.split_whitespace().collect::<Vec<_>>().join(" ");
        if !item.is_empty() {
            items.push((item, off + part.len() - part.trim_start().len()));
        } else if !v.trim().is_empty() {
            sink.error(h.pos(off), format!("empty item in `{key}`"))
                .with_expected("a comma-separated list");
            ok = false;
        }
        off += part.len() + 1;
    }
    (items, ok)
}

/// `requires: STLS, sasl plain, !USER, @TLS`: upper-cased, each item a [`Condition`].
fn requires(h: &HeaderLine, sink: &mut Sink, out: &mut Vec<Condition>) -> bool {
    let (items, mut ok) = list_items(h, "requires", sink);
    for (item, at) in items {
        match requirement(&item.to_uppercase()) {
            Ok(r) => out.push(r),
            Err((message, expected)) => {
                sink.error(h.pos(at), message).with_expected(expected);
                ok = false;
            }
        }
    }
    ok
}

/// One `requires:` item (upper case): `@MODE`, `!TAG` or a capability; else the error and
/// what was expected.
fn requirement(item: &str) -> Result<Condition, (String, String)> {
    if item.starts_with('@') {
        return ConnectionMode::from_name(item)
            .map(Condition::Mode)
            .ok_or_else(|| {
                let names: Vec<&str> = ConnectionMode::ALL.iter().map(|m| m.name()).collect();
                (
                    format!("unknown pseudo-capability `{item}`"),
                    format!("one of {}", names.join(", ")),
                )
            });
    }
    match item.strip_prefix('!').map(str::trim) {
        Some("") => Err((
            "`!` names no capability".to_owned(),
            "`!TAG`, a capability the target must not announce, e.g. `!STLS`".to_owned(),
        )),
        Some(tag) => Ok(Condition::NotAnnounced(tag.to_owned())),
        None => Ok(Condition::Capability(item.to_owned())),
    }
}

/// `after: id, id`: valid ids, none the case's own (`own`, when its `id:` came first).
fn after(h: &HeaderLine, own: Option<&str>, sink: &mut Sink, out: &mut Vec<String>) -> bool {
    let v = h.value.as_str();
    let mut ok = true;
    let mut off = 0;
    for part in v.split(',') {
        let item = part.trim();
        let at = h.pos(off + part.len() - part.trim_start().len());
        if !valid_id(item) {
            sink.error(at, format!("invalid case id `{item}` in `after`"))
                .with_expected("comma-separated case ids, e.g. `rfc1939/7/top-basic`");
            ok = false;
        } else if own == Some(item) {
            sink.error(at, "a case cannot come after itself")
                .with_expected("the id of another case");
            ok = false;
        } else {
            out.push(item.to_owned());
        }
        off += part.len() + 1;
    }
    ok
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
