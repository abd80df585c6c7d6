#!/bin/sh
# fetchmail MDA for reference-server/tests/clients.rs: stores the message on stdin as
# "$1/msg.N", N = 1, 2, ... in delivery order (fetchmail delivers one message at a time).
set -eu
dir=$1
n=1
while [ -e "$dir/msg.$n" ]; do n=$((n + 1)); done
cat > "$dir/msg.$n.tmp"
mv "$dir/msg.$n.tmp" "$dir/msg.$n"
