#!/usr/bin/env bash
# Benchmark: boot N testbed hosts; report wall time to "all running + sshd up", and memory per
# host (PSS summed over each host's processes, and MemAvailable before/after).
# usage (root): bench/testbed_boot.sh N [--corpus]   (cargo xtask bench-testbed N [--corpus])
#   --corpus: also start the real-daemon corpus on every host (`testbed.sh corpus I`), timed with
#   the boot, before memory is measured
set -eu
N=${1:-30}
CORPUS=${2:-}
T=$(dirname "$0")/../tests/testbed/testbed.sh
bash $T stopall
bash $T image
avail() { awk '/^MemAvailable:/{print $2}' /proc/meminfo; }
a0=$(avail)
t0=$(date +%s.%N)
bash $T start $N > /dev/null
if [ "$CORPUS" = --corpus ]; then for i in $(seq 1 $N); do bash $T corpus $i; done; fi
t1=$(date +%s.%N)
sleep 5   # let boot-time jobs settle before measuring memory
a1=$(avail)
total_pss=0
for i in $(seq 1 $N); do
  pss=0
  for p in $(find /sys/fs/cgroup/systemd/${TB_PREFIX:-frtb}/h$i -name cgroup.procs -exec cat {} + 2>/dev/null); do
    v=$(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup 2>/dev/null || echo 0)
    pss=$((pss + ${v:-0}))
  done
  total_pss=$((total_pss + pss))
done
bash $T stopall
awk -v n=$N -v t0=$t0 -v t1=$t1 -v a0=$a0 -v a1=$a1 -v pss=$total_pss 'BEGIN {
  printf "| %d | %.1f | %.2f | %.1f | %.1f |\n", n, t1 - t0, (t1 - t0) / n, pss / n / 1024, (a0 - a1) / n / 1024 }'
