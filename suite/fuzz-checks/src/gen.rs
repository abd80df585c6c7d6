//! Generators of well-formed protocol values from [`Unstructured`] bytes, for the round-trip
//! targets. Each builds only values the grammar allows, so "encode, then decode" must give
//! the value back (or a length error when the encoded line is over its cap).

use arbitrary::{Result, Unstructured};

/// One character that is not a control character (RFC 2449 §3 `VCHAR` widened to the
/// UTF-8 the parsers accept, RFC 6856): mostly printable ASCII, sometimes any non-ASCII
/// scalar value. `space` also allows SP, `tab` also allows HTAB.
fn char_of(u: &mut Unstructured<'_>, space: bool, tab: bool) -> Result<char> {
    if u.ratio(7u8, 8u8)? {
        let lo = if space { 0x20 } else { 0x21 };
        let c = char::from(u.int_in_range(lo..=0x7eu8)?);
        return Ok(c);
    }
    let c: char = u.arbitrary()?;
    Ok(match c {
        '\t' if tab => '\t',
        c if u32::from(c) < 0x80 => char::from(0x21 + (u32::from(c) % 94) as u8),
        c => c,
    })
}

/// `1*VCHAR` of at most `max` characters: a command parameter (RFC 2449 §3).
pub fn word(u: &mut Unstructured<'_>, max: usize) -> Result<String> {
    let n = u.int_in_range(1..=max.max(1))?;
    (0..n).map(|_| char_of(u, false, false)).collect()
}

/// Free text of at most `max` characters (SP allowed, `tab` allows HTAB): a PASS argument,
/// the text of a status line, IMPLEMENTATION.
pub fn text(u: &mut Unstructured<'_>, min: usize, max: usize, tab: bool) -> Result<String> {
    let n = u.int_in_range(min..=max.max(min))?;
    (0..n).map(|_| char_of(u, true, tab)).collect()
}

/// `1*c` of printable ASCII characters accepted by `allowed`, at most `max` long.
pub fn ascii(u: &mut Unstructured<'_>, max: usize, allowed: impl Fn(u8) -> bool) -> Result<String> {
    let alphabet: Vec<u8> = (0x21..=0x7eu8).filter(|&b| allowed(b)).collect();
    let n = u.int_in_range(1..=max.max(1))?;
    (0..n)
        .map(|_| u.choose(&alphabet).map(|&b| char::from(b)))
        .collect()
}

/// Upper- or lower-cases each ASCII letter of `s` as the input says (keywords and tags
/// are case-insensitive, RFC 1939 §3, RFC 2449 §3).
pub fn recase(u: &mut Unstructured<'_>, s: &str) -> Result<String> {
    s.chars()
        .map(|c| {
            Ok(if u.arbitrary::<bool>()? {
                c.to_ascii_lowercase()
            } else {
                c
            })
        })
        .collect()
}
