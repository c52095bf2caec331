#!/usr/bin/env python3
"""Controller time per batch of a restart campaign, beyond the hosts' own work and the checks.

For each N: boot N testbed hosts, make them all stale (dpkg -i libpcre2-8-0), save an audit, then
run `fleetrestart restart --from-audit ... --batch 5 --strategy discrete --json` (systemd and
rescan checks on). Reported per campaign, from the controller's own accounting (--json "timing"):
the engine loop's busy time (scheduling, journaling `started`, spawning workers, handling host
ends) and the journal's writes+fsyncs (all hosts' records), both per batch; and from the journal's
timestamps, the gap between a batch's last `finished` and the next batch's first `started`.

usage: campaign_overhead.py FLEETRESTART SCANNER_DIR N [N ...]
"""
import json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TB = os.path.join(ROOT, "tests/testbed/testbed.sh")


def tb(*args):
    return subprocess.run(["bash", TB, *args], check=True, capture_output=True, text=True).stdout


def main():
    fr, scanners, sizes = sys.argv[1], sys.argv[2], [int(n) for n in sys.argv[3:]] or [10, 20]
    work = "/srv/fleetrestart-bench-campaign"
    os.makedirs(work, exist_ok=True)
    known = tb("known-hosts").strip()
    base = ["--known-hosts", known, "--scanner-dir", scanners]
    print("| hosts | batches | wall s | engine busy ms/batch | journal ms/batch (writes) | controller ms/batch | gap between batches ms (median / max) |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        tb("stopall")
        tb("start", str(n))
        for i in range(1, n + 1):
            tb("upgrade", str(i), "libpcre2-8-0")
        inv = os.path.join(work, "inv.yml")
        tb("inventory", inv)
        audit = subprocess.run([fr, "audit", *base, "-i", inv, "--json"], capture_output=True, text=True, cwd=work)
        assert audit.returncode == 1, audit.stderr
        with open(os.path.join(work, "audit.json"), "w") as f:
            f.write(audit.stdout)
        journal = os.path.join(work, f"bench-{n}-{int(time.time())}.journal")
        t0 = time.monotonic()
        r = subprocess.run(
            [fr, "restart", *base, "-i", inv, "--from-audit", "audit.json", "--batch", "5",
             "--strategy", "discrete", "--journal", journal, "--json", "--quiet"],
            capture_output=True, text=True, cwd=work)
        wall = time.monotonic() - t0
        assert r.returncode == 0, r.stdout + r.stderr
        doc = json.loads(r.stdout)
        assert doc["summary"]["ok"] == n, doc["summary"]
        t = doc["timing"]
        b = t["batches"]
        recs = [json.loads(l) for l in open(journal)]
        hdr = recs[0]
        batch_of = {h["host"]: h["batch"] for h in hdr["plan"]["hosts"]}
        first_start, last_end = {}, {}
        for x in recs[1:]:
            if x.get("record") != "host":
                continue
            k = batch_of[x["host"]]
            if x["phase"] == "started":
                first_start.setdefault(k, x["t"])
            elif x["phase"] == "finished":
                last_end[k] = max(last_end.get(k, 0), x["t"])
        gaps = [first_start[k] - last_end[k - 1] for k in range(1, b)]
        busy = t["engine_busy_us"] / 1000 / b
        jms = t["journal_us"] / 1000 / b
        print(f"| {n} | {b} | {wall:.1f} | {busy:.1f} | {jms:.1f} ({t['journal_writes']}) | {busy + jms:.1f} | "
              f"{statistics.median(gaps) if gaps else 0:.0f} / {max(gaps) if gaps else 0} |", flush=True)
    tb("stopall")


if __name__ == "__main__":
    main()
