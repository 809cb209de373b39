//! The progress bar: drawn in a real terminal (tmux), never in pipes or with -q; -v adds detail.

use crate::common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A bare venv with `mib` MiB of random bytes in site-packages: incompressible, so gzip -9 on
/// one thread takes seconds over it and the bar is on screen long enough to be seen.
fn slow_venv(dir: &Path, mib: usize) -> std::path::PathBuf {
    let venv = dir.join("venv");
    make_bare_venv(&venv);
    let site = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages");
    let mut data = vec![0u8; mib << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in data.chunks_mut(8) {
        // xorshift: fast, and as incompressible as /dev/urandom for gzip.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(site.join("blob.bin"), data).unwrap();
    venv
}

struct Tmux {
    socket: String,
}

impl Tmux {
    /// A detached tmux session running `command` in a 150x20 terminal.
    fn start(command: &str) -> Tmux {
        static SESSIONS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = format!("rvenv-progress-{}-{n}", std::process::id());
        let out = run(Command::new("tmux").args([
            "-L",
            &socket,
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "150",
            "-y",
            "20",
            command,
        ]));
        assert!(
            out.status.success(),
            "tmux could not start a session (is tmux installed? .ci/run installs it): {}",
            stderr(&out)
        );
        Tmux { socket }
    }

    fn capture(&self) -> String {
        stdout(&run(Command::new("tmux").args([
            "-L",
            &self.socket,
            "capture-pane",
            "-p",
            "-t",
            "t",
        ])))
    }

    /// Captures the screen every 50 ms until `done` holds for it (or 120 s pass).
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if done(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "gave up waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

#[test]
fn a_terminal_sees_a_bar_that_is_cleared_at_the_end() {
    let s = scratch();
    let venv = slow_venv(s.path(), 96);
    let out = s.path().join("app.tar.gz");
    let done = s.path().join("exit-status");
    let command = format!(
        "'{RVENV}' bundle '{}' -o '{}' -j1 --level 9; echo $? > '{}'; sleep 60",
        venv.display(),
        out.display(),
        done.display()
    );
    let tmux = Tmux::start(&command);
    let bar = tmux.wait_for("the progress bar", |screen| {
        screen.contains("bundling") && screen.contains(" files [") && screen.contains("left")
    });
    eprintln!("screen while bundling (tmux capture-pane):\n{bar}");
    let line = bar.lines().find(|l| l.contains("bundling")).unwrap();
    // "bundling 12/1389 files [=>   ] 10.50 MiB/97.63 MiB 9.80 MiB/s 9s left"
    let counts = line.split_whitespace().nth(1).unwrap();
    let (n, total) = counts.split_once('/').unwrap();
    let (n, total): (u64, u64) = (n.parse().unwrap(), total.parse().unwrap());
    assert!(n <= total && total > 1000, "{line}");
    assert!(line.contains("B/") && line.contains("B/s "), "{line}");

    let end = tmux.wait_for("the end of the run", |_| done.exists());
    let end = if end.contains("wrote ") {
        end
    } else {
        tmux.wait_for("the summary", |screen| screen.contains("wrote "))
    };
    eprintln!("screen at the end:\n{end}");
    assert_eq!(std::fs::read_to_string(&done).unwrap().trim(), "0");
    assert!(
        !end.contains("bundling"),
        "the bar was left on screen:\n{end}"
    );
    assert!(
        end.contains("wrote ") && end.contains("app.tar.gz"),
        "{end}"
    );
}

#[test]
fn pipes_and_quiet_runs_get_no_bar() {
    let s = scratch();
    let venv = slow_venv(s.path(), 8);
    // stderr is a pipe here: no bar, no carriage returns, no escape sequences.
    let err = bundle_ok(&venv, &s.path().join("a.tar.gz"), &[]);
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");
    assert!(!err.contains("bundling"), "{err}");
    assert!(err.contains("wrote "), "{err}");

    // In a terminal with -q: warnings only (this venv's base leaves one), never the bar.
    let out = s.path().join("b.tar.gz");
    let command = format!(
        "'{RVENV}' bundle '{}' -o '{}' -q; echo END-OF-RUN; sleep 60",
        venv.display(),
        out.display()
    );
    let tmux = Tmux::start(&command);
    let screen = tmux.wait_for("the end of the run", |screen| screen.contains("END-OF-RUN"));
    eprintln!("screen of a -q run:\n{screen}");
    assert!(
        !screen.contains("bundling") && !screen.contains("wrote "),
        "{screen}"
    );
    assert!(
        screen
            .lines()
            .all(|l| l.is_empty() || l.starts_with("warning: ") || !l.contains(':')),
        "{screen}"
    );
    assert!(out.is_file());
}

#[test]
fn verbose_tells_the_stages_and_the_rewrites() {
    let s = scratch();
    let venv = s.path().join("venv");
    make_bare_venv(&venv);
    let err = bundle_ok(&venv, &s.path().join("v.tar.gz"), &["-v"]);
    assert!(err.contains("planned "), "{err}");
    assert!(err.contains("rewrites pyvenv.cfg (PyvenvCfg)"), "{err}");
    assert!(err.contains("read, checked and compressed "), "{err}");
    let quiet_and_verbose = bundle(&venv, &s.path().join("w.tar.gz"), &["-q", "-v"]);
    assert_eq!(quiet_and_verbose.status.code(), Some(2));
    assert!(stderr(&quiet_and_verbose).contains("cannot be used with"));
}
