//! What a session says about sizes, judged for consistency within the session (RFC 1939 §4:
//! messages are not modified before UPDATE; §5: a scan listing gives the exact size, STAT the
//! sum of the sizes of the messages not marked deleted). Sizes are not carried from one
//! session to the next: in the scenario each is a capture of the same session
//! (`size_SESSION_N`), never a number from the model's run.

use scenario::plan::Action;

use super::judge::scan_number;
use super::script::{assert_same, assert_sum, ok_any, send, PatternBuilder, TemplateBuilder};
use super::{Divergence, Execution};
use crate::maildrop::{Conflict, Stat};
use crate::rules::{self, Rule};
use crate::transcript::printable;

/// What STAT must answer: the count, and the scenario variable and pattern for the total.
pub(crate) struct StatExpectation {
    pub(crate) count: usize,
    pub(crate) var: String,
    pub(crate) pattern: scenario::plan::Pattern,
}

impl Execution<'_> {
    /// The scenario variable for the size session `s` gives message `n`.
    fn size_var(&self, s: usize, n: u64) -> String {
        format!("size_{}_{n}", self.sessions[s].name)
    }

    /// `pattern` followed by the size session `s` gives message `n`: a capture the first time
    /// in the session, a back-reference after.
    pub(crate) fn size_piece(&self, s: usize, n: u64, pattern: PatternBuilder) -> PatternBuilder {
        let var = self.size_var(s, n);
        if self.view(s).size(n).is_some() {
            pattern.var(&var)
        } else {
            pattern.capture(&var, "\\d+")
        }
    }

    /// The scenario variable holding the size session `s` gives message `n`; when the model
    /// has none from this session yet, the scenario asks for it first (`LIST n`, a command
    /// only the scenario sends, so that the replay compares sizes of one session).
    pub(crate) fn size_in_scenario(&mut self, s: usize, n: u64) -> String {
        let var = self.size_var(s, n);
        if self.view(s).size(n).is_none() {
            let list = TemplateBuilder::new().lit(format!("LIST {n}")).done();
            let answer = PatternBuilder::new()
                .lit(&format!("+OK {n} "))
                .capture(&var, "\\d+")
                .rest()
                .done();
            self.record(s, send(list));
            self.record(s, Action::Expect(answer));
        }
        var
    }

    /// Learns a size session `s` gives message `n` (by `by`), judged against what the session
    /// said before.
    pub(crate) fn learn_size(
        &mut self,
        s: usize,
        n: u64,
        octets: u64,
        by: &str,
    ) -> Result<(), Divergence> {
        match self.view_mut(s).learn_size(n, octets, by) {
            Ok(()) => Ok(()),
            Err(c) => Err(self.conflict(s, c, by)),
        }
    }

    /// What STAT must answer in session `s` (RFC 1939 §5).
    pub(crate) fn stat_expect(&self, s: usize) -> StatExpectation {
        let view = self.view(s);
        let count = view.live().len();
        let var = format!("stat_{}_{}", self.sessions[s].name, view.stats.len() + 1);
        let pattern = PatternBuilder::new()
            .lit(&format!("+OK {count} "))
            .capture(&var, "\\d+")
            .rest()
            .done();
        StatExpectation {
            count,
            var,
            pattern,
        }
    }

    /// The rule STAT answers to in session `s` now.
    pub(crate) fn stat_rule(&self, s: usize) -> Rule {
        if self.view(s).marked().is_empty() {
            rules::STAT
        } else {
            rules::STAT_DELETED
        }
    }

    /// Judges a STAT answer of session `s` (the count exact, the total consistent with the
    /// sizes the session gives) and learns it; `at` is where the scenario sent the STAT.
    pub(crate) fn stat_judge(
        &mut self,
        s: usize,
        line: &[u8],
        expected: StatExpectation,
        at: usize,
    ) -> Result<(), Divergence> {
        let rule = self.stat_rule(s);
        let view = self.view(s);
        let live = view.live();
        let marked = !view.marked().is_empty();
        let prefix = format!("+OK {} ", expected.count);
        let Some(total) = scan_number(line, &prefix) else {
            return Err(self.diverge(
                format!("{prefix}followed by the size of the maildrop in octets"),
                printable(line),
                rule,
            ));
        };
        let stat = Stat {
            live,
            total,
            marked,
            var: expected.var,
            at,
        };
        match self.view_mut(s).learn_stat(stat) {
            Ok(()) => Ok(()),
            Err(c) => Err(self.conflict(s, c, "STAT")),
        }
    }

    /// A session contradicting itself, as a divergence; the scenario gets what it needs to
    /// fail there too.
    fn conflict(&mut self, s: usize, c: Conflict, now: &str) -> Divergence {
        match c {
            Conflict::Size { n, before, octets } => self.diverge(
                format!(
                    "message {n} in {} octets, as `{}` gave it earlier in this session",
                    before.octets, before.by
                ),
                format!("{octets} octets (`{now}`)"),
                rules::SCAN,
            ),
            Conflict::Sum { stat, sum } => self.sum_conflict(s, stat, sum, now),
            Conflict::Totals { stat, other } => {
                let view = self.view(s);
                let (st, earlier) = (view.stats[stat].clone(), view.stats[other].clone());
                self.record(s, assert_same(&st.var, &earlier.var));
                self.diverge(
                    format!(
                        "a STAT total of {} octets, as an earlier STAT of this session gave for the same messages",
                        earlier.total
                    ),
                    format!("a total of {}", st.total),
                    stat_rule(&st),
                )
            }
        }
    }

    /// A STAT total that is not the sum of the sizes the session gives the messages it
    /// counted. The scenario lists the messages right before that STAT and compares the sum
    /// of the sizes with its total (all captures of the same session, so a compliant server
    /// passes it): the one place the scenario gets steps inserted before a command recorded
    /// earlier.
    fn sum_conflict(&mut self, s: usize, stat: usize, sum: u64, now: &str) -> Divergence {
        let st = self.view(s).stats[stat].clone();
        let list = format!("list_{}", st.var);
        let listing = PatternBuilder::new()
            .regex("\\d+")
            .lit(" ")
            .capture(&list, "\\d+")
            .rest()
            .done();
        let steps = vec![
            send(TemplateBuilder::new().lit("LIST").done()),
            Action::Expect(ok_any()),
            Action::ExpectRepeated(listing),
            Action::Expect(PatternBuilder::new().lit(".").done()),
        ];
        let index = self.sessions[s].index;
        self.script.insert(st.at, index, steps);
        self.record(s, assert_sum(&list, &st.var));
        let numbers: Vec<String> = st.live.iter().map(u64::to_string).collect();
        let numbers = if numbers.is_empty() {
            "(none)".to_owned()
        } else {
            numbers.join(", ")
        };
        if now == "STAT" {
            self.diverge(
                format!("a total of {sum} octets, the sum of the sizes this session gives messages {numbers}"),
                format!("a total of {}", st.total),
                stat_rule(&st),
            )
        } else {
            self.diverge(
                format!("sizes of messages {numbers} that add up to {}, the total an earlier STAT of this session gave", st.total),
                format!("sizes that add up to {sum}"),
                stat_rule(&st),
            )
        }
    }
}

/// The rule a STAT answer answers to (RFC 1939 §5: deleted messages are not counted).
fn stat_rule(st: &Stat) -> Rule {
    if st.marked {
        rules::STAT_DELETED
    } else {
        rules::STAT
    }
}
