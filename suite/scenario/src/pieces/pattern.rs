//! `S:` patterns: literal text, `{*}`, `{name}`, `{name:regex}`, `{/regex/}`.

use super::*;
use crate::diagnostic::{Sink, WithExpected};

const PIECE_EXPECTED: &str = "`{*}`, `{name}`, `{name:regex}` or `{/regex/}`";

/// Parses the text of an `S:` line.
pub(crate) fn parse_pattern(f: Frag<'_>, sink: &mut Sink) -> PatternSyn {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let text = f.text;
    let mut i = 0;
    while let Some(c) = f.char_at(i) {
        let rest = &text[i..];
        if rest.starts_with("{{") || rest.starts_with("}}") {
            lit.push(c);
            i += 2;
            continue;
        }
        if c == '}' {
            sink.error(f.pos(i), "unmatched `}`")
                .with_expected("`}}` for a literal brace");
            lit.push('}');
            i += 1;
            continue;
        }
        if c != '{' {
            lit.push(c);
            i += c.len_utf8();
            continue;
        }
        // A `{` piece.
        if !lit.is_empty() {
            pieces.push(PatPieceSyn::Literal(std::mem::take(&mut lit)));
        }
        let pos = f.pos(i);
        if rest.starts_with("{*}") {
            pieces.push(PatPieceSyn::Wildcard);
            i += 3;
        } else if let Some(body) = rest.strip_prefix("{/") {
            match find_regex_end(body) {
                Some(end) => {
                    pieces.push(PatPieceSyn::Regex {
                        regex: body[..end].to_string(),
                        pos,
                    });
                    i += 2 + end + 2;
                }
                None => {
                    sink.error(pos, "unterminated `{/`").with_expected("`/}`");
                    break;
                }
            }
        } else {
            let body = &rest[1..];
            let name_len = body
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(body.len());
            let name = &body[..name_len];
            let after = &body[name_len..];
            if after.is_empty() {
                sink.error(pos, "unterminated `{`").with_expected("`}`");
                break;
            }
            if !name.is_empty() && after.starts_with('}') {
                if check_name(name, pos, sink).is_ok() {
                    pieces.push(PatPieceSyn::Name {
                        name: name.to_string(),
                        pos,
                    });
                }
                i += 1 + name_len + 1;
            } else if !name.is_empty() && after.starts_with(':') {
                let re_text = &after[1..];
                match find_brace_end(re_text) {
                    Some(end) => {
                        if check_name(name, pos, sink).is_ok() {
                            pieces.push(PatPieceSyn::NameRegex {
                                name: name.to_string(),
                                regex: re_text[..end].to_string(),
                                pos,
                            });
                        }
                        i += 1 + name_len + 1 + end + 1;
                    }
                    None => {
                        sink.error(pos, "unterminated `{`").with_expected("`}`");
                        break;
                    }
                }
            } else if let Some(off) = rest.find('}') {
                sink.error(pos, "invalid pattern piece")
                    .with_expected(PIECE_EXPECTED);
                i += off + 1;
            } else {
                sink.error(pos, "unterminated `{`").with_expected("`}`");
                break;
            }
        }
    }
    if !lit.is_empty() {
        pieces.push(PatPieceSyn::Literal(lit));
    }
    PatternSyn {
        source: text.to_string(),
        pieces,
    }
}

/// In the text after `{/`: the offset of the first `/}` not escaped by a backslash.
fn find_regex_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'/' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// In the text after `{name:`: the offset of the `}` that closes the piece. Braces in the
/// regex nest (`\d{1,3}`), backslash escapes and character classes are skipped.
fn find_brace_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut class = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                i += 2;
                continue;
            }
            b'[' => {
                class += 1;
                // A `]` right after `[` or `[^` is literal.
                if b.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b']' if class > 0 => class -= 1,
            b'{' if class == 0 => depth += 1,
            b'}' if class == 0 => {
                if depth == 0 {
                    return Some(i);
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}
