//! The steps that read and judge server lines: `S:`, `S|:`, `S~:`, `S*:`, `S!:`, `S+:`, and
//! sending `C:` lines.

use super::*;

impl Run<'_> {
    /// Whether the last line read on `session` was a positive status line (`B?:`, `starttls
    /// if ok`).
    pub(super) fn last_was_ok(&self, session: usize) -> bool {
        self.last
            .get(session)
            .is_some_and(|l| l.starts_with(b"+OK"))
    }

    /// Whether the last line read on `session` was a negative status (`pass if err`,
    /// `not applicable if err`).
    pub(super) fn last_was_err(&self, session: usize) -> bool {
        self.last
            .get(session)
            .is_some_and(|l| l.starts_with(b"-ERR"))
    }

    /// Matches `line` against `p` with the values bound now; the captures.
    pub(super) fn judge_line(&mut self, p: &Pattern, line: &[u8]) -> Option<Captures> {
        self.regexes.matches(p, line, &self.vars)
    }

    /// The first of `ps` that matches `line`: its index and captures.
    pub(super) fn judge_line_any<'p>(
        &mut self,
        ps: impl IntoIterator<Item = &'p Pattern>,
        line: &[u8],
    ) -> Option<(usize, Captures)> {
        ps.into_iter()
            .enumerate()
            .find_map(|(i, p)| self.judge_line(p, line).map(|caps| (i, caps)))
    }

    /// Binds the captures of a matched line (scalars).
    pub(super) fn bind(&mut self, caps: Captures) {
        caps.into_iter().for_each(|(n, v)| self.vars.set(&n, v));
    }

    /// `C:` / `C!:`: sends the expanded template (CRLF appended for `C:`).
    pub(super) async fn send(
        &mut self,
        session: usize,
        template: &Template,
        crlf: bool,
    ) -> Result<(), StepError> {
        let mut bytes = Vec::new();
        for piece in &template.pieces {
            match piece {
                TemplatePiece::Literal(b) => bytes.extend_from_slice(b),
                TemplatePiece::Expr(e) => match eval(e, &self.vars) {
                    Ok(v) => bytes.extend_from_slice(&v),
                    Err(err) => {
                        return fail(err.to_string(), template.source.clone(), "(not sent)")
                    }
                },
            }
        }
        let shown = self.mask(session, &bytes);
        self.note(session, Dir::Client, shown);
        self.sent(session, &bytes);
        if crlf {
            bytes.extend_from_slice(b"\r\n");
        }
        if let Some(s) = self.in_sasl.get_mut(session) {
            *s = false;
        }
        match self.conn(session)?.send(&bytes).await {
            Ok(()) => {}
            // the server hung up while the line was going out (a long line it refuses):
            // the next step judges that, as it would judge a close
            Err(WireError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                self.note(
                    session,
                    Dir::Note,
                    format!("the server closed the connection during the write ({e})"),
                );
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// `S:`: the next line matches.
    pub(super) async fn expect(&mut self, session: usize, p: &Pattern) -> Result<(), StepError> {
        let line = self.read_judged(session, &p.source).await?;
        match self.judge_line(p, &line.bytes) {
            Some(caps) => {
                self.bind(caps);
                Ok(())
            }
            None => fail(
                "line does not match",
                p.source.clone(),
                printable(&line.bytes),
            ),
        }
    }

    /// `S|:`: the next line matches one of the alternatives, or the server closes when one
    /// of them is `{eof}`.
    pub(super) async fn expect_any_of(
        &mut self,
        session: usize,
        ps: &[Pattern],
    ) -> Result<(), StepError> {
        let expected = sources(ps, "  |  ");
        let line = if ps.iter().any(Pattern::is_eof) {
            match self.conn(session)?.read_line().await {
                Err(WireError::Closed) => {
                    self.note(session, Dir::Note, "server closed the connection".into());
                    return Ok(());
                }
                Ok(line) => {
                    self.unread_raw(session, line);
                    self.read_judged(session, &expected).await?
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            self.read_judged(session, &expected).await?
        };
        match self.judge_line_any(ps, &line.bytes) {
            Some((_, caps)) => {
                self.bind(caps);
                Ok(())
            }
            None => fail(
                "line matches none of the alternatives",
                expected,
                printable(&line.bytes),
            ),
        }
    }

    /// `S~:`: the next lines match the patterns, each pattern once, in any order.
    pub(super) async fn expect_unordered(
        &mut self,
        session: usize,
        ps: &[Pattern],
    ) -> Result<(), StepError> {
        let mut unused: Vec<&Pattern> = ps.iter().collect();
        for _ in 0..ps.len() {
            let expected = sources(unused.iter().copied(), "  ~  ");
            let line = self.read_judged(session, &expected).await?;
            match self.judge_line_any(unused.iter().copied(), &line.bytes) {
                Some((i, caps)) => {
                    unused.remove(i);
                    self.bind(caps);
                }
                None => {
                    return fail(
                        "line matches none of the remaining unordered lines",
                        expected,
                        printable(&line.bytes),
                    )
                }
            }
        }
        Ok(())
    }

    /// `S*:`: lines that match, up to the first that does not (or the `.` terminator),
    /// which is put back for the next step; the captures collect into lists.
    pub(super) async fn expect_repeated(
        &mut self,
        session: usize,
        p: &Pattern,
    ) -> Result<(), StepError> {
        for name in p.capture_names() {
            self.vars.ensure_list(name);
        }
        loop {
            let line = self.read_judged(session, &p.source).await?;
            let caps = if line.bytes == b"." {
                None
            } else {
                self.judge_line(p, &line.bytes)
            };
            match caps {
                Some(caps) => caps.into_iter().for_each(|(n, v)| self.vars.push(&n, v)),
                None => {
                    self.unread(session, line);
                    return Ok(());
                }
            }
        }
    }

    /// `S!:`: no line of the rest of the multi-line response matches.
    pub(super) async fn expect_absent(
        &mut self,
        session: usize,
        p: &Pattern,
    ) -> Result<(), StepError> {
        let expected = format!("no line matching {}", p.source);
        loop {
            let line = self.read_judged(session, &expected).await?;
            if line.bytes == b"." {
                self.unread(session, line);
                return Ok(());
            }
            if self.judge_line(p, &line.bytes).is_some() {
                return fail(
                    "a line that must be absent is present",
                    expected,
                    printable(&line.bytes),
                );
            }
        }
    }

    /// `S+:`: some line of the rest of the multi-line response matches.
    pub(super) async fn expect_present(
        &mut self,
        session: usize,
        p: &Pattern,
    ) -> Result<(), StepError> {
        let expected = format!("a line matching {}", p.source);
        let mut found = false;
        loop {
            let line = self.read_judged(session, &expected).await?;
            if line.bytes == b"." {
                self.unread(session, line);
                break;
            }
            found |= self.judge_line(p, &line.bytes).is_some();
        }
        if found {
            Ok(())
        } else {
            fail(
                "no line of the multi-line response matches",
                expected,
                "none before the \".\"",
            )
        }
    }
}

/// The patterns as written, joined for an "expected" field.
pub(super) fn sources<'a>(
    patterns: impl IntoIterator<Item = &'a Pattern>,
    separator: &str,
) -> String {
    patterns
        .into_iter()
        .map(|p| p.source.as_str())
        .collect::<Vec<_>>()
        .join(separator)
}

/// The regexes of the patterns with back-references, built during one case run, by regex
/// text. Their text holds values bound during the run, so the compiler cannot build them (it
/// builds every other pattern's); but an `S*:` judges every line of a list with the same
/// pattern and the same values, and building a regex costs far more than matching a line,
/// so each text is built once per case run. The cache lives as long as the run: it needs no
/// lock and does not grow across cases.
#[derive(Debug, Default)]
pub(super) struct Regexes(HashMap<String, Option<Regex>>);

impl Regexes {
    /// Matches `line` against `p` with the values bound now: with the regex the compiler
    /// built, or one built (once) with the bound values. The captures, or `None` (also for
    /// `{eof}` and a back-reference to a name with no value).
    fn matches(&mut self, p: &Pattern, line: &[u8], vars: &Bindings) -> Option<Captures> {
        if let Some(LineRegex(re)) = &p.regex {
            return p.captures_with(re, line);
        }
        let text = p.regex_text(|name| vars.get(name).map(Value::bytes))?;
        let re = self
            .0
            .entry(text)
            .or_insert_with_key(|text| Regex::new(text).ok());
        p.captures_with(re.as_ref()?, line)
    }
}
