//! `conform seed`: the standard fixture (`scenarios/fixtures/`) into a Maildir or an mbox file.
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

use anyhow::{bail, Context as _};
use clap::{ArgGroup, Args};
use reference_server::fixture;

use crate::error::{CliError, Outcome};

/// Arguments of `conform seed`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("store").required(true).args(["maildir", "mbox"])))]
pub struct SeedArgs {
    /// The Maildir to write (created if missing; `cur/`, `new/`, `tmp/`).
    #[arg(long, value_name = "DIR")]
    maildir: Option<PathBuf>,
    /// The mbox file to write (mboxrd: `From ` separators, `>From ` quoting, LF line ends).
    /// Written to a temporary file beside it and renamed into place; an existing file keeps
    /// its owner and mode.
    #[arg(long, value_name = "FILE")]
    mbox: Option<PathBuf>,
    /// Remove the messages already there first, so it holds exactly the fixture (an existing,
    /// non-empty mbox is refused without it).
    #[arg(long)]
    replace: bool,
}

/// Writes the fixture and says where, how many messages and octets.
pub fn run(args: SeedArgs) -> Result<Outcome, CliError> {
    let (place, count) = match (&args.maildir, &args.mbox) {
        (Some(dir), _) => {
            let names = fixture::seed_maildir(dir, args.replace)
                .with_context(|| format!("seeding {}", dir.display()))?;
            (dir, names.len())
        }
        (None, Some(file)) => {
            seed_mbox(file, args.replace).with_context(|| format!("seeding {}", file.display()))?;
            (file, fixture::MESSAGES.len())
        }
        (None, None) => unreachable!("clap requires --maildir or --mbox"),
    };
    let size: u64 = fixture::MESSAGES
        .iter()
        .map(|m| pop3_proto::multiline::wire_size(m))
        .sum();
    println!(
        "seeded {} with the standard fixture: {} messages, {} octets",
        place.display(),
        count,
        size
    );
    Ok(Outcome::Passed)
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
