#!/usr/bin/env bash
# What the warm audit adds to a session, piece by piece, inside one light endpoint: CPU time
# (task-clock, the loop's own processes included) and page faults per run, from `perf stat`
# over N runs in a loop, for `/bin/true`, the cached scanner, the `ls` of the cache chain, `bash
# -c true`, and `bash -c` of the delivery script itself (as the controller sent it, captured
# from the endpoint's sshd with strace; its final `exec` of the scanner replaced by `exit 0`)
# with and without its `$(ls ...)` (replaced by the listing it printed).
# usage (root): bench/delivery_pieces.sh CONTROLLER SCANNER_DIR [N]
#   endpoint 1 running (tests/testbed/testbed.sh light-start 1 or more); the script runs one
#   audit of it first (the scanner is then cached there).
set -eu
FR=${1:?controller binary}; SCANNERS=${2:?scanner directory}; N=${3:-300}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TB="bash $ROOT/tests/testbed/testbed.sh"
W=$(mktemp -d /tmp/fr-delivery-pieces.XXXXXX)
trap 'rm -rf "$W"' EXIT
$TB light-inventory "$W/all.yml"
KNOWN=$($TB light-known-hosts)
audit() { "$FR" audit -i "$W/all.yml" -l l1 --known-hosts "$KNOWN" --scanner-dir "$SCANNERS" >/dev/null || [ $? = 1 ]; }
audit
# the endpoint's sshd listener: the child of its namespace's first process
BASE=${TB_BASE:-/var/lib/fleetrestart-testbed}
SSHD=$(pgrep -P "$(cat "$BASE/light/e1/pid")" sshd)
strace -f -e trace=execve -s 65536 -o "$W/exec.txt" -p "$SSHD" 2>/dev/null &
ST=$!
sleep 0.5
audit
sleep 0.3
kill "$ST"; wait "$ST" 2>/dev/null || true
python3 - "$W" <<'PY'
import re, sys
w = sys.argv[1]
for line in open(f"{w}/exec.txt"):
    m = re.search(r'execve\("/bin/(?:ba)?sh", \["[^"]*", "-c", "(.*)"\], 0x', line)
    if m:
        s = m.group(1).encode().decode("unicode_escape")
        break
else:
    sys.exit("no `sh -c` of the delivery script seen in the endpoint's sshd")
s = re.sub(r'exec "\$f" --format json( --rules -)?', "exit 0", s)
open(f"{w}/script.sh", "w").write(s)
chain = re.search(r'\nr=\$\((export LC_ALL=C; exec ls [^\n]*)\)\n', s)
open(f"{w}/ls-line", "w").write(chain.group(0))
PY
$TB light-exec 1 sh -c 'cat > /tmp/fr-script.sh' < "$W/script.sh"
F=$($TB light-exec 1 sh -c 'ls /root/.cache/fleetrestart/fleetrestart-scan-* | grep -v "\.ok$" | head -1')
CHAIN="/root/.cache/fleetrestart /root/.cache /root / $F"
LIST=$($TB light-exec 1 sh -c "export LC_ALL=C; exec ls -ldni --time-style=+%s.%N -c $CHAIN")
python3 - "$W" "$LIST" <<'PY'
import sys
w, listing = sys.argv[1], sys.argv[2]
s = open(f"{w}/script.sh").read()
s = s.replace(open(f"{w}/ls-line").read(), "\nr='" + listing + "'\n")
open(f"{w}/script-no-ls.sh", "w").write(s)
PY
$TB light-exec 1 sh -c 'cat > /tmp/fr-script-no-ls.sh' < "$W/script-no-ls.sh"
for s in /tmp/fr-script.sh /tmp/fr-script-no-ls.sh; do
  out=$($TB light-exec 1 bash -c "bash -c \"\$(cat $s)\"")
  [ "$out" = FLEETRESTART-RUN ] || { echo "$s did not reach the run: $out" >&2; exit 1; }
done
piece() { # LABEL CMD: perf stat of N runs of CMD in a dash loop inside the endpoint
  perf stat -x, -e task-clock,page-faults -o "$W/stat" -- $TB light-exec 1 sh -c \
    "V=\$(cat /tmp/fr-script.sh); L=\$(cat /tmp/fr-script-no-ls.sh); i=0; while [ \$i -lt $N ]; do $2 >/dev/null; i=\$((i+1)); done"
  awk -F, -v n="$N" -v l="$1" '/task-clock/ {t=$1} /page-faults/ {f=$1} END {printf "| %s | %.3f | %.0f |\n", l, t/n, f/n}' "$W/stat"
}
echo "| piece ($N runs each, in a dash loop) | ms per run | faults per run |"
echo "|---|---|---|"
piece '`/bin/true`' /bin/true
piece 'the scanner (`--format json`)' "$F --format json"
piece '`ls` of the chain (as the script)' "LC_ALL=C ls -ldni --time-style=+%s.%N -c $CHAIN"
piece '`bash -c true`' 'bash -c true'
piece '`bash -c` delivery script (to the exec)' 'bash -c "$V"'
piece '... its `$(ls)` replaced by the listing' 'bash -c "$L"'
