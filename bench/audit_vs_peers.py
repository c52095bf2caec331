#!/usr/bin/env python3
"""Fleet audit benchmark: fleetrestart audit (cold and warm) against the floor (the same ssh2
transport running `true`), parallel-ssh running `needrestart -b` (default kex and curve25519) and
ansible running `needrestart -b` (default, and with pipelining), and ansible running the
collection's binary module fleetrestart.fleet.fleetrestart_scan (when FR_COLLECTIONS names a
collections path where it is installed; cargo xtask bench-audit does that), on N testbed hosts.

usage (root): bench/audit_vs_peers.py CONTROLLER SCANNER_DIR VENV N [N...]
(cargo xtask bench-audit N... builds everything and calls this). Prints a Markdown table.
Each timed command runs RUNS times; the median and min wall time are reported. Every run must
succeed on every host, else the script stops: a benchmark of failures measures nothing.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 5
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TB = os.path.join(ROOT, "tests/testbed/testbed.sh")


def tb(*args):
    return subprocess.run(["bash", TB, *args], check=True, capture_output=True, text=True).stdout


def timed(cmd, env=None, check_ok=None):
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.monotonic() - t0
    if check_ok is not None and not check_ok(p):
        sys.exit(f"benchmark command failed: {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return dt


def main():
    controller, scanner_dir, venv = sys.argv[1:4]
    sizes = [int(n) for n in sys.argv[4:]] or [10, 30, 60]
    key = tb("key").strip()
    known = tb("known-hosts").strip()
    work = tempfile.mkdtemp(prefix="fr-bench-audit-")
    rows = []
    for n in sizes:
        tb("stopall")
        tb("start", str(n))
        known = tb("known-hosts").strip()
        inv = os.path.join(work, f"inv{n}.yml")
        tb("inventory", inv)
        hosts = os.path.join(work, f"hosts{n}")
        with open(hosts, "w") as f:
            for i in range(1, n + 1):
                f.write(tb("ip", str(i)).strip() + "\n")
        fr = [controller, "audit", "-i", inv, "--known-hosts", known, "--scanner-dir", scanner_dir, "-f", str(n), "--json"]
        fr_ok = lambda p: p.returncode in (0, 1) and '"unreachable":0' in p.stdout.replace(" ", "") and '"failed":0' in p.stdout.replace(" ", "")
        floor = [controller, "audit", "-i", inv, "--known-hosts", known, "-f", str(n), "--floor"]
        floor_ok = lambda p: p.returncode == 0
        sshopts = f"-i {key} -o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes -o BatchMode=yes"
        pssh = ["parallel-ssh", "-h", hosts, "-l", "root", "-p", str(n), "-t", "120", "-x", sshopts]
        pssh_ok = lambda p: p.returncode == 0
        pssh_c = ["parallel-ssh", "-h", hosts, "-l", "root", "-p", str(n), "-t", "120", "-x", sshopts + " -o KexAlgorithms=curve25519-sha256"]
        ans_env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="True", ANSIBLE_SSH_ARGS=f"-C -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={known}",
                       ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3", ANSIBLE_NOCOLOR="1")
        ans = [os.path.join(venv, "bin/ansible"), "all", "-i", inv, "-m", "shell", "-a", "needrestart -b", "-f", str(n)]
        ans_ok = lambda p: p.returncode == 0 and "FAILED" not in p.stdout and "UNREACHABLE" not in p.stdout
        ans_pipe_env = dict(ans_env, ANSIBLE_PIPELINING="True")

        def series(label, cmd, ok, env=None, before=None):
            ts = []
            for _ in range(RUNS):
                if before:
                    before()
                ts.append(timed(cmd, env, ok))
            rows.append((n, label, statistics.median(ts), min(ts)))

        series("floor: ssh2 session + `true`", floor, floor_ok)
        clean = lambda: timed(fr + ["--clean"], None, fr_ok)
        series("fleetrestart audit, cold (upload + scan)", fr, fr_ok, before=clean)
        timed(fr, None, fr_ok)
        series("fleetrestart audit, warm (cached scanner)", fr, fr_ok)
        series("parallel-ssh `needrestart -b` (default kex)", pssh + ["needrestart -b"], pssh_ok)
        series("parallel-ssh `needrestart -b` (curve25519)", pssh_c + ["needrestart -b"], pssh_ok)
        subprocess.run(["sh", "-c", "rm -rf ~/.ansible/cp"], check=False)
        series("ansible -m shell `needrestart -b` (defaults)", ans, ans_ok, env=ans_env)
        series("ansible -m shell `needrestart -b` (pipelining)", ans, ans_ok, env=ans_pipe_env)
        colls = os.environ.get("FR_COLLECTIONS")
        if colls:
            mod = [os.path.join(venv, "bin/ansible"), "all", "-i", inv, "-m", "fleetrestart.fleet.fleetrestart_scan", "-f", str(n)]
            mod_env = dict(ans_pipe_env, ANSIBLE_COLLECTIONS_PATH=colls)
            # binary modules are never pipelined: the binary is copied to every host on every run
            series("ansible fleetrestart.fleet.fleetrestart_scan (binary module; pipelining on)", mod, ans_ok, env=mod_env)
        tb("stopall")
    print("| hosts | tool | wall median (s) | wall min (s) | × floor (median) |")
    print("|---|---|---|---|---|")
    floors = {n: med for (n, label, med, _) in rows if label.startswith("floor")}
    for n, label, med, mn in rows:
        print(f"| {n} | {label} | {med:.2f} | {mn:.2f} | {med / floors[n]:.2f} |")


if __name__ == "__main__":
    main()
