#!/usr/bin/env python3
"""Benchmark: fleetrestart-scan against needrestart -b and checkrestart on the same processes.

Starts N helper processes (`sleep`) that each preload one of ten copies of a system library in a
scratch directory, replaces one copy (rename over, as dpkg does) so that a tenth of the helpers
are stale, then runs each tool R times under /usr/bin/time and records wall time and peak RSS. The
findings are compared: the set of helper PIDs each tool flags against the set that is stale.

With --perl the helpers are interpreted daemons instead: `perl SCRIPT` running one of ten
copies of a small daemon script (strict, warnings, POSIX, Socket, sleeping) in /opt (scripts
under /var and /tmp are ignored by both tools); one script is replaced, so a tenth are stale.
needrestart then also scans each Perl process's module sources (its interpreter support);
fleetrestart-scan checks the script only (see its report's limitations).

Usage (as root; `cargo xtask bench-scan` installs the peers and builds the scanner first;
`cargo xtask bench-scan-host` runs it inside a testbed host):
    bench/scan_vs_peers.py SCANNER [--perl] [N ...]
"""
import os, re, shutil, signal, statistics, subprocess, sys, json, time

SCRATCH = "/var/lib/fleetrestart-bench"
SCRIPTS = "/opt/fleetrestart-bench"
PERL_DAEMON = """use strict;
use warnings;
use POSIX qw(setsid);
use Socket;
sleep 3600;
"""
RUNS = 5


def system_lib():
    for p in ["/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"]:
        if os.path.exists(p):
            return p
    sys.exit("no libz to copy")


def timed(cmd):
    """Runs cmd; returns (wall seconds, peak RSS KiB, stdout, stderr). Peak RSS comes from
    /usr/bin/time (a small parent), not from wait4 here: a child forked from Python counts
    Python's pages in its ru_maxrss until it execs."""
    out_f = os.path.join(SCRATCH, "out")
    err_f = os.path.join(SCRATCH, "err")
    tf = os.path.join(SCRATCH, "time.out")
    with open(out_f, "w") as o, open(err_f, "w") as e:
        t0 = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-o", tf, "-f", "%M"] + cmd, stdout=o, stderr=e, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
    rss = int(open(tf).read().split()[-1])
    return wall, rss, open(out_f).read(), open(err_f).read()


def flagged_ours(out):
    r = json.loads(out)
    pids = set()
    for group in ["services", "never_restart", "sessions", "containers", "unattributed"]:
        for g in r[group]:
            for p in g["processes"]:
                if any(f["path"].startswith((SCRATCH, SCRIPTS)) for f in p["files"]):
                    pids.add(p["pid"])
    return pids


def flagged_needrestart(err):
    libs = {int(m.group(1)) for m in re.finditer(r"#(\d+) uses deleted (\S+)", err) if m.group(2).startswith(SCRATCH)}
    # interpreted: "[Core] #PID uses obsolete script file(s):" then one "[Core] #PID  FILE" per file
    scripts = {int(m.group(1)) for m in re.finditer(r"#(\d+)  (\S+)", err) if m.group(2).startswith(SCRIPTS)}
    return libs | scripts


def flagged_checkrestart(out):
    pids, cur = set(), None
    for line in out.splitlines():
        m = re.search(r"Process .* \(PID: (\d+)\)", line)
        if m:
            cur = int(m.group(1))
        elif cur is not None and line.strip().startswith((SCRATCH, SCRIPTS)):
            pids.add(cur)
    return pids


def main():
    scanner = os.path.abspath(sys.argv[1])
    perl = "--perl" in sys.argv[2:]
    sizes = [int(a) for a in sys.argv[2:] if a != "--perl"] or [100, 1000]
    lib = system_lib()
    rows = []
    for n in sizes:
        shutil.rmtree(SCRATCH, ignore_errors=True)
        os.makedirs(SCRATCH)
        libs = []
        for i in range(10):
            dst = os.path.join(SCRATCH, f"libbench{i}.so.1")
            shutil.copy(lib, dst)
            libs.append(dst)
        shutil.rmtree(SCRIPTS, ignore_errors=True)
        os.makedirs(SCRIPTS)
        scripts = []
        for i in range(10):
            dst = os.path.join(SCRIPTS, f"daemon{i}.pl")
            with open(dst, "w") as f:
                f.write(PERL_DAEMON)
            scripts.append(dst)
        helpers = []
        for i in range(n):
            if perl:
                cmd, env = ["perl", scripts[i % 10]], dict(os.environ)
            else:
                cmd, env = ["sleep", "3600"], dict(os.environ, LD_PRELOAD=libs[i % 10])
            helpers.append(subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, start_new_session=True))
        time.sleep(1.0 + n / (100 if perl else 500))
        time.sleep(2.1)  # a changed script counts when changed > 2 s after the process started
        stale = scripts[0] if perl else libs[0]
        shutil.copy(stale, stale + ".new")
        os.rename(stale + ".new", stale)
        expected = {h.pid for i, h in enumerate(helpers) if i % 10 == 0}
        procs = len([d for d in os.listdir("/proc") if d.isdigit()])
        tools = [
            # the floor: reading every process's maps once (any /proc scanner pays it)
            ("floor: cat /proc/[0-9]*/maps", ["sh", "-c", "cat /proc/[0-9]*/maps >/dev/null 2>&1"], None),
            # the owner index of the host's packages kept between runs (warmed before timing)
            ("fleetrestart-scan", [scanner, "--format", "json"], lambda o, e: flagged_ours(o)),
            ("fleetrestart-scan --maps-text", [scanner, "--format", "json", "--maps-text"], lambda o, e: flagged_ours(o)),
            # every dpkg file list read, as on the first run after a package change
            ("fleetrestart-scan --no-owner-cache", [scanner, "--format", "json", "--no-owner-cache"], lambda o, e: flagged_ours(o)),
            ("fleetrestart-scan --maps-text --no-owner-cache", [scanner, "--format", "json", "--maps-text", "--no-owner-cache"], lambda o, e: flagged_ours(o)),
            # /proc alone
            ("fleetrestart-scan --no-packages", [scanner, "--format", "json", "--no-packages"], lambda o, e: flagged_ours(o)),
            ("fleetrestart-scan --maps-text --no-packages", [scanner, "--format", "json", "--maps-text", "--no-packages"], lambda o, e: flagged_ours(o)),
            ("needrestart -b", ["needrestart", "-b", "-v"], lambda o, e: flagged_needrestart(e)),
            ("checkrestart", ["checkrestart", "-v"], lambda o, e: flagged_checkrestart(o)),
        ]
        for name, cmd, parse in tools:
            timed(cmd)  # warm-up: page cache, and the scanner's owner index
            walls, rsss, found = [], [], None
            for _ in range(RUNS):
                wall, rss, out, err = timed(cmd)
                walls.append(wall)
                rsss.append(rss)
                found = parse(out, err) if parse else None
            if found is None:
                agree, flagged = "n/a", "-"
            else:
                agree = "yes" if found == expected else f"no ({len(found & expected)}/{len(expected)} found, {len(found - expected)} extra)"
                flagged = len(found)
            rows.append((n, procs, name, statistics.median(walls), min(walls), max(rsss) / 1024, flagged, len(expected), agree))
            print(rows[-1], flush=True)
        for h in helpers:
            h.send_signal(signal.SIGKILL)
        for h in helpers:
            h.wait()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    shutil.rmtree(SCRIPTS, ignore_errors=True)
    print()
    print("| extra processes | processes on host | tool | wall median (s) | wall min (s) | peak RSS (MiB) | stale helpers flagged | stale helpers | same findings |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.3f} | {r[4]:.3f} | {r[5]:.1f} | {r[6]} | {r[7]} | {r[8]} |")
    base = {r[0]: r[3] for r in rows if r[2] == "fleetrestart-scan"}
    floor = {r[0]: r[3] for r in rows if r[2].startswith("floor")}
    for r in rows:
        if r[2].startswith("fleetrestart-scan"):
            print(f"\nN={r[0]}: {r[2]} takes {r[3] / max(floor[r[0]], 1e-4):.2f}x the floor (median wall)")
        elif not r[2].startswith("floor"):
            print(f"\nN={r[0]}: fleetrestart-scan is {r[3] / max(base[r[0]], 1e-3):.1f}x faster than {r[2]} (median wall)")


if __name__ == "__main__":
    main()
