//! The commands the model generates: abstract operations, resolved against the model's state
//! when they run (a [`MsgRef::Live`] names "some message not marked deleted", whatever the
//! numbers are by then), so every generated sequence is meaningful and proptest can shrink it
//! freely: removing or simplifying a step never makes the rest invalid.

use std::fmt;

use proptest::prelude::*;

/// Whose credentials a command carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The profile's user.
    Good,
    /// A mailbox the server does not have.
    Unknown,
}

/// Which secret a command carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The profile's password (or the digest made from it).
    Good,
    /// A wrong one.
    Wrong,
}

/// A message number, as the model picks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgRef {
    /// The k-th message not marked deleted (modulo their count).
    Live(u8),
    /// The k-th message marked deleted in this session (modulo their count).
    Deleted(u8),
    /// 0: message numbers start at 1 (RFC 1939 §5).
    Zero,
    /// k past the last message of the session's maildrop.
    Beyond(u8),
    /// 2^32 + 1: past any 32-bit counter.
    Huge,
}

/// How a login is done, in one step ([`Cmd::Login`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// USER then PASS (RFC 1939 §7).
    UserPass,
    /// APOP with the greeting's timestamp (RFC 1939 §7).
    Apop,
    /// AUTH PLAIN with an initial response (RFC 5034, RFC 4616).
    AuthPlain,
}

/// One command, grouped by the state it belongs to (RFC 1939 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    // ---- AUTHORIZATION (RFC 1939 §7, RFC 5034) ----
    /// A whole login with good credentials (USER+PASS is two commands).
    Login(Method),
    /// `USER name`.
    User(Who),
    /// `PASS secret`.
    Pass(Secret),
    /// `APOP name digest`.
    Apop(Secret),
    /// `AUTH PLAIN initial-response`.
    AuthPlain(Secret),
    // ---- TRANSACTION (RFC 1939 §5, §7) ----
    /// `STAT`.
    Stat,
    /// `LIST [msg]`.
    List(Option<MsgRef>),
    /// `UIDL [msg]`.
    Uidl(Option<MsgRef>),
    /// `RETR msg`.
    Retr(MsgRef),
    /// `TOP msg n`.
    Top(MsgRef, u8),
    /// `DELE msg`.
    Dele(MsgRef),
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    // ---- any state ----
    /// `QUIT` (UPDATE from TRANSACTION, RFC 1939 §6).
    Quit,
    /// The client goes away without QUIT (no UPDATE, RFC 1939 §6).
    Drop,
}

/// How the command keyword is written (keywords are case-insensitive, RFC 1939 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// `STAT`.
    Upper,
    /// `stat`.
    Lower,
    /// `StAt`.
    Mixed,
}

impl Case {
    /// `keyword` written this way.
    pub fn apply(self, keyword: &str) -> String {
        match self {
            Case::Upper => keyword.to_ascii_uppercase(),
            Case::Lower => keyword.to_ascii_lowercase(),
            Case::Mixed => keyword
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect(),
        }
    }
}

/// One step of a generated sequence: a command on one of the client's sessions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Op {
    /// Which client (0 or 1): with two, their commands interleave on one maildrop.
    pub session: u8,
    /// What it sends.
    pub cmd: Cmd,
    /// How the keyword is written.
    pub case: Case,
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{} {:?}", self.session, self.cmd)?;
        if self.case != Case::Upper {
            write!(f, " ({:?} case)", self.case)?;
        }
        Ok(())
    }
}

fn msg_ref() -> impl Strategy<Value = MsgRef> {
    prop_oneof![
        8 => any::<u8>().prop_map(MsgRef::Live),
        3 => any::<u8>().prop_map(MsgRef::Deleted),
        1 => Just(MsgRef::Zero),
        1 => (0u8..3).prop_map(MsgRef::Beyond),
        1 => Just(MsgRef::Huge),
    ]
}

fn secret() -> impl Strategy<Value = Secret> {
    prop_oneof![Just(Secret::Good), Just(Secret::Wrong)]
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        // reaching TRANSACTION often is what makes the rest interesting
        10 => prop_oneof![
            4 => Just(Method::UserPass),
            1 => Just(Method::Apop),
            1 => Just(Method::AuthPlain),
        ]
        .prop_map(Cmd::Login),
        2 => prop_oneof![Just(Who::Good), Just(Who::Unknown)].prop_map(Cmd::User),
        2 => secret().prop_map(Cmd::Pass),
        1 => secret().prop_map(Cmd::Apop),
        1 => secret().prop_map(Cmd::AuthPlain),
        4 => Just(Cmd::Stat),
        5 => proptest::option::weighted(0.6, msg_ref()).prop_map(Cmd::List),
        4 => proptest::option::weighted(0.6, msg_ref()).prop_map(Cmd::Uidl),
        3 => msg_ref().prop_map(Cmd::Retr),
        3 => (msg_ref(), prop_oneof![0u8..4, 0u8..=255]).prop_map(|(m, n)| Cmd::Top(m, n)),
        8 => msg_ref().prop_map(Cmd::Dele),
        3 => Just(Cmd::Rset),
        1 => Just(Cmd::Noop),
        3 => Just(Cmd::Quit),
        2 => Just(Cmd::Drop),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![8 => Just(Case::Upper), 1 => Just(Case::Lower), 1 => Just(Case::Mixed)]
}

/// One step on one of `sessions` clients.
pub fn op(sessions: u8) -> impl Strategy<Value = Op> {
    let last = sessions.max(1) - 1;
    (prop_oneof![3 => Just(0u8), 1 => 0u8..=last], cmd(), case())
        .prop_map(|(session, cmd, case)| Op { session, cmd, case })
}

/// Sequences of 1 to `max_steps` steps on `sessions` clients.
pub fn sequence(sessions: u8, max_steps: usize) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(sessions), 1..=max_steps.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn keyword_cases() {
        assert_eq!(Case::Upper.apply("stat"), "STAT");
        assert_eq!(Case::Lower.apply("STAT"), "stat");
        assert_eq!(Case::Mixed.apply("stat"), "StAt");
    }

    #[test]
    fn sequences_stay_in_bounds_and_use_both_sessions() {
        let mut runner = TestRunner::deterministic();
        let strategy = sequence(2, 12);
        let mut second = 0;
        let mut logins = 0;
        for _ in 0..200 {
            let ops = strategy.new_tree(&mut runner).unwrap().current();
            assert!((1..=12).contains(&ops.len()));
            for op in &ops {
                assert!(op.session < 2);
                second += usize::from(op.session == 1);
                logins += usize::from(matches!(op.cmd, Cmd::Login(_)));
            }
        }
        assert!(second > 0 && logins > 0, "{second} {logins}");
        let one = sequence(1, 5).new_tree(&mut runner).unwrap().current();
        assert!(one.iter().all(|o| o.session == 0));
    }
}
