#!/usr/bin/env bash
# Start a private Dovecot POP3 server for the conformance suite (suite/conform/tests/dovecot.rs).
#
#   .ci/dovecot/start.sh DIR
#
# Writes into DIR (created if missing): dovecot.conf (from dovecot.conf.in beside this script),
# users (a passwd-file with four users, one password: conform, conform2, conform3, conform4, an
# account pool for `conform run --user ... --user ...`), Maildir/ (conform's; empty: seed it
# with `conform seed --maildir DIR/Maildir --replace`), maildirs/USER/ (each user's Maildir;
# maildirs/conform is a link to ../Maildir, so `--reseed-cmd 'conform seed --replace --maildir
# DIR/maildirs/{user}'` serves every account), cert.pem/key.pem (self-signed for 127.0.0.1 and localhost), run/
# (base_dir), state/ (state_dir), dovecot.log. Then starts `dovecot -c DIR/dovecot.conf`, waits
# until both listeners accept connections and prints, one per line:
#
#   pop3=PORT        plain POP3 on 127.0.0.1, STLS offered
#   pop3s=PORT       implicit TLS on 127.0.0.1
#   user=NAME        the first user (conform)
#   users=N1,N2,..   every user (conform,conform2,conform3,conform4), one password
#   password=SECRET
#   maildirs=DIR/maildirs   each user's Maildir is maildirs/USER
#   cert=DIR/cert.pem
#
# The same lines go to DIR/ports.env. Stop it with `dovecot -c DIR/dovecot.conf stop`.
# Runs unprivileged: every Dovecot process runs as the calling user. Started as root (CI
# containers), the master keeps root but the login and internal processes run as the
# package's `dovenull`/`dovecot` users and mail is accessed as root, which owns the Maildir.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
# Debian installs dovecot in /usr/sbin, which is not on a normal user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"
mkdir -p "$1"
dir="$(cd "$1" && pwd)"

command -v dovecot >/dev/null || {
  echo "dovecot is not installed (apt-get install dovecot-pop3d)" >&2
  exit 1
}
command -v openssl >/dev/null || {
  echo "openssl is not installed (apt-get install openssl)" >&2
  exit 1
}

user_name=conform
users="conform conform2 conform3 conform4"
password="conform-dovecot-secret"

if [ "$(id -u)" = 0 ]; then
  # Root: Dovecot's own unprivileged users (created by dovecot-core) for login and internal
  # processes, as in a packaged install. Mail is accessed as `nobody` (Dovecot refuses UID 0
  # for mail): it owns the Maildir's folders, so it can rename and unlink the messages the
  # test seeds there as root (files 0644).
  internal_user=dovecot
  internal_group=dovecot
  login_user=dovenull
  getent passwd dovecot >/dev/null || internal_user=nobody
  getent group dovecot >/dev/null || internal_group=nogroup
  getent passwd dovenull >/dev/null || login_user=nobody
  mail_uid="$(id -u nobody)"
  mail_gid="$(getent group nogroup | cut -d: -f3)"
else
  # Not root: Dovecot cannot change users, so every process runs as the caller.
  internal_user="$(id -un)"
  internal_group="$(id -gn)"
  login_user="$internal_user"
  mail_uid="$(id -u)"
  mail_gid="$(id -g)"
fi

mkdir -p "$dir/run" "$dir/state" "$dir/home" "$dir/index" "$dir/control" \
  "$dir/Maildir/cur" "$dir/Maildir/new" "$dir/Maildir/tmp" "$dir/maildirs"
ln -sfn ../Maildir "$dir/maildirs/$user_name"
for u in $users; do
  [ "$u" = "$user_name" ] && continue
  mkdir -p "$dir/maildirs/$u/cur" "$dir/maildirs/$u/new" "$dir/maildirs/$u/tmp" \
    "$dir/index-$u" "$dir/control-$u"
done
chmod 0755 "$dir" "$dir/run"
if [ "$(id -u)" = 0 ]; then
  chown -R "$mail_uid:$mail_gid" "$dir/home" "$dir/index" "$dir/control" "$dir/Maildir" \
    "$dir/maildirs" "$dir"/index-* "$dir"/control-*
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

# passwd-file: user:password:uid:gid:(gecos):home:(shell):extra. {PLAIN} so that CRAM-MD5 and
# APOP, which need the clear secret, work too, and SCRAM-SHA-1/-256, whose keys Dovecot derives
# from it (a {SCRAM-SHA-256} entry would serve SCRAM only, not CRAM-MD5 or APOP). nodelay: a wrong APOP or CRAM-MD5 digest is
# answered at once, not from Dovecot's failure queue (see the second passdb in dovecot.conf.in).
# The first user reads mail_location (DIR/Maildir); the others their own Maildir, index and
# control folders (userdb_mail overrides mail_location for that user).
: >"$dir/users"
for u in $users; do
  extra="nodelay=yes"
  if [ "$u" != "$user_name" ]; then
    extra="$extra userdb_mail=maildir:$dir/maildirs/$u:INDEX=$dir/index-$u:CONTROL=$dir/control-$u"
  fi
  printf '%s:{PLAIN}%s:%s:%s::%s::%s\n' "$u" "$password" \
    "$mail_uid" "$mail_gid" "$dir/home" "$extra" >>"$dir/users"
done
chmod 0644 "$dir/users"

for attempt in 1 2 3 4 5; do
  pop3="$(free_port)"
  pop3s="$(free_port)"
  [ "$pop3" != "$pop3s" ] || continue
  sed -e "s|@DIR@|$dir|g" -e "s|@POP3_PORT@|$pop3|g" -e "s|@POP3S_PORT@|$pop3s|g" \
    -e "s|@INTERNAL_USER@|$internal_user|g" -e "s|@INTERNAL_GROUP@|$internal_group|g" \
    -e "s|@LOGIN_USER@|$login_user|g" -e "s|@FIRST_VALID_UID@|$mail_uid|g" \
    "$here/dovecot.conf.in" >"$dir/dovecot.conf"
  : >"$dir/dovecot.log"
  if ! dovecot -c "$dir/dovecot.conf" 2>"$dir/start.err"; then
    if grep -qi "address already in use" "$dir/start.err" "$dir/dovecot.log"; then
      continue
    fi
    cat "$dir/start.err" "$dir/dovecot.log" >&2
    exit 1
  fi
  # The master daemonises at once; wait until both listeners answer.
  up=no
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$pop3") 2>/dev/null &&
      (exec 3<>"/dev/tcp/127.0.0.1/$pop3s") 2>/dev/null; then
      up=yes
      break
    fi
    sleep 0.05
  done
  if [ "$up" = yes ]; then
    {
      echo "pop3=$pop3"
      echo "pop3s=$pop3s"
      echo "user=$user_name"
      echo "users=$(echo $users | tr ' ' ',')"
      echo "password=$password"
      echo "maildirs=$dir/maildirs"
      echo "cert=$dir/cert.pem"
    } | tee "$dir/ports.env"
    exit 0
  fi
  dovecot -c "$dir/dovecot.conf" stop >/dev/null 2>&1 || true
  if ! grep -qi "address already in use" "$dir/dovecot.log"; then
    echo "dovecot did not start listening on 127.0.0.1:$pop3 and :$pop3s" >&2
    cat "$dir/dovecot.log" >&2
    exit 1
  fi
done
echo "dovecot: no free ports after 5 attempts" >&2
cat "$dir/dovecot.log" >&2
exit 1
