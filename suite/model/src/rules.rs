//! The requirements the model judges by: each divergence names one, with the RFC's words
//! (the same quotes as `scenarios/requirements/`), so a written scenario carries them.

/// One requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// `1939 §5`.
    pub rfc: &'static str,
    /// The RFC's words.
    pub quote: &'static str,
}

macro_rules! rules {
    ($( $(#[$doc:meta])* $name:ident = $rfc:literal, $quote:literal; )*) => {
        $( $(#[$doc])* pub const $name: Rule = Rule { rfc: $rfc, quote: $quote }; )*
    };
}

rules! {
    /// Responses end in CRLF.
    CRLF = "1939 §3", "All responses are terminated by a CRLF pair.";
    /// A status line is +OK or -ERR.
    STATUS = "1939 §3", "Servers MUST send the \"+OK\" and \"-ERR\" in upper case.";
    /// Wrong-state commands get -ERR.
    WRONG_STATE = "1939 §3", "A server MUST respond to a command issued when the session is in an incorrect state by responding with a negative status indicator.";
    /// Responses are at most 512 octets.
    RESPONSE_LENGTH = "1939 §3", "Responses may be up to 512 characters long, including the terminating CRLF.";
    /// Keywords are case-insensitive.
    KEYWORD_CASE = "1939 §3", "Commands in the POP3 consist of a case-insensitive keyword, possibly followed by one or more arguments.";
    /// Multi-line responses end with ".".
    TERMINATOR = "1939 §3", "When all lines of the response have been sent, a final line is sent, consisting of a termination octet (decimal code 046, \".\") and a CRLF pair.";
    /// The greeting.
    GREETING = "1939 §4", "Once the TCP connection has been opened by a POP3 client, the POP3 server issues a one line greeting.";
    /// A good login enters TRANSACTION.
    LOGIN = "1939 §4", "If the lock is successfully acquired, the POP3 server responds with a positive status indicator. The POP3 session now enters the TRANSACTION state, with no messages marked as deleted.";
    /// Messages do not change during a session.
    UNMODIFIED = "1939 §4", "the POP3 server then acquires an exclusive-access lock on the maildrop, as necessary to prevent messages from being modified or removed before the session enters the UPDATE state.";
    /// A maildrop that cannot be locked gets -ERR.
    LOCK = "1939 §4", "If the maildrop cannot be opened for some reason (for example, a lock can not be acquired, the client is denied access to the appropriate maildrop, or the maildrop cannot be parsed), the POP3 server responds with a negative status indicator.";
    /// Message numbers start at 1.
    NUMBERS = "1939 §4", "The first message in the maildrop is assigned a message-number of \"1\", the second is assigned \"2\", and so on, so that the nth message in a maildrop is assigned a message-number of \"n\".";
    /// QUIT always gets +OK.
    QUIT = "1939 §4", "QUIT Arguments: none Restrictions: none Possible Responses: +OK";
    /// USER is for mailboxes.
    USER = "1939 §7", "To authenticate using the USER and PASS command combination, the client must first issue the USER command.";
    /// PASS follows a successful USER.
    PASS_AFTER_USER = "1939 §7", "may only be given in the AUTHORIZATION state immediately after a successful USER command";
    /// PASS checks the pair.
    PASS = "1939 §7", "When the client issues the PASS command, the POP3 server uses the argument pair from the USER and PASS commands to determine if the client should be given access to the appropriate maildrop.";
    /// A good APOP digest logs in.
    APOP = "1939 §7", "When the POP3 server receives the APOP command, it verifies the digest provided. If the digest is correct, the POP3 server issues a positive response, and the POP3 session enters the TRANSACTION state.";
    /// A wrong APOP digest does not.
    APOP_WRONG = "1939 §7", "Otherwise, a negative response is issued and the POP3 session remains in the AUTHORIZATION state.";
    /// AUTH success.
    AUTH = "5034 §4", "Should the client successfully complete the exchange, the server issues a +OK reply. Additionally, upon success, the POP3 session enters the TRANSACTION state.";
    /// SCRAM: the server's nonce extends the client's.
    SCRAM_NONCE = "5802 §5", "In response, the server sends a \"server-first-message\" containing the user's iteration count i and the user's salt, and appends its own nonce to the client-specified one.";
    /// SCRAM: the server-final-message carries the ServerSignature.
    SCRAM_VERIFIER = "5802 §5.1", "This attribute specifies a base64-encoded ServerSignature.";
    /// AUTH failure.
    AUTH_FAILED = "5034 §4", "If the server is unable to authenticate the client, it MUST reject the AUTH command with an -ERR reply.";
    /// STAT's format.
    STAT = "1939 §5", "The positive response consists of \"+OK\" followed by a single space, the number of messages in the maildrop, a single space, and the size of the maildrop in octets.";
    /// STAT does not count deleted messages.
    STAT_DELETED = "1939 §5", "Note that messages marked as deleted are not counted in either total.";
    /// Scan listings.
    SCAN = "1939 §5", "In order to simplify parsing, all POP3 servers are required to use a certain format for scan listings. A scan listing consists of the message-number of the message, followed by a single space and the exact size of the message in octets.";
    /// LIST leaves out deleted messages.
    LIST_DELETED = "1939 §5", "Note that messages marked as deleted are not listed.";
    /// LIST msg may not name a deleted message.
    LIST_ARG = "1939 §5", "LIST [msg] Arguments: a message-number (optional), which, if present, may NOT refer to a message marked as deleted";
    /// RETR msg may not name a deleted message.
    RETR_ARG = "1939 §5", "RETR msg Arguments: a message-number (required) which may NOT refer to a message marked as deleted";
    /// RETR sends the message.
    RETR = "1939 §5", "If the POP3 server issues a positive response, then the response given is multi-line. After the initial +OK, the POP3 server sends the message corresponding to the given message-number, being careful to byte-stuff the termination character";
    /// DELE marks.
    DELE = "1939 §5", "The POP3 server marks the message as deleted. Any future reference to the message-number associated with the message in a POP3 command generates an error.";
    /// DELE msg may not name a deleted message.
    DELE_ARG = "1939 §5", "DELE msg Arguments: a message-number (required) which may NOT refer to a message marked as deleted";
    /// NOOP.
    NOOP = "1939 §5", "The POP3 server does nothing, it merely replies with a positive response.";
    /// RSET unmarks.
    RSET = "1939 §5", "If any messages have been marked as deleted by the POP3 server, they are unmarked. The POP3 server then replies with a positive response.";
    /// UPDATE removes the marked messages.
    UPDATE = "1939 §6", "The POP3 server removes all messages marked as deleted from the maildrop and replies as to the status of this operation.";
    /// No UPDATE from AUTHORIZATION.
    QUIT_AUTHORIZATION = "1939 §6", "if the client issues the QUIT command from the AUTHORIZATION state, the POP3 session terminates but does NOT enter the UPDATE state.";
    /// No UPDATE without QUIT.
    NO_UPDATE = "1939 §6", "If a session terminates for some reason other than a client-issued QUIT command, the POP3 session does NOT enter the UPDATE state and MUST not remove any messages from the maildrop.";
    /// TOP msg may not name a deleted message.
    TOP_ARG = "1939 §7", "a message-number (required) which may NOT refer to to a message marked as deleted, and a non-negative number of lines (required)";
    /// What TOP sends.
    TOP = "1939 §7", "the POP3 server sends the headers of the message, the blank line separating the headers from the body, and then the number of lines of the indicated message's body";
    /// UIDL msg may not name a deleted message.
    UIDL_ARG = "1939 §7", "UIDL [msg] Arguments: a message-number (optional), which, if present, may NOT refer to a message marked as deleted";
    /// Unique-id listings.
    UIDL_FORMAT = "1939 §7", "In order to simplify parsing, all POP3 servers are required to use a certain format for unique-id listings. A unique-id listing consists of the message-number of the message, followed by a single space and the unique-id of the message. No information follows the unique-id in the unique-id listing.";
    /// What a unique-id is.
    UID = "1939 §7", "The unique-id of a message is an arbitrary server-determined string, consisting of one to 70 characters in the range 0x21 to 0x7E, which uniquely identifies a message within a maildrop";
    /// Unique-ids persist.
    UID_PERSISTS = "1939 §7", "The unique-id of a message ... persists across sessions.";
    /// TLS starts right after STLS's +OK; nothing from before counts.
    STLS = "2595 §4", "A TLS negotiation begins immediately after the CRLF at the end of the +OK response from the server.";
    /// The same, for plaintext pipelined behind STLS (CVE-2011-0411).
    STLS_INJECTION = "2595 §4", "A TLS negotiation begins immediately after the CRLF at the end of the +OK response from the server.";
}
