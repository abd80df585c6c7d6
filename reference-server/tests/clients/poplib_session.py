#!/usr/bin/env python3
"""One POP3 session with Python's poplib, for reference-server/tests/clients.rs.

The script only talks to the server and reports what it saw; the Rust test holds the
expectations. Output is one record per line, fields separated by single spaces; byte
payloads (message text as poplib returns it) are hex so any octet survives:

    GREETING <text>                 the server greeting
    CAPA_BEFORE <name> ...          CAPA names before STLS (--tls stls)
    PLAIN_REFUSED <text>            USER before STLS was refused (--probe-plain)
    PLAIN_ACCEPTED <text>           ... or accepted
    TLS <version>                   TLS is in use (stls or implicit)
    CAPA <name> ...                 CAPA names after TLS (or without TLS)
    LOGIN <tries> <text>            the login answer and how many attempts it took
    STAT <count> <octets>
    LIST <n> <octets>               one per message
    UIDL <n> <uid>                  one per message
    RETR <n> <octets> <hex>         poplib's octet count and b"\n".join(lines)
    TOP <n> <k> <hex>               TOP n k, b"\n".join(lines)
    DELE <n> <text>
    APOP_REFUSED <text>             --action apop-wrong: poplib.error_proto text
    QUIT <text> | DROPPED           how the session ended

poplib strips CRLF and removes the stuffing dot, so "\n".join(lines) of a message is the stored
(LF) message without its final line end. Any unexpected failure raises, giving a traceback and
exit status 1.
"""

import argparse
import poplib
import socket
import ssl
import sys
import time


def out(*fields):
    print(" ".join(str(f) for f in fields), flush=True)


def text(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def hexed(lines):
    return b"\n".join(lines).hex()


def login(p, args):
    """USER/PASS or APOP; retries while the maildrop is still locked by a session that just
    ended (the server releases the lock when it notices the closed socket)."""
    for tries in range(1, 101):
        try:
            if args.auth == "apop":
                resp = p.apop(args.user, args.password)
            else:
                p.user(args.user)
                resp = p.pass_(args.password)
            return tries, resp
        except poplib.error_proto as e:
            if b"[IN-USE]" not in e.args[0] or tries == 100:
                raise
            time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--cafile", help="PEM CA file to trust for STLS / implicit TLS")
    ap.add_argument("--tls", choices=["none", "stls", "implicit"], default="none")
    ap.add_argument("--auth", choices=["user", "apop"], default="user")
    ap.add_argument(
        "--action", choices=["inspect", "apop-wrong"], default="inspect",
        help="inspect: log in and list; apop-wrong: APOP with a wrong password",
    )
    ap.add_argument("--probe-plain", action="store_true",
                    help="with --tls stls: try USER before STLS and report the answer")
    ap.add_argument("--retr", action="store_true",
                    help="RETR every message, TOP 7 0 and TOP 7 3")
    ap.add_argument("--dele", default="", help="comma-separated message numbers to DELE")
    ap.add_argument("--end", choices=["quit", "drop"], default="quit",
                    help="quit: QUIT; drop: close the socket without QUIT")
    args = ap.parse_args()

    context = None
    if args.tls != "none":
        if not args.cafile:
            sys.exit("--cafile is required with TLS")
        context = ssl.create_default_context(cafile=args.cafile)

    if args.tls == "implicit":
        p = poplib.POP3_SSL(args.host, args.port, context=context, timeout=30)
    else:
        p = poplib.POP3(args.host, args.port, timeout=30)
    out("GREETING", text(p.getwelcome()))

    if args.tls == "stls":
        out("CAPA_BEFORE", *sorted(p.capa()))
        if args.probe_plain:
            try:
                out("PLAIN_ACCEPTED", text(p.user(args.user)))
            except poplib.error_proto as e:
                out("PLAIN_REFUSED", text(e.args[0]))
        p.stls(context)
    if args.tls != "none":
        out("TLS", p.sock.version())
    out("CAPA", *sorted(p.capa()))

    if args.action == "apop-wrong":
        try:
            resp = p.apop(args.user, args.password + "-wrong")
            out("APOP_ACCEPTED", text(resp))
        except poplib.error_proto as e:
            out("APOP_REFUSED", text(e.args[0]))
        out("QUIT", text(p.quit()))
        return

    tries, resp = login(p, args)
    out("LOGIN", tries, text(resp))
    count, size = p.stat()
    out("STAT", count, size)
    _, listing, _ = p.list()
    for line in listing:
        n, octets = line.split()
        out("LIST", text(n), text(octets))
    _, uids, _ = p.uidl()
    for line in uids:
        n, uid = line.split()
        out("UIDL", text(n), text(uid))

    if args.retr:
        for line in listing:
            n = int(line.split()[0])
            _, lines, octets = p.retr(n)
            out("RETR", n, octets, hexed(lines))
        for k in (0, 3):
            _, lines, _ = p.top(7, k)
            out("TOP", 7, k, hexed(lines))

    for n in filter(None, args.dele.split(",")):
        out("DELE", n, text(p.dele(int(n))))

    if args.end == "quit":
        out("QUIT", text(p.quit()))
    else:
        # Leave without QUIT: the server must not enter UPDATE (RFC 1939 §6).
        p.sock.shutdown(socket.SHUT_RDWR)
        p.sock.close()
        p.file.close()
        out("DROPPED")


if __name__ == "__main__":
    main()
