//! Patterns (`S:` lines and their groups): pieces, captures, regexes, the compiled line regex.

use super::*;

impl Compiler<'_> {
    /// Compiles one pattern (of the step line at `at`) against the names bound before it.
    /// Returns the pattern and the names it captures (bound by the caller, after the line).
    pub(super) fn pattern(
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
    pub(super) fn reserved_eof(&mut self, p: &PatternSyn) {
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
    pub(super) fn name_piece(
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
    pub(super) fn name_regex_piece(
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
    pub(super) fn already_bound(&mut self, name: &str, bound: Bound, pos: Pos) {
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
    pub(super) fn line_regex(&mut self, pattern: &Pattern, at: Pos) -> Option<LineRegex> {
        if pattern.has_back_references() {
            return None;
        }
        let text = pattern.regex_text(|_| None)?;
        if let Some(re) = self.regexes.get(&text) {
            return Some(re.clone());
        }
        match fixed_regex(pattern)? {
            Ok(re) => {
                self.regexes.insert(text, re.clone());
                Some(re)
            }
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
    pub(super) fn captured_here(&mut self, name: &str, pos: Pos, caps: &[(String, Pos)]) -> bool {
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

    pub(super) fn check_regex(&mut self, re: &str, pos: Pos) -> bool {
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
    pub(super) fn group(
        &mut self,
        mode: ExpectMode,
        group_pos: Pos,
        lines: &[(Pos, &PatternSyn)],
    ) -> Action {
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
}

/// A ` {*}` that ends a pattern is optional together with its space (LANGUAGE.md §3.2): the
/// space moves into the wildcard.
pub(super) fn optional_trailing_wildcard(pieces: &mut Vec<Piece>) {
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

/// The one-line gist of a `regex` error (its Display spans several lines).
pub(super) fn regex_error_summary(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map_or_else(
            || text.lines().last().unwrap_or("").trim().to_string(),
            str::to_string,
        )
}
