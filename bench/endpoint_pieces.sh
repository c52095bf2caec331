#!/usr/bin/env bash
# Times the pieces of a warm audit's host side inside one light endpoint (dash, N runs each):
# a `$(...)` subshell, the delivery script's old `ls | while` pipeline, one `ls`, GNU `stat`,
# the scanner (5 processes in the endpoint), `sh -c true`, sha256sum of the scanner.
# usage: bench/endpoint_pieces.sh SCANNER [E] [N]   (endpoint E running: testbed.sh light-start E)
set -eu
SCANNER=${1:?scanner binary}; E=${2:-1}; N=${3:-200}
TB=$(cd "$(dirname "$0")/.." && pwd)/tests/testbed/testbed.sh
bash "$TB" light-exec "$E" sh -c 'cat > /tmp/fr-scan; chmod 755 /tmp/fr-scan' < "$SCANNER"
bash "$TB" light-exec "$E" sh -s "$N" <<'SCRIPT'
n=$1
t() { s=$(date +%s%N); i=0; while [ $i -lt $n ]; do eval "$1"; i=$((i+1)); done; e=$(date +%s%N); echo "$2: $(( (e-s)/n/1000 )) us"; }
d=/root/.cache/fleetrestart; mkdir -p $d; chmod 700 $d
t 'x=$(true)' subshell
t 'r=$(LC_ALL=C ls -ldn / /root /root/.cache $d 2>&1 </dev/null | { while read -r m _ u _ _ _ _ _ n; do c=$((c+1)); done; echo $c; })' ls_pipeline
t 'r=$(LC_ALL=C ls -ldn / /root /root/.cache $d 2>&1 </dev/null)' ls_only
t 'st=$(stat -c "%d:%i:%s:%.9Y:%.9Z" /tmp/fr-scan </dev/null 2>/dev/null)' stat
t '/tmp/fr-scan --format json >/dev/null </dev/null' scanner
t 'sh -c true' sh_c
t 'sha256sum /tmp/fr-scan >/dev/null' sha256sum
SCRIPT
