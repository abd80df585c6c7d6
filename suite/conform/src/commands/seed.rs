//! `conform seed`: the standard fixture (`scenarios/fixtures/`) into a server's store: a
//! Maildir or an mbox file written directly, or over the network by IMAP APPEND (RFC 3501
//! §6.3.11, RFC 9051 §6.3.12), LMTP (RFC 2033) or SMTP (RFC 5321) delivery (the protocol
//! clients are the `deliver` crate's); then, with `--check`, a POP3 login that confirms the
//! maildrop is the fixture (the runner's own test, `runner::discover::fixture_present`).
//!
//! Every destination gets exactly the fixture, message N = `N.eml`, in order, its bytes
//! unchanged but for the CRLF line ends IMAP and SMTP require. Seeding twice never doubles
//! it: a store that already holds messages is refused unless `--replace` empties it first
//! (a Maildir or mbox directly; an IMAP mailbox with STORE `\Deleted` + EXPUNGE; an LMTP or
//! SMTP maildrop over POP3 with DELE of every message and QUIT, since delivery only adds).
//!
//! # The mbox variant: mboxrd
//!
//! An mbox holds messages one after another, each after a `From ` separator line; a body line
//! that itself starts with `From ` must therefore be quoted. The variants differ in how:
//! mboxo quotes `^From ` with one `>` and never unquotes, which loses information (a body line
//! `>From ` reads back as `From `); mboxcl/mboxcl2 rely on a `Content-Length:` header;
//! **mboxrd** quotes every line matching `^>*From ` with one more `>` and a reader removes
//! exactly one, so any body round-trips. We write mboxrd because that is what GNU mailutils
//! (the mbox server in CI, `.ci/mailutils/`) reads and writes: its mbox driver decodes each
//! message body through its `FROMRD` filter (`mu_fromrd_filter`, libmu_mbox since 3.x), which
//! removes one `>` from a line matching `^>+From `, and encodes with the same filter when it
//! rewrites the file. A reader of plain mboxo sees the same bytes for the fixture, which has
//! no `From ` body line at all; only a `>From ` line would differ, and the fixture has none.
//!
//! Layout: for message k (1-based) `From conform@example.org <asctime of BASE_TIME + k>`, the
//! message as stored (LF line ends, quoted), then one empty line before the next separator
//! (and after the last message), so a reader that drops the line before each `From ` gets the
//! message back byte for byte.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use deliver::{imap, smtp, Address, Wire};
use reference_server::fixture;
use runner::client::probe::{self, positive, Endpoint};
use runner::{Profile, Target, TlsMode, Trust};

use crate::args::TlsArg;
use crate::error::{CliError, Outcome};

const EXAMPLES: &str = "\
Examples:
  conform seed --maildir /srv/mail/test/Maildir --replace
  conform seed --mbox /var/mail/test --replace
  CONFORM_PASSWORD=... conform seed --imap imap://127.0.0.1/INBOX --starttls --ca ca.pem \\
      --user test --replace --check --target 127.0.0.1:110
  CONFORM_PASSWORD=... conform seed --lmtp /run/dovecot/lmtp --rcpt test@example.org \\
      --replace --target 127.0.0.1:110 --user test --check
  CONFORM_PASSWORD=... conform seed --smtp 127.0.0.1:25 --rcpt test@example.org \\
      --replace --target 127.0.0.1:110 --user test --check --check-timeout 30
  CONFORM_PASSWORD=... conform seed --check --target 127.0.0.1:110 --user test

Without --replace a store that already holds messages is an error (nothing is added), so
seeding twice never gives 14 messages. Every failure exits 2 naming the step and the
server's answer.";

/// Arguments of `conform seed`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct SeedArgs {
    /// The Maildir to write (created if missing; `cur/`, `new/`, `tmp/`). One that holds
    /// messages is refused without --replace.
    #[arg(long, value_name = "DIR", group = "store")]
    maildir: Option<PathBuf>,
    /// The mbox file to write (mboxrd: `From ` separators, `>From ` quoting, LF line ends).
    /// Written to a temporary file beside it and renamed into place; an existing file keeps
    /// its owner and mode.
    #[arg(long, value_name = "FILE", group = "store")]
    mbox: Option<PathBuf>,
    /// IMAP: imap://HOST[:PORT]/MAILBOX (default port 143; --starttls to upgrade) or
    /// imaps://HOST[:PORT]/MAILBOX (993, implicit TLS); MAILBOX defaults to INBOX. Logs in
    /// with --user and the password from --password-env, APPENDs the seven messages in order
    /// (MULTIAPPEND when offered: all or none) and checks the mailbox then holds seven.
    #[arg(long, value_name = "URL", group = "store")]
    imap: Option<String>,
    /// LMTP (RFC 2033): HOST:PORT or a unix socket path. Delivers to every --rcpt, one
    /// transaction per message, each answered per recipient.
    #[arg(long, value_name = "ADDRESS", group = "store")]
    lmtp: Option<String>,
    /// SMTP (RFC 5321): HOST:PORT (default port 25). Delivers to every --rcpt, one
    /// transaction per message; the server must deliver locally (or relay) to the maildrop.
    /// With --target, one message per session, each waited for in the maildrop (up to
    /// --check-timeout) before the next: an MTA's queue may reorder a session's messages.
    #[arg(long, value_name = "ADDRESS", group = "store")]
    smtp: Option<String>,
    /// The envelope recipient of --lmtp/--smtp (repeatable).
    #[arg(long = "rcpt", value_name = "ADDRESS")]
    rcpt: Vec<String>,
    /// The envelope sender of --lmtp/--smtp.
    #[arg(long, value_name = "ADDRESS", default_value = ENVELOPE_SENDER)]
    from: String,
    /// Upgrade the --imap, --lmtp or --smtp connection with STARTTLS (an error when the
    /// server does not offer it); trust as --ca/--insecure say.
    #[arg(long)]
    starttls: bool,
    /// --smtp/--lmtp: AUTH PLAIN as this user (RFC 4954), password from --auth-password-env.
    #[arg(long, value_name = "NAME")]
    auth_user: Option<String>,
    /// The environment variable holding the AUTH password.
    #[arg(long, value_name = "VAR", default_value = "CONFORM_SMTP_PASSWORD")]
    auth_password_env: String,
    /// Empty the store first, so it holds exactly the fixture: a Maildir's or mbox's
    /// messages removed; an IMAP mailbox's flagged \Deleted and expunged; for --lmtp/--smtp,
    /// whose delivery only adds, the maildrop of --target emptied over POP3 (DELE each
    /// message, QUIT).
    #[arg(long)]
    replace: bool,
    /// Then log in to --target over POP3 and confirm the maildrop is the standard fixture
    /// (seven messages, identified by Message-ID as `conform run` does), waiting up to
    /// --check-timeout seconds for delivery to show. Alone: only the check.
    #[arg(long)]
    check: bool,
    /// Seconds --check waits for the fixture to show up.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    check_timeout: u64,
    /// The POP3 server of the maildrop (for --check and for --replace with --lmtp/--smtp;
    /// with --lmtp/--smtp but no --replace, a maildrop that holds messages is refused):
    /// HOST:PORT (995 = implicit TLS), pop3://HOST[:PORT], pop3s://HOST[:PORT].
    #[arg(long, value_name = "TARGET")]
    target: Option<String>,
    /// Override the TLS mode --target implies.
    #[arg(long, value_enum)]
    tls: Option<TlsArg>,
    /// The user of --target and of --imap.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// The environment variable holding --user's password (never on the command line).
    #[arg(long, value_name = "VAR", default_value = "CONFORM_PASSWORD")]
    password_env: String,
    /// Trust any server certificate (test servers with self-signed certificates).
    #[arg(long)]
    insecure: bool,
    /// Trust the CA certificates in this PEM file instead of the platform roots.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    ca: Option<PathBuf>,
    /// Seconds for each connect, handshake, write and answer line.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    timeout: u64,
}

/// Seeds, checks, and says what was done.
pub fn run(args: SeedArgs) -> Result<Outcome, CliError> {
    let network = args.imap.is_some() || args.lmtp.is_some() || args.smtp.is_some();
    if args.maildir.is_none() && args.mbox.is_none() && !network && !args.check {
        return Err(usage(
            "give a destination (--maildir, --mbox, --imap, --lmtp or --smtp) or --check",
        ));
    }
    let delivery = args.lmtp.is_some() || args.smtp.is_some();
    if delivery && args.rcpt.is_empty() {
        return Err(usage("--lmtp and --smtp need --rcpt ADDRESS"));
    }
    if !delivery && !args.rcpt.is_empty() {
        return Err(usage("--rcpt goes with --lmtp or --smtp"));
    }
    if (args.check || (delivery && args.replace)) && args.target.is_none() {
        return Err(usage(if args.check {
            "--check needs --target (the POP3 server of the maildrop) and --user"
        } else {
            "--replace with --lmtp/--smtp empties the maildrop over POP3: give --target and --user"
        }));
    }
    if args.starttls && !network {
        return Err(usage("--starttls goes with --imap, --lmtp or --smtp"));
    }
    let size: u64 = fixture::MESSAGES
        .iter()
        .map(|m| pop3_proto::multiline::wire_size(m))
        .sum();
    let count = fixture::MESSAGES.len();
    if let Some(dir) = &args.maildir {
        seed_maildir(dir, args.replace).with_context(|| format!("seeding {}", dir.display()))?;
        println!(
            "seeded {} with the standard fixture: {count} messages, {size} octets",
            dir.display()
        );
    } else if let Some(file) = &args.mbox {
        seed_mbox(file, args.replace).with_context(|| format!("seeding {}", file.display()))?;
        println!(
            "seeded {} with the standard fixture: {count} messages, {size} octets",
            file.display()
        );
    }
    if !network && !args.check {
        return Ok(Outcome::Passed);
    }
    let rt = super::runtime()?;
    rt.block_on(network_seed(&args))?;
    Ok(Outcome::Passed)
}

/// The network destinations, the POP3 side, and the check.
async fn network_seed(args: &SeedArgs) -> Result<(), CliError> {
    let io_timeout = Duration::from_secs(args.timeout.max(1));
    let pop3 = match &args.target {
        Some(spec) => Some(pop3_endpoint(args, spec, io_timeout)?),
        None => None,
    };
    let messages: &[&[u8]] = fixture::MESSAGES;
    if let Some(url) = &args.imap {
        let (address, implicit, mailbox) = parse_imap_url(url).map_err(CliError::Usage)?;
        if implicit && args.starttls {
            return Err(usage("imaps:// is TLS already: drop --starttls"));
        }
        let user = args
            .user
            .clone()
            .ok_or_else(|| usage("--imap needs --user"))?;
        let password = password(&args.password_env)?;
        let config = tls_config(args, &address)?;
        let wire = Wire::connect(&address, implicit.then(|| config.clone()), io_timeout)
            .await
            .with_context(|| format!("IMAP {url}"))?;
        let options = imap::Options {
            user,
            password,
            mailbox: mailbox.clone(),
            starttls: args.starttls.then_some(config),
            replace: args.replace,
            multiappend: true,
        };
        let done = imap::seed(wire, &options, messages)
            .await
            .with_context(|| format!("IMAP {url}: the mailbox may be half-seeded"))?;
        println!(
            "seeded {url} with the standard fixture: {} messages appended{}, {} octets{}",
            done.appended,
            if done.multiappend {
                " in one MULTIAPPEND"
            } else {
                ""
            },
            done.octets,
            if done.removed > 0 {
                format!(" ({} removed first)", done.removed)
            } else {
                String::new()
            }
        );
    }
    let delivery = match (&args.lmtp, &args.smtp) {
        (Some(a), _) => Some((smtp::Dialect::Lmtp, a, None)),
        (None, Some(a)) => Some((smtp::Dialect::Smtp, a, Some(25))),
        (None, None) => None,
    };
    if let Some((dialect, spec, default_port)) = delivery {
        let name = format!("{dialect:?}").to_ascii_uppercase();
        let address = Address::parse(spec, default_port).map_err(CliError::Usage)?;
        // delivery only adds: empty the maildrop first, or refuse one that holds messages
        if let Some(endpoint) = &pop3 {
            if args.replace {
                let removed = empty_maildrop(endpoint).await.with_context(|| {
                    format!("--replace: emptying the maildrop at {}", endpoint.target)
                })?;
                println!(
                    "emptied the maildrop at {}: {removed} messages deleted",
                    endpoint.target
                );
            } else {
                let held = maildrop_count(endpoint)
                    .await
                    .with_context(|| format!("looking at the maildrop at {}", endpoint.target))?;
                if held > 0 {
                    return Err(CliError::Other(anyhow::anyhow!(
                        "the maildrop at {} holds {held} messages: nothing delivered (--replace empties it first)",
                        endpoint.target
                    )));
                }
            }
        }
        let config = if args.starttls {
            Some(tls_config(args, &address)?)
        } else {
            None
        };
        let auth = match &args.auth_user {
            Some(user) => Some((user.clone(), password(&args.auth_password_env)?)),
            None => None,
        };
        let options = smtp::Options {
            dialect,
            hello_name: "localhost".into(),
            from: args.from.clone(),
            recipients: args.rcpt.clone(),
            starttls: config,
            auth,
        };
        let done = match (&pop3, dialect) {
            // SMTP's 250 after DATA only queues the message: a relay's queue may deliver a
            // session's messages out of order (OpenSMTPD does, seconds apart). With a maildrop
            // to look at, each message goes in its own session once the one before it shows.
            (Some(endpoint), smtp::Dialect::Smtp) => {
                let wait = Duration::from_secs(args.check_timeout);
                let mut done = smtp::Delivered {
                    messages: 0,
                    octets: 0,
                };
                for (i, message) in messages.iter().enumerate() {
                    let wire = Wire::connect(&address, None, io_timeout)
                        .await
                        .with_context(|| format!("{name} {address}"))?;
                    let one = smtp::deliver_numbered(wire, &options, &[message], i + 1)
                        .await
                        .with_context(|| {
                            format!("{name} {address}: the maildrop may be half-seeded")
                        })?;
                    done.messages += one.messages;
                    done.octets += one.octets;
                    await_count(endpoint, i + 1, wait).await.with_context(|| {
                        format!(
                            "{name} {address}: message {} was accepted but did not reach the \
maildrop at {} in {} s (--check-timeout)",
                            i + 1,
                            endpoint.target,
                            wait.as_secs()
                        )
                    })?;
                }
                done
            }
            _ => {
                let wire = Wire::connect(&address, None, io_timeout)
                    .await
                    .with_context(|| format!("{name} {address}"))?;
                smtp::deliver(wire, &options, messages)
                    .await
                    .with_context(|| format!("{name} {address}: the maildrop may be half-seeded"))?
            }
        };
        println!(
            "delivered the standard fixture over {name} to {}: {} messages, {} octets{}",
            args.rcpt.join(", "),
            done.messages,
            done.octets,
            if pop3.is_some() && dialect == smtp::Dialect::Smtp {
                " (one at a time, each waited for in the maildrop)"
            } else {
                ""
            }
        );
    }
    if args.check {
        let endpoint = pop3.as_ref().expect("checked: --check needs --target");
        check(endpoint, Duration::from_secs(args.check_timeout)).await?;
        println!(
            "checked {}: the maildrop is the standard fixture ({} messages, by Message-ID)",
            endpoint.target,
            fixture::MESSAGES.len()
        );
    }
    Ok(())
}

fn usage(message: &str) -> CliError {
    CliError::Usage(message.to_owned())
}

fn password(var: &str) -> Result<String, CliError> {
    std::env::var(var).map_err(|e| {
        CliError::Usage(format!(
            "the password is read from ${var} (see --password-env / --auth-password-env): {e}"
        ))
    })
}

fn trust(args: &SeedArgs) -> Trust {
    match (&args.ca, args.insecure) {
        (Some(ca), _) => Trust::CaFile(ca.clone()),
        (None, true) => Trust::Insecure,
        (None, false) => Trust::Platform,
    }
}

/// The rustls configuration for a TLS connection to `address` (the runner's: --ca,
/// --insecure or the platform roots).
fn tls_config(args: &SeedArgs, address: &Address) -> Result<Arc<rustls::ClientConfig>, CliError> {
    let (host, port) = match address {
        Address::Tcp { host, port } => (host.clone(), *port),
        Address::Unix(_) => ("localhost".to_owned(), 0),
    };
    let target = Target {
        host,
        port,
        tls: TlsMode::Implicit,
        trust: trust(args),
    };
    Ok(target.client_config()?)
}

/// The POP3 endpoint of --target, as `conform run` takes it.
fn pop3_endpoint(args: &SeedArgs, spec: &str, io_timeout: Duration) -> Result<Endpoint, CliError> {
    let mut target = Target::parse(spec)?;
    target.trust = trust(args);
    if let Some(mode) = args.tls {
        target.tls = mode.into();
    }
    let user = args
        .user
        .clone()
        .ok_or_else(|| usage("--target needs --user"))?;
    let tls = match target.tls {
        TlsMode::None => None,
        _ => Some(target.client_config()?),
    };
    Ok(Endpoint {
        target,
        tls,
        limits: crate::setup::limits(io_timeout),
        profile: Profile {
            user,
            password: password(&args.password_env)?,
            token: None,
        },
    })
}

/// A logged-in POP3 session on `endpoint` (the first login method that works, as `conform
/// run` finds it).
async fn pop3_session(endpoint: &Endpoint) -> anyhow::Result<probe::Probe> {
    let (caps, _) = probe::capabilities(endpoint, None)
        .await
        .context("POP3 greeting and CAPA")?;
    let method = caps
        .login
        .context("no POP3 login method works with --user and its password")?;
    probe::open_logged_in(endpoint, method)
        .await
        .with_context(|| format!("POP3 login ({})", method.name()))
}

/// STAT's message count.
async fn stat(s: &mut probe::Probe) -> anyhow::Result<usize> {
    let a = s.ask(b"STAT").await.context("POP3 STAT")?;
    let text = String::from_utf8_lossy(&a).into_owned();
    if !positive(&a) {
        bail!("POP3 STAT answered {text}");
    }
    text.split(' ')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("POP3 STAT answered {text} (RFC 1939 §5: +OK nn mm)"))
}

/// How many messages the maildrop holds.
async fn maildrop_count(endpoint: &Endpoint) -> anyhow::Result<usize> {
    let mut s = pop3_session(endpoint).await?;
    let n = stat(&mut s).await?;
    s.quit().await;
    Ok(n)
}

/// DELE of every message, then QUIT, whose +OK says the UPDATE state removed them (RFC 1939
/// §6); the number removed.
async fn empty_maildrop(endpoint: &Endpoint) -> anyhow::Result<usize> {
    let mut s = pop3_session(endpoint).await?;
    let n = stat(&mut s).await?;
    for k in 1..=n {
        let a = s
            .ask(format!("DELE {k}").as_bytes())
            .await
            .with_context(|| format!("POP3 DELE {k}"))?;
        if !positive(&a) {
            bail!("POP3 DELE {k} answered {}", String::from_utf8_lossy(&a));
        }
    }
    let a = s.ask(b"QUIT").await.context("POP3 QUIT")?;
    if !positive(&a) {
        bail!(
            "POP3 QUIT answered {} (RFC 1939 §6: the deletions may not have been made)",
            String::from_utf8_lossy(&a)
        );
    }
    Ok(n)
}

/// Waits up to `wait` for the maildrop to hold `want` messages (more is an error: something
/// else is delivering there).
async fn await_count(endpoint: &Endpoint, want: usize, wait: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        let held = maildrop_count(endpoint).await?;
        if held > want {
            bail!("it holds {held} messages, {want} expected: something else delivers there");
        }
        if held == want {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("it holds {held} messages");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits up to `wait` for the maildrop to be the fixture, by the runner's test.
async fn check(endpoint: &Endpoint, wait: Duration) -> Result<(), CliError> {
    let env = runner::CaseEnv {
        endpoint: endpoint.clone(),
        fixture: Arc::new(crate::setup::fixture_messages()),
        login: None,
    };
    let deadline = Instant::now() + wait;
    loop {
        let why = match probe::capabilities(endpoint, None).await {
            Ok((caps, _)) => match runner::discover::fixture_present(&env, &caps).await {
                Ok(()) => return Ok(()),
                Err(why) => why.to_string(),
            },
            Err(e) => format!("POP3 at {}: {e}", endpoint.target),
        };
        if Instant::now() >= deadline {
            return Err(CliError::Other(anyhow::anyhow!(
                "--check: after {} s, {why}",
                wait.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `imap://HOST[:PORT]/MAILBOX` or `imaps://...`: the address, whether TLS is implicit, and
/// the mailbox (percent-decoded; INBOX when empty).
fn parse_imap_url(url: &str) -> Result<(Address, bool, String), String> {
    let bad = || format!("bad --imap {url:?}: expected imap[s]://HOST[:PORT]/MAILBOX");
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let (implicit, port) = match scheme.to_ascii_lowercase().as_str() {
        "imap" => (false, 143),
        "imaps" => (true, 993),
        _ => return Err(bad()),
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let address = Address::parse(authority, Some(port)).map_err(|_| bad())?;
    let mut mailbox = Vec::new();
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = path.get(i + 1..i + 3).ok_or_else(bad)?;
            mailbox.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            mailbox.push(bytes[i]);
            i += 1;
        }
    }
    let mailbox = String::from_utf8(mailbox).map_err(|_| bad())?;
    Ok((
        address,
        implicit,
        if mailbox.is_empty() {
            "INBOX".into()
        } else {
            mailbox
        },
    ))
}

/// The fixture into the Maildir `dir`; one that holds messages (in `cur/` or `new/`) is
/// refused unless `replace` (which removes them first): seeding twice must not give 14.
fn seed_maildir(dir: &Path, replace: bool) -> anyhow::Result<()> {
    if !replace {
        let held: usize = ["cur", "new"]
            .iter()
            .map(|sub| {
                std::fs::read_dir(dir.join(sub))
                    .map(|d| {
                        d.flatten()
                            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                            .count()
                    })
                    .unwrap_or(0)
            })
            .sum();
        if held > 0 {
            bail!(
                "the Maildir holds {held} messages: nothing written (--replace removes them first)"
            );
        }
    }
    fixture::seed_maildir(dir, replace)?;
    Ok(())
}

/// The envelope sender written into every `From ` line.
const ENVELOPE_SENDER: &str = "conform@example.org";

/// Writes the fixture as an mbox at `file`: into a temporary file in the same folder, then
/// renamed over `file`, so a server never reads half a file. An existing `file` is replaced
/// only with `replace` (or when empty), and the new one gets its owner (when allowed: root
/// seeding for a server that runs as another user) and its mode.
pub fn seed_mbox(file: &Path, replace: bool) -> anyhow::Result<()> {
    let existing = match std::fs::metadata(file) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).context("reading its metadata"),
    };
    if let Some(m) = &existing {
        if !m.is_file() {
            bail!("not a regular file");
        }
        if m.len() > 0 && !replace {
            bail!("the file exists and is not empty (--replace overwrites it)");
        }
    }
    let folder = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let name = file
        .file_name()
        .context("the path names no file")?
        .to_string_lossy()
        .into_owned();
    let tmp_path = folder.join(format!(".{name}.conform-seed.{}", std::process::id()));
    let written = write_new(&tmp_path, existing.as_ref(), &mbox_bytes(fixture::MESSAGES))
        .and_then(|()| std::fs::rename(&tmp_path, file));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp_path);
        return Err(e).with_context(|| format!("writing {} and renaming it", tmp_path.display()));
    }
    Ok(())
}

/// Creates `path` (which must not exist) with `data`, the mode of `like` (else 0644) and,
/// when allowed, its owner.
fn write_new(path: &Path, like: Option<&std::fs::Metadata>, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
    let mode = like.map_or(0o644, |m| m.permissions().mode() & 0o7777);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    if let Some(m) = like {
        // Only root may give a file away (seeding for a server that runs as another user);
        // otherwise the caller owns both files already, or the mode and folder decide.
        let _ = std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()));
    }
    f.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// `messages` (LF line ends, each ending with LF) as an mboxrd file (see the module docs).
pub fn mbox_bytes(messages: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(messages.iter().map(|m| m.len() + 64).sum());
    for (i, message) in messages.iter().enumerate() {
        let when = fixture::BASE_TIME + i as u64 + 1;
        out.extend_from_slice(format!("From {ENVELOPE_SENDER} {}\n", asctime(when)).as_bytes());
        for line in message.split_inclusive(|&b| b == b'\n') {
            if is_from_line(line) {
                out.push(b'>');
            }
            out.extend_from_slice(line);
        }
        if !message.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

/// Whether `line` matches `^>*From ` (it needs one more `>` in an mboxrd body).
fn is_from_line(line: &[u8]) -> bool {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    line[quotes..].starts_with(b"From ")
}

/// `secs` since the epoch (UTC) as asctime(3) writes it, without the newline:
/// `Tue Nov 14 22:13:21 2023`, the date format of an mbox `From ` line.
fn asctime(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // civil_from_days (H. Hinnant), for days since 1970-01-01
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An mboxrd reader: messages start after a `From ` line at the start of the file or after
    /// an empty line; the empty line before each separator (and at the end) is the
    /// separator's; one `>` comes off every `^>+From ` line.
    fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
        let mut messages: Vec<Vec<u8>> = Vec::new();
        let mut previous_empty = true;
        for line in data.split_inclusive(|&b| b == b'\n') {
            if previous_empty && line.starts_with(b"From ") {
                if let Some(last) = messages.last_mut() {
                    assert_eq!(last.pop(), Some(b'\n'), "no empty line before a From line");
                }
                messages.push(Vec::new());
                previous_empty = false;
                continue;
            }
            previous_empty = line == b"\n";
            let current = messages
                .last_mut()
                .expect("the file starts with a From line");
            if line.starts_with(b">") && is_from_line(line) {
                current.extend_from_slice(&line[1..]);
            } else {
                current.extend_from_slice(line);
            }
        }
        if let Some(last) = messages.last_mut() {
            assert_eq!(
                last.pop(),
                Some(b'\n'),
                "no empty line after the last message"
            );
        }
        messages
    }

    #[test]
    fn a_maildir_is_never_seeded_twice() {
        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join("Maildir");
        let count = || {
            ["cur", "new"]
                .iter()
                .map(|s| std::fs::read_dir(md.join(s)).unwrap().count())
                .sum::<usize>()
        };
        seed_maildir(&md, false).unwrap();
        assert_eq!(count(), 7);
        let err = seed_maildir(&md, false).unwrap_err().to_string();
        assert!(
            err.contains("holds 7 messages: nothing written (--replace"),
            "{err}"
        );
        assert_eq!(count(), 7);
        seed_maildir(&md, true).unwrap();
        assert_eq!(count(), 7);
    }

    #[test]
    fn imap_urls() {
        let (a, tls, m) = parse_imap_url("imaps://mail.test/Seed%20Box").unwrap();
        assert_eq!(
            (a.to_string(), tls, m.as_str()),
            ("mail.test:993".into(), true, "Seed Box")
        );
        let (a, tls, m) = parse_imap_url("imap://127.0.0.1:1143").unwrap();
        assert_eq!(
            (a.to_string(), tls, m.as_str()),
            ("127.0.0.1:1143".into(), false, "INBOX")
        );
        for bad in ["pop3://x/INBOX", "imap:///INBOX", "imap://x/%zz", "x"] {
            assert!(parse_imap_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn asctime_matches_the_c_library() {
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime(1_700_000_001), "Tue Nov 14 22:13:21 2023");
        assert_eq!(asctime(951_782_400), "Tue Feb 29 00:00:00 2000");
        assert_eq!(asctime(4_102_444_799), "Thu Dec 31 23:59:59 2099");
    }

    #[test]
    fn the_fixture_round_trips() {
        let data = mbox_bytes(fixture::MESSAGES);
        assert!(!data.contains(&b'\r'));
        assert!(data.starts_with(b"From conform@example.org Tue Nov 14 22:13:21 2023\n"));
        let back = split_mbox(&data);
        assert_eq!(back.len(), 7);
        for (i, (got, want)) in back.iter().zip(fixture::MESSAGES).enumerate() {
            assert!(
                got == want,
                "message {} differs after the round trip",
                i + 1
            );
        }
        // seven separators, each after an empty line (or at the start)
        let separators = data
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"From "))
            .count();
        assert_eq!(separators, 7);
    }

    #[test]
    fn from_lines_in_a_body_are_quoted_and_come_back() {
        let tricky: &[u8] = b"Subject: x\n\nFrom here on\n>From quoted\n>>From twice\nFrom\n \
From indented\nfrom lower\n";
        let plain: &[u8] = b"Subject: y\n\nbody\n";
        let data = mbox_bytes(&[tricky, plain]);
        let text = String::from_utf8(data.clone()).unwrap();
        assert!(text.contains("\n>From here on\n>>From quoted\n>>>From twice\nFrom\n"));
        assert!(text.contains("\n From indented\nfrom lower\n\nFrom conform@example.org "));
        assert_eq!(split_mbox(&data), vec![tricky.to_vec(), plain.to_vec()]);
        // a message without a final LF gets one (mbox lines end with LF)
        assert_eq!(
            split_mbox(&mbox_bytes(&[b"A: b\n\nc"])),
            vec![b"A: b\n\nc\n".to_vec()]
        );
    }

    #[test]
    fn seed_mbox_replaces_only_when_asked_and_keeps_the_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/INBOX");
        seed_mbox(&file, false).unwrap();
        let first = std::fs::read(&file).unwrap();
        assert_eq!(first, mbox_bytes(fixture::MESSAGES));
        let err = seed_mbox(&file, false).unwrap_err();
        assert!(format!("{err:#}").contains("--replace"), "{err:#}");
        std::fs::write(&file, b"From x Thu Jan  1 00:00:00 1970\n\nspoilt\n\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        seed_mbox(&file, true).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), first);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // nothing left behind but the mbox
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["INBOX"]);
    }
}
