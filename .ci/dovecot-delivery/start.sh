#!/usr/bin/env bash
# Start a private Dovecot that takes mail over IMAP and LMTP besides POP3, for the seeding
# tests (suite/conform/tests/delivery.rs: `conform seed --imap` and `--lmtp`).
#
#   .ci/dovecot-delivery/start.sh DIR
#
# The POP3 Dovecot of .ci/dovecot/start.sh (same users, Maildir, certificate and settings),
# plus DIR/delivery.conf, which its dovecot.conf includes (`!include_try`): protocols
# pop3 imap lmtp, IMAP on a free loopback port (STARTTLS offered), LMTP on another. Prints
# what .ci/dovecot/start.sh prints, then:
#
#   imap=PORT        plain IMAP on 127.0.0.1, STARTTLS offered
#   lmtp=PORT        LMTP on 127.0.0.1 (RCPT TO:<user>, no domain)
#
# Stop it with `dovecot -c DIR/dovecot.conf stop`. Needs dovecot-imapd and dovecot-lmtpd.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
export PATH="$PATH:/usr/sbin:/sbin"
for part in imap lmtp; do
  [ -x "/usr/lib/dovecot/$part" ] || {
    echo "dovecot's $part is not installed (apt-get install dovecot-${part}d)" >&2
    exit 1
  }
done
mkdir -p "$1"
dir="$(cd "$1" && pwd)"

# A free loopback port below Linux's ephemeral range (32768-60999): on a busy machine
# thousands of client sockets there (TIME-WAIT included) make a listen on such a port fail.
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

for attempt in 1 2 3 4 5; do
  imap="$(free_port)"
  lmtp="$(free_port)"
  [ "$imap" != "$lmtp" ] || continue
  cat >"$dir/delivery.conf" <<CONF
# Written by .ci/dovecot-delivery/start.sh; included last by dovecot.conf.
protocols = pop3 imap lmtp
service imap-login {
  # No chroot: it needs root, and the login processes read nothing from disk.
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $imap
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $lmtp
  }
}
protocol lmtp {
  # RCPT TO:<conform> (or <conform@any.domain>) names the passwd-file user "conform".
  auth_username_format = %Ln
}
CONF
  if ! out="$("$here/../dovecot/start.sh" "$dir" 2>"$dir/start-delivery.err")"; then
    # the POP3 ports are retried by start.sh; a taken IMAP or LMTP port is retried here
    grep -qi "address already in use" "$dir/dovecot.log" && continue
    cat "$dir/start-delivery.err" >&2
    exit 1
  fi
  up=no
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$imap") 2>/dev/null &&
      (exec 3<>"/dev/tcp/127.0.0.1/$lmtp") 2>/dev/null; then
      up=yes
      break
    fi
    sleep 0.05
  done
  if [ "$up" = yes ]; then
    echo "$out"
    printf 'imap=%s\nlmtp=%s\n' "$imap" "$lmtp" | tee -a "$dir/ports.env"
    exit 0
  fi
  dovecot -c "$dir/dovecot.conf" stop >/dev/null 2>&1 || true
  grep -qi "address already in use" "$dir/dovecot.log" || {
    echo "dovecot did not listen on IMAP $imap and LMTP $lmtp" >&2
    cat "$dir/dovecot.log" >&2
    exit 1
  }
done
echo "dovecot: no free IMAP/LMTP ports after 5 attempts" >&2
exit 1
