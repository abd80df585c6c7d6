//! The page's inline style sheet and script (no fetch: the page's CSP forbids every other
//! source).

pub(super) const STYLE: &str = r#"
:root{--fail:#c62828;--error:#e65100;--known:#6a1b9a;--pass:#2e7d32;--skip:#757575}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1c1c1c;background:#f4f5f7}
header{background:#263238;color:#fff;padding:16px 24px}
header h1{margin:0 0 4px;font-size:20px;font-weight:600}
header .meta{opacity:.85}
header .meta span+span::before{content:" · "}
.status{display:inline-block;margin-left:8px;padding:1px 8px;border-radius:4px;font-size:13px;font-weight:700;vertical-align:middle}
.status.ok{background:var(--pass)}.status.bad{background:var(--fail)}
.totals{display:flex;flex-wrap:wrap;gap:10px;margin-top:12px}
.total{background:#fff;color:#1c1c1c;border-radius:6px;padding:4px 12px;border-left:6px solid #90a4ae;min-width:92px}
.total b{display:block;font-size:22px;font-variant-numeric:tabular-nums}
.total.fail{border-color:var(--fail)}.total.error{border-color:var(--error)}.total.known{border-color:var(--known)}
.total.pass{border-color:var(--pass)}.total.skip{border-color:var(--skip)}
main{padding:8px 24px 32px}
h2{font-size:16px;margin:20px 0 8px}
.summaries{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{padding:4px 10px;border-bottom:1px solid #e3e5e8;text-align:left;vertical-align:top}
th{background:#eceff1;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.all td{font-weight:700}
td.z{color:#b0b4b8}
td.hot{color:var(--fail);font-weight:700}
#filters{display:flex;flex-wrap:wrap;gap:14px;align-items:center;margin:8px 0;padding:8px 10px;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
#filters input[type=search]{width:200px;padding:3px 6px}
#filters label{white-space:nowrap}
#cases{width:100%}
#cases td.v{width:72px}#cases td.l{width:70px}#cases td.r{width:120px;white-space:nowrap}#cases td.d{width:80px;white-space:nowrap}
.badge{display:inline-block;min-width:56px;text-align:center;border-radius:4px;color:#fff;font-size:12px;font-weight:700;padding:1px 6px}
.v-fail{background:var(--fail)}.v-error{background:var(--error)}.v-known{background:var(--known)}.v-pass{background:var(--pass)}.v-skip{background:var(--skip)}.v-na{background:var(--skip)}.v-blocked{background:var(--known)}
tr.k-fail{background:#fff5f5}tr.k-error{background:#fff8f0}tr.k-known{background:#faf5fc}
summary{cursor:pointer}
summary code{font-weight:600}
.body{margin:8px 0 4px;padding:8px 12px;border-left:3px solid #cfd8dc;background:#fafbfc}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 0 8px}
dt{font-weight:600;color:#455a64}dd{margin:0;word-break:break-word}
blockquote{margin:0;font-style:italic}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:12.5px}
dd.exp code{color:var(--pass)}dd.act code{color:var(--fail)}
pre.wire{margin:0;padding:8px 10px;background:#1e2227;color:#d7dae0;border-radius:4px;overflow-x:auto;white-space:pre}
pre.wire .c{color:#61afef}pre.wire .s{color:#98c379}pre.wire .x{color:#8b929a;font-style:italic}
pre.wire .t{color:#6b717a;user-select:none}
.note{color:#6a1b9a}
#empty{padding:12px;color:#757575}
"#;

pub(super) const SCRIPT: &str = r#"
(function () {
  'use strict';
  var rows = [].slice.call(document.querySelectorAll('#cases > tbody > tr'));
  var text = document.getElementById('f-text');
  var level = document.getElementById('f-level');
  var rfc = document.getElementById('f-rfc');
  var boxes = [].slice.call(document.querySelectorAll('#f-verdicts input'));
  var shown = document.getElementById('shown');
  var empty = document.getElementById('empty');
  var rfcs = {};
  rows.forEach(function (r) { rfcs[r.getAttribute('data-rfc')] = true; });
  Object.keys(rfcs).sort(function (a, b) { return a - b; }).forEach(function (n) {
    var o = document.createElement('option');
    o.value = n;
    o.textContent = 'RFC ' + n;
    rfc.appendChild(o);
  });
  function apply() {
    var q = text.value.trim().toLowerCase();
    var want = {};
    boxes.forEach(function (b) { want[b.value] = b.checked; });
    var n = 0;
    rows.forEach(function (r) {
      var ok = want[r.getAttribute('data-verdict')] === true &&
        (!level.value || r.getAttribute('data-level') === level.value) &&
        (!rfc.value || r.getAttribute('data-rfc') === rfc.value) &&
        (!q || r.getAttribute('data-search').indexOf(q) >= 0);
      r.hidden = !ok;
      if (ok) { n++; }
    });
    shown.textContent = String(n);
    shown.setAttribute('data-count', String(n));
    empty.hidden = n > 0;
  }
  function openAll(open) {
    rows.forEach(function (r) {
      if (!r.hidden) { r.querySelector('details').open = open; }
    });
  }
  [text, level, rfc].concat(boxes).forEach(function (el) {
    el.addEventListener('input', apply);
    el.addEventListener('change', apply);
  });
  document.getElementById('expand').addEventListener('click', function () { openAll(true); });
  document.getElementById('collapse').addEventListener('click', function () { openAll(false); });
  [].slice.call(document.querySelectorAll('tr[data-pick-rfc], tr[data-pick-level]')).forEach(function (tr) {
    tr.style.cursor = 'pointer';
    tr.title = 'show these cases';
    tr.addEventListener('click', function () {
      rfc.value = tr.getAttribute('data-pick-rfc') || '';
      level.value = tr.getAttribute('data-pick-level') || '';
      apply();
      document.getElementById('cases').scrollIntoView();
    });
  });
  // a link may preset the filters: #q=dele&verdict=fail,error&level=MUST&rfc=1939
  location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
    var i = kv.indexOf('=');
    if (i < 0) { return; }
    var k = kv.slice(0, i), v = decodeURIComponent(kv.slice(i + 1));
    if (k === 'q') { text.value = v; }
    if (k === 'level') { level.value = v; }
    if (k === 'rfc') { rfc.value = v; }
    if (k === 'verdict') {
      var on = v.split(',');
      boxes.forEach(function (b) { b.checked = on.indexOf(b.value) >= 0; });
    }
  });
  document.getElementById('filters').hidden = false;
  apply();
  document.body.setAttribute('data-ready', 'yes');
})();
"#;
