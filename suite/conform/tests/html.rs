//! `conform run --html` rendered by headless Chromium (the Debian package `chromium`, which
//! `.ci/run` installs; without it the test skips with one loud line): the page's script runs without error, the counts the page
//! shows are the JUnit report's, its filters work, and no password is in it.

/// One line on the test process's standard error that `cargo test` does not capture (its
/// capture takes `eprintln!`): a skipped test says so loudly.
macro_rules! loud {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use common::{conform, root, run};

/// The browser (`.ci/run` installs Debian's `chromium`), or `None`: the test then skips with
/// one loud line — tests install nothing themselves.
fn chromium() -> Option<&'static str> {
    static FOUND: OnceLock<Option<&'static str>> = OnceLock::new();
    *FOUND.get_or_init(|| {
        let have = Command::new("sh")
            .args(["-c", "command -v chromium"])
            .output()
            .is_ok_and(|o| o.status.success());
        if have {
            return Some("chromium");
        }
        loud!("SKIPPED the HTML rendering test: chromium is not on PATH (.ci/run installs it)");
        None
    })
}

/// Headless Chromium on `page` (a `file://` URL, maybe with a `#fragment`) with `what`
/// (`--dump-dom`, `--screenshot=FILE`); stdout.
fn render(browser: &str, profile: &Path, page: &str, what: &str) -> String {
    let out = Command::new("timeout")
        .args([
            "120",
            browser,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--window-size=1400,1100", what, page])
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium {what} {page}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of attribute `name` in the first `<tag ...>` of `text`.
fn attr<'a>(text: &'a str, tag: &str, name: &str) -> &'a str {
    let open = text
        .find(&format!("<{tag} "))
        .unwrap_or_else(|| panic!("no <{tag}>"));
    let element = &text[open..open + text[open..].find('>').unwrap()];
    let key = format!(" {name}=\"");
    let at = element
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {element}"))
        + key.len();
    &element[at..at + element[at..].find('"').unwrap()]
}

/// The `data-count` of the element with `id` in the rendered page.
fn count(dom: &str, id: &str) -> usize {
    let key = format!("id=\"{id}\"");
    let at = dom
        .find(&key)
        .unwrap_or_else(|| panic!("no {key} in the page"));
    let element = &dom[at..at + dom[at..].find('>').unwrap()];
    let value = &element[element.find("data-count=\"").expect("data-count") + 12..];
    value[..value.find('"').unwrap()]
        .parse()
        .unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// The case rows of the rendered page and how many of them the filters show.
fn rows(dom: &str) -> (usize, usize) {
    let rows: Vec<&str> = dom
        .split("<tr class=\"case ")
        .skip(1)
        .map(|r| &r[..r.find('>').unwrap()])
        .collect();
    let shown = rows.iter().filter(|r| !r.contains(" hidden")).count();
    (rows.len(), shown)
}

#[test]
fn html_report_renders_in_chromium_with_the_junit_counts_and_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let (junit, html) = (dir.path().join("junit.xml"), dir.path().join("report.html"));
    let (code, out, err) = run(conform()
        .args(["run", "--fault", "list-renumbers-after-dele", "--junit"])
        .arg(&junit)
        .arg("--html")
        .arg(&html));
    assert_eq!(code, 1, "{out}\n{err}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    let junit_count = |name: &str| -> usize { attr(&xml, "testsuites", name).parse().unwrap() };
    let (tests, failures, errors, skipped) = (
        junit_count("tests"),
        junit_count("failures"),
        junit_count("errors"),
        // <testsuites> has no `skipped` (Jenkins' xunit schema refuses it): its cases' count
        xml.matches("<skipped ").count(),
    );
    assert!(tests > 400 && failures > 0, "{tests} {failures}");

    for secret in [
        "demo-password".to_owned(),
        pop3_proto::auth::encode_base64(b"demo-password"),
        pop3_proto::auth::encode_base64(b"\0demo\0demo-password"),
        pop3_proto::auth::encode_base64(b"demo\0demo-password"),
    ] {
        assert!(
            !page.contains(&secret),
            "the password is in the page: {secret}"
        );
    }
    for external in ["src=", "href=", "url(", "@import", "http:", "https:"] {
        assert!(
            !page.contains(external),
            "the page refers outside: {external}"
        );
    }

    let Some(browser) = chromium() else { return };
    let url = format!("file://{}", html.display());
    let profile = dir.path().join("chromium");
    let dom = render(browser, &profile, &url, "--dump-dom");
    assert!(
        dom.contains("<body data-ready=\"yes\">"),
        "the page's script did not finish: {}",
        &dom[..dom.len().min(2000)]
    );
    // the script built the RFC filter from the rows, and shows every row
    let rfcs = dom.matches("<option value=\"").count() - 1;
    assert!(rfcs >= 5, "{rfcs} RFCs in the filter");
    assert_eq!(rows(&dom), (tests, tests));
    assert_eq!(count(&dom, "shown"), tests);
    // the page's totals are JUnit's (JUnit writes a known deviation as skipped)
    assert_eq!(count(&dom, "n-tests"), tests);
    assert_eq!(count(&dom, "n-failed"), failures);
    assert_eq!(count(&dom, "n-errors"), errors);
    // JUnit writes known deviations, not-applicable and blocked cases as skipped
    assert_eq!(
        count(&dom, "n-skipped")
            + count(&dom, "n-known")
            + count(&dom, "n-na")
            + count(&dom, "n-blocked"),
        skipped
    );
    assert_eq!(count(&dom, "n-passed"), tests - failures - errors - skipped);
    // failures come first
    assert!(
        dom.split("<tr class=\"case ")
            .nth(1)
            .unwrap()
            .starts_with("k-fail"),
        "the first row is not a failure"
    );

    // a link's fragment presets the filters: only failures and errors, then one RFC and a word
    let dom = render(
        browser,
        &profile,
        &format!("{url}#verdict=fail,error"),
        "--dump-dom",
    );
    assert_eq!(rows(&dom), (tests, failures + errors));
    assert_eq!(count(&dom, "shown"), failures + errors);
    let dom = render(
        browser,
        &profile,
        &format!("{url}#q=dele-leaves-gaps&rfc=1939&level=MUST"),
        "--dump-dom",
    );
    assert_eq!(rows(&dom), (tests, 1));

    // a picture of the page for a person to look at (CI keeps reports/)
    let shot = root().join("reports/html-report.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    render(
        browser,
        &profile,
        &url,
        &format!("--screenshot={}", shot.display()),
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}
