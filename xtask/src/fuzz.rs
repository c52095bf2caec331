//! `cargo xtask fuzz SECONDS [--jobs N] [TARGET...]`: builds the fuzz targets of `fuzz/` with
//! libFuzzer (libfuzzer-sys) and SanitizerCoverage, turned on through stable `-C` flags (the
//! stable route: no nightly toolchain, no sanitizer runtime; safe Rust's bugs show as panics,
//! hangs and runaway memory, which libFuzzer reports), then runs each target for SECONDS on its
//! committed seeds (`fuzz/seeds/T`) and its growing corpus (`fuzz/corpus/T`, not committed), N
//! targets at a time. Prints a Markdown table of executions and findings for FUZZING.md; a
//! finding's reproducer is written to `fuzz/artifacts/T/`. Exits 1 on any finding.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Every fuzz target (one file each in fuzz/fuzz_targets/).
pub const TARGETS: &[&str] = &[
    "inventory",
    "patterns",
    "ssh_config",
    "known_hosts",
    "proc_parsers",
    "rules",
    "campaign_spec",
    "journal_replay",
    "scanner_report",
    "package_databases",
];

const RUSTFLAGS: &str = "--cfg fuzzing -Cpasses=sancov-module \
     -Cllvm-args=-sanitizer-coverage-level=4 \
     -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
     -Cllvm-args=-sanitizer-coverage-pc-table \
     -Cllvm-args=-sanitizer-coverage-trace-compares \
     -Cdebug-assertions -Coverflow-checks";

struct Outcome {
    target: String,
    runs: u64,
    seconds: f64,
    corpus: usize,
    finding: Option<String>,
}

fn host_triple() -> String {
    let out = Command::new("rustc").arg("-vV").output().expect("rustc");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host")
}

/// Builds every target; the binaries' directory.
fn build(root: &Path) -> PathBuf {
    let triple = host_triple();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // an explicit --target keeps the flags off build scripts (they have no libFuzzer to link)
    let st = Command::new(cargo)
        .current_dir(root.join("fuzz"))
        .args(["build", "--release", "--quiet", "--target", &triple])
        .env("RUSTFLAGS", RUSTFLAGS)
        .status()
        .expect("cargo build of the fuzz targets");
    if !st.success() {
        eprintln!("xtask: building the fuzz targets failed");
        std::process::exit(1);
    }
    root.join("fuzz/target").join(triple).join("release")
}

fn run_one(root: &Path, bin: &Path, target: &str, secs: u64) -> Outcome {
    let fuzz = root.join("fuzz");
    let corpus = fuzz.join("corpus").join(target);
    let seeds = fuzz.join("seeds").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    for d in [&corpus, &seeds, &artifacts] {
        std::fs::create_dir_all(d).unwrap();
    }
    let t0 = Instant::now();
    let out = Command::new(bin.join(target))
        .arg(format!("-max_total_time={secs}"))
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg("-max_len=65536")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&corpus)
        .arg(&seeds)
        .stdin(Stdio::null())
        .output()
        .expect("run a fuzz target");
    let log = String::from_utf8_lossy(&out.stderr);
    let stat = |k: &str| -> u64 {
        log.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let finding = (!out.status.success()).then(|| {
        let why = log
            .lines()
            .find(|l| l.contains("==ERROR") || l.contains("panicked") || l.contains("deadly"))
            .unwrap_or("libFuzzer exited with an error")
            .to_string();
        let _ = std::fs::write(artifacts.join("last-log.txt"), log.as_bytes());
        why
    });
    Outcome {
        target: target.to_string(),
        runs: stat("stat::number_of_executed_units:"),
        seconds: t0.elapsed().as_secs_f64(),
        corpus: std::fs::read_dir(&corpus).map(|d| d.count()).unwrap_or(0),
        finding,
    }
}

/// Runs the targets named (all when none) for `secs` each, `jobs` at a time.
pub fn fuzz(root: &Path, secs: u64, jobs: usize, only: &[String]) {
    let targets: Vec<&str> = if only.is_empty() {
        TARGETS.to_vec()
    } else {
        for t in only {
            if !TARGETS.contains(&t.as_str()) {
                eprintln!(
                    "xtask: no fuzz target {t:?} (targets: {})",
                    TARGETS.join(", ")
                );
                std::process::exit(2);
            }
        }
        only.iter().map(String::as_str).collect()
    };
    let bin = build(root);
    let mut results: Vec<Outcome> = Vec::new();
    for chunk in targets.chunks(jobs.max(1)) {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|t| s.spawn(|| run_one(root, &bin, t, secs)))
                .collect();
            for h in handles {
                let o = h.join().expect("fuzz runner thread");
                eprintln!(
                    "xtask: fuzz {}: {} runs in {:.0} s, {}",
                    o.target,
                    o.runs,
                    o.seconds,
                    o.finding.as_deref().unwrap_or("no finding")
                );
                results.push(o);
            }
        });
    }
    println!("| target | seconds | executions | corpus files | findings |");
    println!("|---|---|---|---|---|");
    for o in &results {
        println!(
            "| {} | {:.0} | {} | {} | {} |",
            o.target,
            o.seconds,
            o.runs,
            o.corpus,
            o.finding
                .as_deref()
                .map(|f| format!("1: {f}"))
                .unwrap_or_else(|| "0".into())
        );
    }
    if results.iter().any(|o| o.finding.is_some()) {
        eprintln!("xtask: fuzzing found a failure: reproducers in fuzz/artifacts/");
        std::process::exit(1);
    }
}
