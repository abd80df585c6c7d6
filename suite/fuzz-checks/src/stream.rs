//! The chunked_decode decoders fed the same bytes in arbitrary chunks, as a socket delivers
//! them (RFC 1939 §3: lines end with CRLF wherever the segments end).

use arbitrary::Unstructured;
use pop3_proto::line::{split_line, LineError};
use pop3_proto::multiline::{decode_body_line, unstuff, MultilineError};
use pop3_proto::response::MAX_STATUS_LINE;
use pop3_proto::{BodyLine, Command, CommandError, Decoded, Limits, ServerLine, Stuffer};

use crate::response::MAX_BODY_LINE;

/// What a reader saw, owned so that two runs can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Command(Result<Command, CommandError>),
    Server(Result<ServerLine, pop3_proto::ResponseError>),
    Body { data: Vec<u8>, stuffed: bool },
    End,
    BodyError(MultilineError),
    LineError(LineError),
}

/// Which side of the wire a [`Reader`] decodes.
#[derive(Debug, Clone, Copy)]
enum Side {
    /// A server reading commands (RFC 2449 limits, as the reference server does).
    Server,
    /// A client reading responses; bit `i % 64` of the mask says whether the `i`-th `+OK`
    /// has a multi-line body.
    Client { mask: u64 },
}

/// A buffered reader over the `Decoded` decoders, with the reference server's recovery from
/// bad lines: skip up to the LF, dropping what comes until then.
#[derive(Debug)]
struct Reader {
    side: Side,
    buf: Vec<u8>,
    skipping: bool,
    in_body: bool,
    responses: u32,
    events: Vec<Event>,
}

impl Reader {
    fn new(side: Side) -> Reader {
        Reader {
            side,
            buf: Vec::new(),
            skipping: false,
            in_body: false,
            responses: 0,
            events: Vec::new(),
        }
    }

    /// Appends a chunk and decodes every whole item now in the buffer.
    fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
        loop {
            if self.skipping {
                match self.buf.iter().position(|&b| b == b'\n') {
                    Some(lf) => {
                        self.buf.drain(..=lf);
                        self.skipping = false;
                    }
                    None => {
                        self.buf.clear();
                        return;
                    }
                }
            }
            if !self.step() {
                return;
            }
        }
    }

    /// Decodes one item; `false` when the buffer holds no whole item.
    fn step(&mut self) -> bool {
        let max = match (self.side, self.in_body) {
            (Side::Server, _) => Limits::RFC2449.line,
            (Side::Client { .. }, false) => MAX_STATUS_LINE,
            (Side::Client { .. }, true) => MAX_BODY_LINE,
        };
        let (line, used) = match split_line(&self.buf, max) {
            Ok(Decoded::Complete(line, used)) => (line.to_vec(), used),
            Ok(Decoded::Incomplete) => return false,
            Err(e) => {
                match e {
                    LineError::BareLineFeed { consumed } => {
                        self.buf.drain(..consumed);
                    }
                    LineError::TooLong { .. } => self.skipping = true,
                }
                self.events.push(Event::LineError(e));
                return true;
            }
        };
        let event = match self.side {
            Side::Server => {
                let parsed = Command::parse(&line, &Limits::RFC2449);
                assert_eq!(
                    Command::decode(&self.buf, &Limits::RFC2449),
                    parsed.clone().map(|c| Decoded::Complete(c, used))
                );
                Event::Command(parsed)
            }
            Side::Client { .. } if self.in_body => self.body_event(used),
            Side::Client { mask } => {
                let parsed = ServerLine::parse(&line);
                assert_eq!(
                    ServerLine::decode(&self.buf),
                    parsed.clone().map(|l| Decoded::Complete(l, used))
                );
                if let Ok(ServerLine::Status(s)) = &parsed {
                    self.in_body = s.is_ok() && mask & (1 << (self.responses % 64)) != 0;
                    self.responses += 1;
                }
                Event::Server(parsed)
            }
        };
        self.buf.drain(..used);
        self.events.push(event);
        true
    }

    fn body_event(&mut self, used: usize) -> Event {
        match decode_body_line(&self.buf, MAX_BODY_LINE) {
            Ok(Decoded::Complete(BodyLine::End, n)) => {
                assert_eq!(n, used);
                self.in_body = false;
                Event::End
            }
            Ok(Decoded::Complete(BodyLine::Data { data, stuffed }, n)) => {
                assert_eq!(n, used);
                Event::Body {
                    data: data.to_vec(),
                    stuffed,
                }
            }
            Err(e @ MultilineError::Unstuffed { consumed }) => {
                assert_eq!(consumed, used);
                Event::BodyError(e)
            }
            other => panic!("split_line found a whole line but decode_body_line said {other:?}"),
        }
    }
}

/// `chunked_decode`: the input gives a body mask, chunk lengths and the stream; a command
/// reader, a response reader and a [`Stuffer`] are fed the stream whole and in those chunks.
///
/// Properties: the same items, errors and leftover bytes whatever the split (in
/// particular a line over the cap is reported the same way whether or not its end has
/// arrived, RFC 2449 §4); a `Decoded` decoder agrees with `split_line` and `parse`; the
/// stuffer's output does not depend on the chunks (RFC 1939 §3); [`unstuff`] on a prefix
/// of a body gives a prefix of the whole body's lines.
pub fn chunked_decode(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mask: u64 = u.arbitrary().unwrap_or(0);
    let count = u.int_in_range(0..=16u8).unwrap_or(0);
    let lengths: Vec<u8> = (0..count).filter_map(|_| u.arbitrary().ok()).collect();
    let stream = u.take_rest();
    let chunks = split(stream, &lengths);

    for side in [Side::Server, Side::Client { mask }] {
        let mut whole = Reader::new(side);
        whole.push(stream);
        let mut pieces = Reader::new(side);
        for c in &chunks {
            pieces.push(c);
        }
        assert_eq!(
            pieces.events, whole.events,
            "{side:?}: events depend on the split"
        );
        assert_eq!(
            pieces.buf, whole.buf,
            "{side:?}: leftover depends on the split"
        );
        assert_eq!(pieces.skipping, whole.skipping);
    }

    let mut out = Vec::new();
    let mut stuffer = Stuffer::new();
    for c in &chunks {
        stuffer.feed(c, &mut out);
    }
    stuffer.finish(&mut out);
    assert_eq!(
        out,
        Stuffer::stuff_all(stream),
        "stuffing depends on the split"
    );

    // un-stuffing what has arrived so far gives the first lines of the whole body
    let mut full = Vec::new();
    if unstuff(stream, MAX_BODY_LINE, &mut full).is_ok() {
        let mut at = 0;
        for c in &chunks {
            at += c.len();
            let mut part = Vec::new();
            let prefix = unstuff(&stream[..at], MAX_BODY_LINE, &mut part);
            assert!(
                prefix.is_ok(),
                "a prefix fails ({prefix:?}) but the whole does not"
            );
            assert!(full.starts_with(&part));
        }
    }
}

/// The stream cut into chunks of the given lengths, cycled (a zero length is an empty push
/// followed by a one-byte chunk); no lengths means one chunk.
fn split<'a>(stream: &'a [u8], lengths: &[u8]) -> Vec<&'a [u8]> {
    if lengths.is_empty() {
        return vec![stream];
    }
    let mut chunks = Vec::new();
    let mut rest = stream;
    for &len in lengths.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        if len == 0 {
            chunks.push(&rest[..0]);
        }
        let n = usize::from(len).clamp(1, rest.len());
        let (c, r) = rest.split_at(n);
        chunks.push(c);
        rest = r;
    }
    chunks
}
