#!/usr/bin/env python3
"""Fleet-scale benchmark on light testbed endpoints (tests/testbed/light.sh): the controller's own
cost at 10 to 1000 hosts.

usage (root): bench/scale.py CONTROLLER SCANNER_DIR [--forks F] [--runs R] [--no-campaign | --campaign-only] N [N...]
(cargo xtask bench-scale N... builds everything and calls this). Prints Markdown tables.

For each N: start N endpoints (start time and memory per endpoint), then on the same endpoints in
the same run: the audit cold (upload + scan, after one untimed floor run), then the SSH floor
(`fleetrestart audit --floor`: the same ssh2 transport running `true`) and the audit warm
(cached scanner: after a sync of the cold run's writes and one untimed warm run) in turns,
and parallel-ssh with
curve25519 running `needrestart -b` (the peer doing the same job), all with the same fan-out
(default: every host at once, `-f N`). For the controller: wall, user+system CPU and peak RSS
from wait4(2). Every run must succeed on every host, else the script stops.

Then, unless --no-campaign, at the largest N: 300 (or N) private endpoints behind one bastion
(the bastion's sshd log must show one login per audit), the same through two hops, and direct
for comparison; and a restart campaign over every endpoint (the scanner cached by an audit
first; cron's binary replaced on each,
window 50, journal): controller CPU per host, the journal's replay (`resume` of the finished
journal), and a second campaign SIGKILLed at ~half then resumed: every endpoint's cron init
script must have run `restart` exactly once for it.
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TB = os.path.join(ROOT, "tests/testbed/testbed.sh")
TB_BASE = os.environ.get("TB_BASE", "/var/lib/fleetrestart-testbed")


def tb(*args):
    return subprocess.run(["bash", TB, *args], check=True, capture_output=True, text=True).stdout




def run_wait4(cmd, cwd=None, stdin=None):
    """Runs cmd with its output in files; returns wall, cpu, maxrss MiB, rc, stdout, stderr."""
    with tempfile.TemporaryFile() as o, tempfile.TemporaryFile() as e:
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.dup2(o.fileno(), 1)
            os.dup2(e.fileno(), 2)
            if cwd:
                os.chdir(cwd)
            try:
                os.execvp(cmd[0], cmd)
            finally:
                os._exit(127)
        _, status, ru = os.wait4(pid, 0)
        wall = time.monotonic() - t0
        o.seek(0)
        e.seek(0)
        rc = os.waitstatus_to_exitcode(status)
        return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, rc, o.read().decode(errors="replace"), e.read().decode(errors="replace")


def must(label, r, ok):
    wall, cpu, rss, rc, out, err = r
    if not ok(rc, out):
        sys.exit(f"benchmark step failed: {label} (exit {rc})\n{out[-3000:]}\n{err[-3000:]}")
    return r


def audit_ok(n):
    def ok(rc, out):
        s = out.replace(" ", "")
        return rc in (0, 1) and '"unreachable":0' in s and '"failed":0' in s and f'"hosts":{n}' in s
    return ok


def mem_available_kib():
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def accepted(name):
    """Logins an endpoint's sshd has accepted so far (its log is sshd -e's stderr)."""
    try:
        with open(os.path.join(TB_BASE, "light", "e" + name, "log")) as f:
            return sum(1 for l in f if l.startswith("Accepted publickey"))
    except FileNotFoundError:
        return 0


def start(n, kind="public"):
    tb("light-stop")
    before = mem_available_kib()
    t0 = time.monotonic()
    tb("light-start", str(n), kind)
    took = time.monotonic() - t0
    time.sleep(2)
    per = (before - mem_available_kib()) / n / 1024
    return took, per


def main():
    args = sys.argv[1:]
    controller, scanners = args[0], args[1]
    rest = args[2:]
    forks, runs, campaign, audits = None, 3, True, True
    sizes = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--forks":
            forks = int(rest[i + 1])
            i += 1
        elif a == "--runs":
            runs = int(rest[i + 1])
            i += 1
        elif a == "--no-campaign":
            campaign = False
        elif a == "--campaign-only":
            audits = False
        else:
            sizes.append(int(a))
        i += 1
    sizes = sizes or [10, 100, 300, 1000]
    key = tb("key").strip()
    work = tempfile.mkdtemp(prefix="fr-bench-scale-")
    rows, starts, pair_ratios = [], [], []
    for n in sizes if audits else []:
        f = forks or n
        took, per = start(n)
        starts.append((n, took, per))
        known = tb("light-known-hosts").strip()
        inv = os.path.join(work, f"inv{n}.yml")
        tb("light-inventory", inv)
        hosts = os.path.join(work, f"hosts{n}")
        with open(hosts, "w") as h:
            for e in range(1, n + 1):
                h.write(tb("light-ip", str(e)).strip() + "\n")
        base = [controller, "audit", "-i", inv, "--known-hosts", known, "-f", str(f)]
        fr = base + ["--scanner-dir", scanners, "--json"]
        sshopts = f"-i {key} -o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes -o BatchMode=yes -o KexAlgorithms=curve25519-sha256"
        pssh = ["parallel-ssh", "-h", hosts, "-l", "root", "-p", str(f), "-t", "300", "-x", sshopts, "needrestart -b"]

        def record(label, rs):
            walls = [r[0] for r in rs]
            cpus = [r[1] for r in rs]
            rss = max(r[2] for r in rs)
            rows.append((n, f, label, statistics.median(walls), min(walls), statistics.median(cpus), rss))

        def series(label, cmd, ok, times, before=None):
            rs = []
            for _ in range(times):
                if before:
                    before()
                rs.append(must(label, run_wait4(cmd), ok))
            record(label, rs)

        floor = base + ["--floor"]
        floor_ok = lambda rc, out: rc == 0
        # one untimed floor run: every endpoint's ARP entry and sshd warmed before anything
        # is timed (the first contact of an endpoint after its start pays them)
        must("warm-up floor", run_wait4(floor), floor_ok)
        clean = lambda: must("clean", run_wait4(fr + ["--clean"]), audit_ok(n))
        series("audit cold (upload + scan)", fr, audit_ok(n), 1, before=clean)
        # the cold run wrote a scanner copy on every endpoint, all on this one disk (1 GB at
        # 1000): flushed before the warm runs, and one untimed warm run first (its execs
        # update each fresh copy's atime once, relatime): a host's steady state, which the
        # fleet's own disks would pay each for itself
        os.sync()
        must("warm-up audit", run_wait4(fr), audit_ok(n))
        # floor and warm audit alternate, so that both see the same machine (this VM's
        # background reclaim, page cache and neighbours drift over a minute; its speed moves
        # by a quarter within minutes): each pair is one floor and one warm run back to
        # back, the one first in turn, and its ratio is the pair's own
        pairs = []
        for i in range(runs):
            if i % 2 == 0:
                a = must("floor", run_wait4(floor), floor_ok)
                b = must("warm", run_wait4(fr), audit_ok(n))
            else:
                b = must("warm", run_wait4(fr), audit_ok(n))
                a = must("floor", run_wait4(floor), floor_ok)
            pairs.append((a, b))
        pair_ratios.append((n, [b[0] / a[0] for a, b in pairs]))
        record("floor (ssh2 session + `true`)", [a for a, _ in pairs])
        record("audit warm (cached scanner)", [b for _, b in pairs])
        series("parallel-ssh curve25519 `needrestart -b`", pssh, lambda rc, out: rc == 0, max(1, min(2, runs - 1)))
    tb("light-stop")
    if not audits:
        campaign_bench(controller, scanners, work, max(sizes), forks)
        return
    print("Endpoints: start time and memory")
    print()
    print("| endpoints | start (s) | memory per endpoint (MiB) |")
    print("|---|---|---|")
    for n, took, per in starts:
        print(f"| {n} | {took:.1f} | {per:.2f} |")
    print()
    print("| hosts | fan-out | tool | wall median (s) | wall min (s) | ms per host (wall ÷ hosts) | controller CPU (s) | controller CPU per host (ms) | controller peak RSS (MiB) | × floor | pssh ÷ this |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    floors = {n: med for (n, _, label, med, _, _, _) in rows if label.startswith("floor")}
    pssh_t = {n: med for (n, _, label, med, _, _, _) in rows if label.startswith("parallel-ssh")}
    for n, f, label, med, mn, cpu, rss in rows:
        print(f"| {n} | {f} | {label} | {med:.2f} | {mn:.2f} | {med / n * 1000:.1f} | {cpu:.2f} | {cpu / n * 1000:.2f} | {rss:.0f} | {med / floors[n]:.2f} | {pssh_t[n] / med:.1f} |")
    print()
    print("Warm audit ÷ floor, pair by pair (a floor run and a warm run back to back, the one first in turn):")
    print()
    print("| hosts | pairs | warm ÷ floor, each pair | median | max |")
    print("|---|---|---|---|---|")
    for n, rs in pair_ratios:
        print(f"| {n} | {len(rs)} | {' / '.join(f'{r:.2f}' for r in rs)} | {statistics.median(rs):.2f} | {max(rs):.2f} |")
    sys.stdout.flush()
    if campaign:
        bastion(controller, scanners, work, min(300, max(sizes)), forks)
        campaign_bench(controller, scanners, work, max(sizes), forks)


def bastion(controller, scanners, work, n, forks):
    f = forks or n
    took, per = start(n, "private")
    known = tb("light-known-hosts").strip()
    out = []
    for kind, label in (("private", "one bastion (b1)"), ("private2", "two hops (b1, b2)")):
        inv = os.path.join(work, f"inv-{kind}.yml")
        tb("light-inventory", inv, kind)
        cmd = [controller, "audit", "-i", inv, "--known-hosts", known, "-f", str(f), "--scanner-dir", scanners, "--json"]
        must("warm-up", run_wait4(cmd), audit_ok(n))
        b1, b2 = accepted("b1"), accepted("b2")
        r = must(label, run_wait4(cmd), audit_ok(n))
        logins = (accepted("b1") - b1, accepted("b2") - b2)
        if logins[0] != 1 or (kind == "private2" and logins[1] != 1):
            sys.exit(f"{label}: the bastions saw {logins} logins for one audit; one each was expected")
        out.append((label, r, logins))
    # the same number of endpoints, reached directly
    start(n)
    known = tb("light-known-hosts").strip()
    inv = os.path.join(work, f"inv-direct{n}.yml")
    tb("light-inventory", inv)
    cmd = [controller, "audit", "-i", inv, "--known-hosts", known, "-f", str(f), "--scanner-dir", scanners, "--json"]
    must("warm-up", run_wait4(cmd), audit_ok(n))
    out.append(("direct", must("direct", run_wait4(cmd), audit_ok(n)), None))
    print()
    print(f"Behind a bastion: {n} endpoints, warm audit, fan-out {f}")
    print()
    print("| path | wall (s) | controller CPU (s) | peak RSS (MiB) | logins on b1, b2 |")
    print("|---|---|---|---|---|")
    for label, r, logins in out:
        print(f"| {label} | {r[0]:.2f} | {r[1]:.2f} | {r[2]:.0f} | {'' if logins is None else logins} |")
    sys.stdout.flush()


def make_stale(n):
    script = "cp /usr/sbin/cron /usr/sbin/cron.fr && mv /usr/sbin/cron.fr /usr/sbin/cron && : > /var/log/fr-cron-runs"
    for e in range(1, n + 1):
        tb("light-exec", str(e), "sh", "-c", script)


def restarts(n):
    """Per endpoint: (cron init script `restart` runs, its last run was a `start`)."""
    counts = {}
    for e in range(1, n + 1):
        log = os.path.join(TB_BASE, "light", f"e{e}", "upper", "var", "log", "fr-cron-runs")
        with open(log) as f:
            lines = [l.strip() for l in f]
        counts[e] = (sum(1 for l in lines if l == "restart"), bool(lines) and lines[-1] == "start")
    return counts


def campaign_bench(controller, scanners, work, n, forks):
    start(n)
    known = tb("light-known-hosts").strip()
    inv = os.path.join(work, f"inv-campaign{n}.yml")
    tb("light-inventory", inv)
    # the scanner cached on every host first: the campaign is measured, not a first upload
    must("warm-up audit", run_wait4([controller, "audit", "-i", inv, "--known-hosts", known, "--scanner-dir", scanners,
                                      "-f", str(forks or 50), "--json"]), audit_ok(n))
    make_stale(n)
    base = [controller, "restart", "-i", inv, "--known-hosts", known, "--scanner-dir", scanners,
            "-f", str(forks or 50), "--strategy", "window", "--window", "50", "--json", "--quiet"]
    journal = os.path.join(work, "campaign1.journal")
    r = must("campaign", run_wait4(base + ["--journal", journal], cwd=work), lambda rc, out: rc == 0)
    doc = json.loads(r[4])
    if doc["summary"]["ok"] != n:
        sys.exit(f"campaign: {doc['summary']}")
    counts = restarts(n)
    bad = {e: c for e, c in counts.items() if c != (1, True)}
    if bad:
        sys.exit(f"campaign: restarts per endpoint not 1: {dict(list(bad.items())[:10])}")
    t = doc["timing"]
    replay = must("replay", run_wait4([controller, "resume", journal, "--json", "--quiet"], cwd=work), lambda rc, out: rc == 0)
    # second campaign, killed at about half, then resumed
    make_stale(n)
    journal2 = os.path.join(work, "campaign2.journal")
    p = subprocess.Popen(base + ["--journal", journal2], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = 0
    while p.poll() is None:
        try:
            with open(journal2) as f:
                done = sum(1 for l in f if '"phase":"finished"' in l.replace(" ", ""))
        except FileNotFoundError:
            pass
        if done >= n // 2:
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    p.wait()
    killed_at = done
    resumed = must("resume", run_wait4([controller, "resume", journal2, "--json", "--quiet"], cwd=work), lambda rc, out: rc == 0)
    counts2 = restarts(n)
    twice = sorted(e for e, c in counts2.items() if c[0] > 1)
    missed = sorted(e for e, c in counts2.items() if c[0] == 0 or not c[1])
    print()
    print(f"Campaign: {n} endpoints, window 50, cron's binary replaced on each (a real sysv restart and rescan)")
    print()
    print("| step | wall (s) | controller CPU (s) | controller CPU per host (ms) | peak RSS (MiB) | notes |")
    print("|---|---|---|---|---|---|")
    print(f"| campaign | {r[0]:.1f} | {r[1]:.2f} | {r[1] / n * 1000:.2f} | {r[2]:.0f} | engine busy {t['engine_busy_us'] / 1000:.0f} ms, journal {t['journal_us'] / 1000:.0f} ms: {t['journal_writes']} records, {t.get('journal_syncs', '?')} fsyncs |")
    print(f"| resume of the finished journal (replay, nothing to do) | {replay[0]:.2f} | {replay[1]:.2f} | | {replay[2]:.0f} | journal {os.path.getsize(journal) // 1024} KiB |")
    print(f"| second campaign SIGKILLed at {killed_at} finished, then resume | {resumed[0]:.1f} | {resumed[1]:.2f} | | {resumed[2]:.0f} | restarted twice: {len(twice)}, never or left stopped: {len(missed)} |")
    tb("light-stop")
    if twice or missed:
        sys.exit(f"resume after SIGKILL: twice {twice[:10]}, never {missed[:10]}")


if __name__ == "__main__":
    main()
