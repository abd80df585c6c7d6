#!/usr/bin/env bash
# Start a private GNU Mailutils POP3 server for the conformance suite
# (suite/conform/tests/mailutils.rs).
#
#   .ci/mailutils/start.sh DIR
#
# Writes into DIR (created if missing): pop3d.conf (from pop3d.conf.in beside this script),
# domains/conform.test (the virtual domain's passwd file: one user), apop.db (the APOP secret),
# home/INBOX (an empty mbox; seed it with `conform seed --mbox DIR/home/INBOX --replace`),
# cert.pem/key.pem (self-signed for 127.0.0.1 and localhost), pop3d.pid, pop3d.log. Then starts
# `pop3d --config-file DIR/pop3d.conf` in the background, waits until both listeners accept
# connections and prints, one per line:
#
#   pop3=PORT        plain POP3 on 127.0.0.1, STLS offered
#   pop3s=PORT       implicit TLS on 127.0.0.1
#   user=NAME        with its virtual domain: conform@conform.test
#   password=SECRET
#   cert=DIR/cert.pem
#   mbox=DIR/home/INBOX
#
# The same lines go to DIR/ports.env. Stop it with `kill -TERM "$(cat DIR/pop3d.pid)"` (the
# master ends its session children and exits).
#
# No system user: the test user lives in a virtual domain (mailutils' `virtdomain` module: a
# passwd-format file per domain, the domain being the part of the login name after `@`), so
# nothing in /etc is read or changed. Privileges: pop3d insists on switching to group `mail`
# at start, so it starts as root (CI containers) or as a user whose real group is `mail`
# (`sg mail`), never as just any user. As root, the master keeps root (it only listens and
# forks), and each session switches to the virtual user's uid/gid after login, which start.sh
# sets to `nobody`/`nogroup` and gives home/ (the mbox and its dotlock); `conform seed --mbox`
# keeps the mbox's owner when it replaces the file. As a user, every process runs as that user,
# who owns everything under DIR.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
# Debian installs pop3d in /usr/sbin, which is not on a normal user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"
mkdir -p "$1"
dir="$(cd "$1" && pwd)"

command -v pop3d >/dev/null || {
  echo "pop3d is not installed (apt-get install mailutils-pop3d)" >&2
  exit 1
}
command -v openssl >/dev/null || {
  echo "openssl is not installed (apt-get install openssl)" >&2
  exit 1
}

domain=conform.test
user_name="conform@$domain"
password="conform-mailutils-secret"

# pop3d calls setgid(mail) at start, unconditionally (for dotlocks in /var/mail), and exits
# with "error setting mail group" when it may not: it needs root, or `mail` as the caller's
# real group (a member of group mail can run this script under `sg mail -c '...'`).
mail_group_id="$(getent group mail | cut -d: -f3 || true)"
if [ "$(id -u)" != 0 ] && [ "$(id -g)" != "$mail_group_id" ]; then
  echo "pop3d must start as root or with group mail (it sets its group to mail at start):" >&2
  echo "run this as root, or as a member of group mail: sg mail -c '$0 $1'" >&2
  exit 1
fi

if [ "$(id -u)" = 0 ]; then
  # Root: sessions run as nobody (pop3d switches to the virtual user's uid after login).
  mail_uid="$(id -u nobody)"
  mail_gid="$(getent group nogroup | cut -d: -f3)"
else
  mail_uid="$(id -u)"
  mail_gid="$(id -g)"
fi

mkdir -p "$dir/domains" "$dir/home"
chmod 0755 "$dir" "$dir/domains"
# The mbox, empty until seeded: created here so that it has the mail user as owner, which
# `conform seed --mbox --replace` keeps.
[ -e "$dir/home/INBOX" ] || : >"$dir/home/INBOX"
if [ "$(id -u)" = 0 ]; then
  chown -R "$mail_uid:$mail_gid" "$dir/home"
fi

# A free loopback port: one nothing answers on (bash's /dev/tcp), picked at random from the
# dynamic range. A race with another program remains; the start below is retried on failure.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# Self-signed, CA:FALSE: a leaf that `conform run --ca cert.pem` can trust directly (rustls
# refuses a CA certificate as the server's own).
if [ ! -s "$dir/cert.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
fi
chmod 0600 "$dir/key.pem"

# The virtual domain's passwd file (passwd(5) format, the name without the domain part):
# name:crypt(3) hash:uid:gid:gecos:home:shell. The maildrop is HOME/INBOX; the shell is unused.
hash="$(openssl passwd -6 "$password")"
printf '%s:%s:%s:%s:conform test user:%s:/bin/false\n' "${user_name%@*}" "$hash" \
  "$mail_uid" "$mail_gid" "$dir/home" >"$dir/domains/$domain"
chmod 0644 "$dir/domains/$domain"

# APOP needs the clear secret: mailutils keeps it in a DBM file of its own, keyed by the login
# name as the client sends it in `APOP name digest`.
rm -f "$dir/apop.db"
popauth --add --user "$user_name" --password "$password" --file "$dir/apop.db" \
  --permissions 600 >/dev/null 2>"$dir/popauth.err" || {
  cat "$dir/popauth.err" >&2
  exit 1
}

for attempt in 1 2 3 4 5; do
  pop3="$(free_port)"
  pop3s="$(free_port)"
  [ "$pop3" != "$pop3s" ] || continue
  sed -e "s|@DIR@|$dir|g" -e "s|@POP3_PORT@|$pop3|g" -e "s|@POP3S_PORT@|$pop3s|g" \
    "$here/pop3d.conf.in" >"$dir/pop3d.conf"
  pop3d --config-file="$dir/pop3d.conf" --config-lint >"$dir/lint.err" 2>&1 || {
    cat "$dir/lint.err" >&2
    exit 1
  }
  : >"$dir/pop3d.log"
  rm -f "$dir/pop3d.pid"
  # In the foreground (`foreground yes` in the config) but detached: its own session, no
  # terminal, stdout and stderr (its log, `syslog no`) to pop3d.log, so the caller's pipes
  # close when this script ends.
  setsid pop3d --config-file="$dir/pop3d.conf" </dev/null >>"$dir/pop3d.log" 2>&1 &
  pid=$!
  up=no
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    if (exec 3<>"/dev/tcp/127.0.0.1/$pop3") 2>/dev/null &&
      (exec 3<>"/dev/tcp/127.0.0.1/$pop3s") 2>/dev/null; then
      up=yes
      break
    fi
    sleep 0.05
  done
  if [ "$up" = yes ]; then
    # the pid file is the master's own (pidfile in the config); wait until it is written
    for _ in $(seq 1 40); do
      [ -s "$dir/pop3d.pid" ] && break
      sleep 0.05
    done
    [ -s "$dir/pop3d.pid" ] || echo "$pid" >"$dir/pop3d.pid"
    {
      echo "pop3=$pop3"
      echo "pop3s=$pop3s"
      echo "user=$user_name"
      echo "password=$password"
      echo "cert=$dir/cert.pem"
      echo "mbox=$dir/home/INBOX"
    } | tee "$dir/ports.env"
    exit 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if ! grep -qi "address already in use" "$dir/pop3d.log"; then
    echo "pop3d did not start listening on 127.0.0.1:$pop3 and :$pop3s" >&2
    cat "$dir/pop3d.log" >&2
    exit 1
  fi
done
echo "pop3d: no free ports after 5 attempts" >&2
cat "$dir/pop3d.log" >&2
exit 1
