#!/usr/bin/env bash
# Start a private OpenSMTPD (Debian `opensmtpd`) on a free loopback port that hands every
# message to an LMTP server, for the SMTP seeding test (suite/conform/tests/delivery.rs:
# `conform seed --smtp` through a real MTA into Dovecot's LMTP).
#
#   .ci/smtp/start.sh DIR LMTP_HOST:PORT
#
# Writes DIR/smtpd.conf (created if missing): listen on 127.0.0.1 only, on a free port; accept
# mail from local clients for any recipient whose local part is conform, conform2, conform3 or
# conform4 (a userbase table: smtpd looks users up there, not in /etc/passwd; delivery runs as
# `nobody`), and deliver it with smtpd's LMTP delivery agent to LMTP_HOST:PORT, the envelope
# recipient unchanged as RCPT TO (`rcpt-to`). Other recipients are refused at RCPT (550).
# Then starts `smtpd -d -f DIR/smtpd.conf` in the background (its log in DIR/smtpd.log, its
# process id in DIR/smtpd.pid), waits until it accepts connections and prints:
#
#   smtp=PORT        SMTP on 127.0.0.1 (no STARTTLS, no AUTH)
#
# Stop it with `kill $(cat DIR/smtpd.pid)` (SIGTERM: smtpd ends its children).
#
# Needs root: smtpd refuses to run otherwise (it chroots and drops to its `opensmtpd` user).
# Its spool (/var/spool/smtpd) and control socket (/var/run/smtpd.sock) are built in, shared
# with a system OpenSMTPD: one that runs makes this one fail (`.ci/run` stops the service the
# package starts). Nothing touches port 25 or /etc/smtpd.conf.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 DIR LMTP_HOST:PORT" >&2
  exit 2
fi
export PATH="$PATH:/usr/sbin:/sbin"
command -v smtpd >/dev/null || {
  echo "OpenSMTPD is not installed (apt-get install opensmtpd)" >&2
  exit 1
}
if [ "$(id -u)" != 0 ]; then
  echo "OpenSMTPD's smtpd runs only as root" >&2
  exit 1
fi
mkdir -p "$1"
dir="$(cd "$1" && pwd)"
lmtp="$2"

# A free loopback port below Linux's ephemeral range (as .ci/dovecot-delivery/start.sh).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

nobody_uid="$(id -u nobody)"
nobody_gid="$(getent group nogroup | cut -d: -f3)"
mkdir -p "$dir/smtp-home"

for attempt in 1 2 3 4 5; do
  port="$(free_port)"
  cat >"$dir/smtpd.conf" <<CONF
# Written by .ci/smtp/start.sh.
listen on 127.0.0.1 port $port hostname conform.test
# user -> uid:gid:home (table(5) userinfo); the home holds no .forward
table users { "conform" = "$nobody_uid:$nobody_gid:$dir/smtp-home", \\
  "conform2" = "$nobody_uid:$nobody_gid:$dir/smtp-home", \\
  "conform3" = "$nobody_uid:$nobody_gid:$dir/smtp-home", \\
  "conform4" = "$nobody_uid:$nobody_gid:$dir/smtp-home" }
action "lmtp" lmtp "$lmtp" rcpt-to userbase <users>
match from local for any action "lmtp"
CONF
  smtpd -n -f "$dir/smtpd.conf" >"$dir/smtpd.check" 2>&1 || {
    cat "$dir/smtpd.check" >&2
    exit 1
  }
  : >"$dir/smtpd.log"
  # -d: in the foreground, logging to stderr; its own session, every descriptor redirected,
  # so this script's caller is not kept waiting on its output.
  setsid smtpd -d -f "$dir/smtpd.conf" </dev/null >>"$dir/smtpd.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/smtpd.pid"
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "smtp=$port" | tee "$dir/smtp.env"
      exit 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  grep -qi "address already in use" "$dir/smtpd.log" && continue
  if grep -q "control socket already listening" "$dir/smtpd.log"; then
    echo "another smtpd runs (its control socket /var/run/smtpd.sock answers); stop it" \
      "(a system OpenSMTPD: \`service opensmtpd stop\`)" >&2
  fi
  echo "smtpd did not listen on 127.0.0.1:$port:" >&2
  cat "$dir/smtpd.log" >&2
  exit 1
done
echo "smtpd: no free port after 5 attempts" >&2
exit 1
