#!/usr/bin/env bash
# The journald restart race, widened (../shared/research/restart-race-2026-12.md): one testbed
# host made stale by a real libpcre2 upgrade (journald, cron, ssh, lighttpd... map it), then
# ROUNDS restart campaigns, each with strace attached to the host's PID 1 adding 300 ms after
# every connect() (the window between a unit's stdout connect and its header write), the
# library replaced again between rounds. Counts the campaigns that failed and the rounds that
# left cron.service down, with systemd's cause.
#
# usage: bench/journald_race.sh FLEETRESTART_BINARY ROUNDS      (root; the testbed image)
set -u
BIN=$(readlink -f "${1:?controller binary}"); N=${2:?rounds}
HERE=$(cd "$(dirname "$0")/.." && pwd)
TB="bash $HERE/tests/testbed/testbed.sh"
SCANNERS=${FLEETRESTART_SCANNER_DIR:-$HERE/target/scanners}
$TB stopall >/dev/null; $TB start 1 >/dev/null; $TB upgrade 1 libpcre2-8-0 >/dev/null
dir=$(mktemp -d /srv/fr-race.XXXXXX); $TB inventory "$dir/inv.yml" >/dev/null
lib=$($TB exec 1 readlink -f /usr/lib/x86_64-linux-gnu/libpcre2-8.so.0)
echo "batch: 1" > "$dir/c.yml"
failed=0; down=0; started_again=0
for r in $(seq "$N"); do
  [ "$r" -gt 1 ] && $TB replace-file 1 "$lib" >/dev/null
  $TB exec 1 systemctl reset-failed
  strace -f -qq -o /dev/null -p "$($TB leader 1)" -e trace=connect -e inject=connect:delay_exit=300000 &
  s=$!; sleep 1
  (cd "$dir" && "$BIN" restart -i inv.yml --campaign c.yml --journal "j$r" --json \
     --known-hosts "$($TB known-hosts)" --scanner-dir "$SCANNERS" >"out$r.json" 2>"err$r")
  rc=$?
  kill -INT $s; wait $s 2>/dev/null
  state=$($TB exec 1 systemctl show -p ActiveState,Result,ExecMainCode,ExecMainStatus cron.service | sort | tr '\n' ' ')
  again=$(grep -c "started again" "$dir/out$r.json")
  [ "$rc" != 0 ] && failed=$((failed + 1))
  case "$state" in *ActiveState=active*) ;; *) down=$((down + 1)) ;; esac
  [ "$again" -gt 0 ] && started_again=$((started_again + 1))
  echo "round $r: exit $rc, cron after the campaign: $state, 'started again' notes: $again"
  $TB exec 1 systemctl start cron.service   # the next round starts from a running cron
done
echo "$N rounds: $failed campaign(s) failed, $down left cron down, $started_again needed a start again ($BIN)"
$TB stopall >/dev/null
