//! How a pattern matches a line (LANGUAGE.md §3.2): the whole pattern is one regex over the
//! line's bytes, anchored at both ends. The compiler builds it once for a pattern that
//! depends on no bound value ([`Pattern::regex`]); the runner builds the others when it judges
//! a line, with [`Pattern::regex_text`] and the values bound then.

use regex::bytes::Regex;

use crate::plan::{Captures, LineRegex, Pattern, Piece};

/// The flags of every line regex: bytes, not UTF-8 (`-u`: a line may hold any octet, RFC 1939
/// §3), and `.` matches every byte (`s`).
const FLAGS: &str = "(?s-u)";

impl Pattern {
    /// The text of the regex that matches a whole line: `(?s-u)^ ... $`, with each piece
    /// as follows. A literal is escaped; `{*}` is `.*?` (shortest match); the trailing ` {*}`
    /// is `(?: .*)?` (optional with its space); `{name}` / `{name:REGEX}` is the group
    /// `((?u:REGEX))` and `{/REGEX/}` is `(?u:REGEX)` (the scenario's regexes are Unicode
    /// regexes, as the compiler checked them); a back-reference is the bound value, escaped,
    /// read as UTF-8 (an invalid sequence becomes U+FFFD). `value` gives a name's bound value.
    ///
    /// `None` for `{eof}` (it matches no line) and for a back-reference to a name `value`
    /// does not know.
    pub fn regex_text<'v>(&self, value: impl Fn(&str) -> Option<&'v [u8]>) -> Option<String> {
        let mut re = format!("{FLAGS}^");
        for piece in &self.pieces {
            match piece {
                Piece::Literal(t) => re.push_str(&regex::escape(t)),
                Piece::Wildcard { trailing: false } => re.push_str(".*?"),
                Piece::Wildcard { trailing: true } => re.push_str("(?: .*)?"),
                Piece::Capture { regex, .. } => re.push_str(&format!("((?u:{regex}))")),
                Piece::Var(name) => {
                    re.push_str(&regex::escape(&String::from_utf8_lossy(value(name)?)));
                }
                Piece::Regex(r) => re.push_str(&format!("(?u:{r})")),
                Piece::Eof => return None,
            }
        }
        re.push('$');
        Some(re)
    }

    /// Whether the pattern depends on bound values (a back-reference): its regex is then
    /// built when a line is judged.
    pub fn has_back_references(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Var(_)))
    }

    /// Whether this is the `{eof}` alternative of an `S|:` group (the server closes).
    pub fn is_eof(&self) -> bool {
        matches!(self.pieces[..], [Piece::Eof])
    }

    /// The names the pattern captures, in the order of the regex's groups.
    pub fn capture_names(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Capture { name, .. } => Some(name.as_str()),
            _ => None,
        })
    }

    /// The captures, name and bytes, when `re` (this pattern's regex) matches `line`.
    pub fn captures_with(&self, re: &Regex, line: &[u8]) -> Option<Captures> {
        let caps = re.captures(line)?;
        Some(
            self.capture_names()
                .enumerate()
                .map(|(i, name)| {
                    let bytes = caps
                        .get(i + 1)
                        .map_or(Vec::new(), |m| m.as_bytes().to_vec());
                    (name.to_owned(), bytes)
                })
                .collect(),
        )
    }

    /// Matches `line` with the compiled regex, or one built now from `value`'s bindings (no
    /// cache: for tests and one-off uses; the runner keeps the regexes it builds).
    pub fn match_line<'v>(
        &self,
        line: &[u8],
        value: impl Fn(&str) -> Option<&'v [u8]>,
    ) -> Option<Captures> {
        match &self.regex {
            Some(LineRegex(re)) => self.captures_with(re, line),
            None => {
                let re = Regex::new(&self.regex_text(value)?).ok()?;
                self.captures_with(&re, line)
            }
        }
    }
}

/// The compiled regex of a pattern without back-references (`None` for one with them, and
/// for `{eof}`), or why it does not compile as a whole (each piece compiled on its own, but
/// together they may pass the regex crate's size limit).
pub(crate) fn fixed_regex(pattern: &Pattern) -> Option<Result<LineRegex, regex::Error>> {
    if pattern.has_back_references() {
        return None;
    }
    let text = pattern.regex_text(|_| None)?;
    Some(Regex::new(&text).map(LineRegex))
}
