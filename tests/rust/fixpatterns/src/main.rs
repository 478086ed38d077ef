//! dropsafe's fix-pattern harness: compiles the patterns from `rules/fixes/*.md`
//! (see build.rs) and runs every case in a child process of its own.
//!
//! `fixpatterns` runs all cases and prints `blocks <pattern> <rust> <should_panic>`
//! lines, then one `case <name>: ok|FAIL <detail>` line per case; exit status 1
//! when a case failed. `fixpatterns --case NAME` runs one case in this process.

mod cases;
mod contexts;
mod patterns;
mod placeholders;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CASE_TIMEOUT: Duration = Duration::from_secs(10);
const PARALLEL_CASES: usize = 4;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => run_all(),
        [flag, name] if flag == "--case" => run_one(name),
        _ => {
            eprintln!("usage: fixpatterns [--case NAME]");
            ExitCode::from(2)
        }
    }
}

fn run_one(name: &str) -> ExitCode {
    let case = match cases::all().into_iter().find(|case| case.name == name) {
        Some(case) => case,
        None => {
            eprintln!("no case {name}");
            return ExitCode::from(2);
        }
    };
    match contexts::catch(|| print_outcome(&(case.run)())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(panic) => {
            println!("FAIL the case panicked: {panic}");
            ExitCode::FAILURE
        }
    }
}

fn print_outcome(outcome: &cases::Outcome) {
    match outcome {
        Ok(detail) => println!("ok {detail}"),
        Err(detail) => println!("FAIL {detail}"),
    }
}

fn run_all() -> ExitCode {
    for line in patterns::BLOCKS.lines() {
        println!("blocks {line}");
    }
    let cases = cases::all();
    let verdicts = run_children(&cases);
    for (case, (ok, detail)) in cases.iter().zip(&verdicts) {
        println!("case {}: {} {}", case.name, if *ok { "ok" } else { "FAIL" }, detail);
    }
    if verdicts.iter().all(|(ok, _)| *ok) { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Runs the cases' child processes a few at a time (they mostly wait), in order.
fn run_children(cases: &[cases::Case]) -> Vec<(bool, String)> {
    let next = AtomicUsize::new(0);
    let verdicts: Vec<Mutex<(bool, String)>> =
        cases.iter().map(|_| Mutex::new((false, "not run".to_string()))).collect();
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_CASES {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let case = match cases.get(index) {
                    Some(case) => case,
                    None => break,
                };
                let verdict = match child(&case.name) {
                    Ok(report) => judge(case, report),
                    Err(error) => (false, error),
                };
                *verdicts[index].lock().expect("verdict lock") = verdict;
            });
        }
    });
    verdicts.into_iter().map(|verdict| verdict.into_inner().expect("verdict lock")).collect()
}

struct Report {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

fn child(name: &str) -> Result<Report, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["--case", name])
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if started.elapsed() > CASE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("hung for more than {CASE_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    Ok(Report {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).trim().to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

fn judge(case: &cases::Case, report: Report) -> (bool, String) {
    let aborted = report.status.signal() == Some(libc_sigabrt());
    match (case.aborts, aborted) {
        (true, true) => (true, format!("aborted as documented: {}", panic_messages(&report.stderr))),
        (true, false) => (false, format!("expected an abort, got {} {}", report.status, report.stdout)),
        (false, true) => (false, format!("aborted: {}", panic_messages(&report.stderr))),
        (false, false) => match report.stdout.strip_prefix("ok ") {
            Some(detail) if report.status.success() => (true, detail.to_string()),
            _ => {
                let stderr = panic_messages(&report.stderr);
                (false, format!("{} {} [panics: {stderr}]", report.status, report.stdout))
            }
        },
    }
}

/// SIGABRT, the signal of `std::process::abort` and of a panic while unwinding.
fn libc_sigabrt() -> i32 {
    6
}

/// The messages of the panics in a child's stderr.
fn panic_messages(stderr: &str) -> String {
    // Since Rust 1.73 the message stands on the line after "panicked at"; before
    // (Debian's rustc 1.63) it is quoted on the same line.
    let lines: Vec<&str> = stderr.lines().collect();
    let mut messages = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if let Some((_, rest)) = line.split_once(" panicked at '") {
            messages.push(rest.rsplit_once("', ").map_or(rest, |(message, _)| message).trim());
        } else if line.contains(" panicked at ") {
            if let Some(next) = lines.get(index + 1) {
                messages.push(next.trim());
            }
        }
    }
    messages.join(" | ")
}
