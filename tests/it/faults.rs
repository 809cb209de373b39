//! Faults while `rvenv bundle` runs, on real venvs with the real binary: the disk fills up, the
//! run is interrupted or killed, the output directory goes away or becomes read-only, a venv
//! file changes while it is read, two runs write one output, a file cannot be read. Each ends
//! with what rvenv promises: a clear `error:` line naming the file, an exit status other than
//! 0, nothing at the output's name and no temporary file beside it (the directory is listed),
//! and the venv byte for byte as it was (a snapshot of every path, mode, content and link).

use crate::common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Deterministic incompressible bytes (xorshift64*), fast enough for hundreds of MB.
fn write_noise(path: &Path, size: u64, seed: u64) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x = seed | 1;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        out.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    out.flush().unwrap();
}

fn site(venv: &Path) -> PathBuf {
    venv.join("lib/python3.11/site-packages")
}

/// A bare venv of the machine's Python with one incompressible file of `size` bytes at
/// `site-packages/big/blob.bin` (plus `zz_late.py`, stored after it).
fn venv_with_blob(dir: &Path, size: u64) -> PathBuf {
    let venv = dir.join("app");
    make_bare_venv(&venv);
    std::fs::create_dir(site(&venv).join("big")).unwrap();
    write_noise(&blob(&venv), size, 7);
    std::fs::write(site(&venv).join("zz_late.py"), "LATE = 1\n").unwrap();
    venv
}

fn blob(venv: &Path) -> PathBuf {
    site(venv).join("big/blob.bin")
}

/// Options that make the blob slow to store (one thread, the strongest gzip), so a fault can
/// land while it streams.
const SLOW: [&str; 6] = ["--format", "tar.gz", "--level", "9", "-j", "1"];

fn spawn_bundle(venv: &Path, out: &Path, extra: &[&str]) -> Child {
    Command::new(RVENV)
        .arg("bundle")
        .arg(venv)
        .arg("-o")
        .arg(out)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The user that `as_unprivileged` runs rvenv as when the tests run as root: nobody.
const NOBODY: u32 = 65534;

/// `rvenv ARGS` as a user without privileges (root ignores file and directory permissions): the
/// tests' own user, or, when they run as root, nobody by `setpriv`.
fn as_unprivileged(args: &[&std::ffi::OsStr]) -> Command {
    if is_root() {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .args(["--clear-groups", RVENV])
            .args(args);
        cmd
    } else {
        let mut cmd = Command::new(RVENV);
        cmd.args(args);
        cmd
    }
}

/// rvenv's temporary files in `dir`.
fn temps(dir: &Path) -> Vec<PathBuf> {
    if !dir.is_dir() {
        return Vec::new();
    }
    temp_leftovers(dir)
}

/// Waits until the run's temporary file in `dir` holds more than `bytes`: the bundle is then
/// being written (past the small files stored before the blob). Panics if the run ends first.
fn wait_for_growth(child: &mut Child, dir: &Path, bytes: u64) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(t) = temps(dir).into_iter().next()
            && t.metadata().is_ok_and(|m| m.len() > bytes)
        {
            return t;
        }
        assert!(Instant::now() < deadline, "the temporary file never grew");
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("rvenv ended ({status}) before the fault could be caused:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every entry of `dir`, for messages and for "nothing was left".
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The refusal every fault must end in: an `error:` line naming each of `names`, the exit
/// status (`code`, or any failure), and `outdir` (when it still exists) empty.
fn assert_clean_failure(o: &Output, outdir: &Path, code: Option<i32>, names: &[&str]) {
    let err = stderr(o);
    match code {
        Some(c) => assert_eq!(o.status.code(), Some(c), "exit status; stderr:\n{err}"),
        None => assert!(!o.status.success(), "it succeeded:\n{err}"),
    }
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error: line in\n{err}"));
    for n in names {
        assert!(line.contains(n), "the error line does not name {n}: {line}");
    }
    assert!(!err.contains("panicked"), "{err}");
    if outdir.exists() {
        assert_eq!(
            listing(outdir),
            Vec::<String>::new(),
            "left in {}",
            outdir.display()
        );
    }
}

fn verify_ok(path: &Path) -> String {
    let o = run(Command::new(RVENV).arg("verify").arg(path));
    assert!(
        o.status.success(),
        "rvenv verify {}:\n{}{}",
        path.display(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

#[test]
#[ignore = "needs root: unshare -m mounts a small tmpfs over the output directory"]
fn disk_full_leaves_nothing() {
    require_unshare("unshare -m mounts a small tmpfs over the output directory");
    let s = scratch();
    let venv = venv_with_blob(s.path(), 24 << 20);
    let outdir = s.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let before = snapshot(&venv);
    // An 8 MiB tmpfs over the output directory, in a mount namespace of its own (gone with
    // the run): the incompressible blob cannot fit.
    let script = format!(
        "mount -t tmpfs -o size=8m rvenv-full '{d}' || exit 99\n\
         '{rvenv}' bundle '{venv}' -o '{d}/app.tar.gz'\n\
         echo \"rc=$?\"\nls -A '{d}'",
        d = outdir.display(),
        rvenv = RVENV,
        venv = venv.display()
    );
    let o = run(Command::new("unshare").args(["-m", "sh", "-c", &script]));
    assert!(
        o.status.success(),
        "cannot mount a small tmpfs here ({}): {}",
        o.status,
        stderr(&o).trim()
    );
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("rc=2"),
        "stdout:\n{out}\nstderr:\n{}",
        stderr(&o)
    );
    let left: Vec<&str> = lines.collect();
    assert!(left.is_empty(), "left on the full disk: {left:?}");
    let err = stderr(&o);
    let line = err.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(
        line.contains("out/app.tar.gz") && line.contains("No space left on device"),
        "{err}"
    );
    assert_eq!(listing(&outdir), Vec::<String>::new());
    assert_same_tree(&before, &snapshot(&venv), "the venv was modified");
}

/// SIGINT and SIGTERM while one large file streams: exit 130 soon after (the flag is looked at
/// every 256 KiB of a file, not only between files), nothing left. "Soon" is measured in bytes,
/// not seconds (the machines are shared): the blob is noise, so the temporary file grows with
/// every byte of it stored, and it must stop growing far short of the blob's 256 MiB.
#[test]
fn interrupted_in_the_middle_of_a_large_file() {
    let s = scratch();
    let venv = venv_with_blob(s.path(), 256 << 20);
    let before = snapshot(&venv);
    for signal in ["INT", "TERM"] {
        let outdir = s.path().join(format!("out-{signal}"));
        std::fs::create_dir(&outdir).unwrap();
        let out = outdir.join("app.tar.gz");
        let mut child = spawn_bundle(&venv, &out, &SLOW);
        let temp = wait_for_growth(&mut child, &outdir, 8 << 20);
        let at_signal = temp.metadata().unwrap().len();
        run_ok(
            Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string()),
        );
        // The largest the temporary file gets before rvenv exits and removes it.
        let mut largest = at_signal;
        while child.try_wait().unwrap().is_none() {
            if let Ok(m) = temp.metadata() {
                largest = largest.max(m.len());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        eprintln!(
            "SIG{signal}: temporary file {at_signal} bytes at the signal, {largest} at most after"
        );
        let o = child.wait_with_output().unwrap();
        assert_clean_failure(&o, &outdir, Some(130), &["app.tar.gz", "interrupted"]);
        assert!(!temp.exists());
        // Checked only between files, it stored the rest of the blob before it stopped.
        assert!(
            largest < at_signal + (32 << 20),
            "SIG{signal}: the temporary file grew from {at_signal} to {largest} bytes after the signal"
        );
    }
    assert_same_tree(&before, &snapshot(&venv), "the venv was modified");
}

/// SIGKILL cannot be caught: the temporary file stays, never at the output's name. The next
/// run for the same output removes it (it is not locked by a running rvenv) and says so.
#[test]
fn killed_leaves_a_temporary_file_that_the_next_run_removes() {
    let s = scratch();
    let venv = venv_with_blob(s.path(), 64 << 20);
    let before = snapshot(&venv);
    let outdir = s.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("app.tar.zst");
    let slow = ["--level", "19", "-j", "1"];
    let mut child = spawn_bundle(&venv, &out, &slow);
    let temp = wait_for_growth(&mut child, &outdir, 1 << 20);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    assert!(!out.exists(), "the output's name was written");
    let left = listing(&outdir);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0].starts_with(".app.tar.zst.") && left[0].ends_with(".rvenv-tmp"),
        "{left:?}"
    );
    assert_same_tree(&before, &snapshot(&venv), "the venv was modified");

    // A leftover is removed only once it is a few seconds old (a file another run has just
    // created is not yet locked); make it so rather than wait.
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&temp)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let err = bundle_ok(&venv, &out, &["--level", "1"]);
    assert!(
        err.contains(&format!(
            "removed {}, left by an earlier run that was killed",
            temp.display()
        )),
        "{err}"
    );
    assert_eq!(listing(&outdir), ["app.tar.zst"]);
    verify_ok(&out);
    assert_same_tree(&before, &snapshot(&venv), "the venv was modified");
}

#[test]
fn output_directory_removed_during_the_run() {
    let s = scratch();
    let venv = venv_with_blob(s.path(), 48 << 20);
    let before = snapshot(&venv);
    let outdir = s.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("app.tar.gz");
    let mut child = spawn_bundle(&venv, &out, &SLOW);
    wait_for_growth(&mut child, &outdir, 1 << 20);
    std::fs::remove_dir_all(&outdir).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_clean_failure(&o, &outdir, Some(2), &["out/app.tar.gz", "was removed"]);
    assert!(!outdir.exists(), "the output directory was made again");
    assert_same_tree(&before, &snapshot(&venv), "the venv was modified");
}

/// As an unprivileged user (`as_unprivileged`: root ignores directory permissions): the
/// directory becomes read-only while the bundle is written. The rename fails; the temporary
/// file cannot be removed either, so it is emptied and named in a warning.
#[test]
fn output_directory_made_read_only_during_the_run() {
    let s = scratch();
    let venv = venv_with_blob(s.path(), 48 << 20);
    let before = snapshot(&venv);
    let outdir = s.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    if is_root() {
        std::os::unix::fs::chown(&outdir, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let out = outdir.join("app.tar.gz");
    let mut child = as_unprivileged(&["bundle".as_ref(), venv.as_os_str(), "-o".as_ref()])
        .arg(&out)
        .args(SLOW)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let temp = wait_for_growth(&mut child, &outdir, 1 << 20);
    chmod(&outdir, 0o555);
    let o = child.wait_with_output().unwrap();
    chmod(&outdir, 0o755);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let line = err.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(
        line.contains("out/app.tar.gz") && line.contains("Permission denied"),
        "{err}"
    );
    assert!(!out.exists());
    assert_eq!(
        listing(&outdir),
        [temp.file_name().unwrap().to_str().unwrap()]
    );
    assert_eq!(
        temp.metadata().unwrap().len(),
        0,
        "the leftover was not emptied"
    );
    assert!(
        err.contains(&format!(
            "warning: {}: the unfinished bundle cannot be removed",
            temp.display()
        )),
        "{err}"
    );
    assert_same_tree(&before, &snapshot(&venv), "the venv was modified");
}

/// How a venv file is changed while the bundle reads it.
#[derive(Debug, Clone, Copy)]
enum Change {
    Shrink,
    Grow,
    SameSize,
    Remove,
    RemoveLater,
}

/// Causes `change` while the blob streams. The run either fails naming the file, with nothing
/// left, or succeeds with a manifest that matches the bytes in the tarball (extracted by GNU
/// tar and checked by `rvenv verify`): never a manifest that lies. Returns whether it failed.
fn change_while_read(change: Change) -> bool {
    use std::io::{Seek, Write};
    let s = scratch();
    let venv = venv_with_blob(s.path(), 64 << 20);
    let blob = blob(&venv);
    let late = site(&venv).join("zz_late.py");
    let touched = match change {
        Change::RemoveLater => late.clone(),
        _ => blob.clone(),
    };
    let others = |snap: std::collections::BTreeMap<PathBuf, String>| {
        let rel = touched.strip_prefix(&venv).unwrap().to_path_buf();
        snap.into_iter()
            .filter(|(p, _)| *p != rel && *p != rel.parent().unwrap())
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let before = others(snapshot(&venv));
    let outdir = s.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("app.tar.gz");
    let mut child = spawn_bundle(&venv, &out, &SLOW);
    wait_for_growth(&mut child, &outdir, 4 << 20);
    match change {
        Change::Shrink => {
            let f = std::fs::File::options().write(true).open(&blob).unwrap();
            f.set_len(1 << 20).unwrap();
        }
        Change::Grow => {
            let mut f = std::fs::File::options().append(true).open(&blob).unwrap();
            f.write_all(&[1u8; 4096]).unwrap();
        }
        Change::SameSize => {
            // The last MiB, which the reader has not reached yet.
            let mut f = std::fs::File::options().write(true).open(&blob).unwrap();
            f.seek(std::io::SeekFrom::End(-(1 << 20))).unwrap();
            f.write_all(&vec![0x5a; 1 << 20]).unwrap();
        }
        Change::Remove => std::fs::remove_file(&blob).unwrap(),
        Change::RemoveLater => std::fs::remove_file(&late).unwrap(),
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        before,
        others(snapshot(&venv)),
        "{change:?}: rvenv modified the venv"
    );
    let name = touched.strip_prefix(&venv).unwrap().display().to_string();
    if !o.status.success() {
        assert_clean_failure(&o, &outdir, Some(2), &[&name]);
        return true;
    }
    // Succeeded: the manifest must describe exactly what the tarball holds.
    let x = s.path().join("x");
    extract(&out, &x);
    verify_ok(&x.join("app"));
    verify_ok(&out);
    let stored = x.join("app").join(&name);
    match change {
        Change::SameSize => assert_eq!(
            std::fs::read(&stored).unwrap(),
            std::fs::read(&blob).unwrap(),
            "the tarball holds neither the old blob nor the new one"
        ),
        Change::RemoveLater => {
            assert_eq!(std::fs::read(&stored).unwrap(), b"LATE = 1\n")
        }
        _ => {}
    }
    false
}

#[test]
fn venv_file_shrinks_while_read() {
    let failed = change_while_read(Change::Shrink);
    assert!(
        failed,
        "a file that shrank while it was stored was accepted"
    );
}

#[test]
fn venv_file_grows_while_read() {
    let failed = change_while_read(Change::Grow);
    assert!(failed, "a file that grew while it was stored was accepted");
}

#[test]
fn venv_file_changes_content_at_the_same_size_while_read() {
    // Either outcome is allowed; `change_while_read` checks that a success does not lie.
    let failed = change_while_read(Change::SameSize);
    eprintln!(
        "same-size change: the run {}",
        if failed {
            "failed"
        } else {
            "stored the bytes it read"
        }
    );
}

#[test]
fn venv_files_removed_while_read() {
    for change in [Change::Remove, Change::RemoveLater] {
        let failed = change_while_read(change);
        eprintln!(
            "{change:?}: the run {}",
            if failed {
                "failed"
            } else {
                "stored the bytes it read"
            }
        );
    }
}

/// Two runs at once for one output, each with its own top directory (so their tarballs
/// differ): the output is, byte for byte, the tarball one of them makes alone.
#[test]
fn two_runs_writing_the_same_output() {
    let s = scratch();
    let venv = venv_with_blob(s.path(), 24 << 20);
    let before = snapshot(&venv);
    let refs = s.path().join("refs");
    std::fs::create_dir(&refs).unwrap();
    let opts = |root: &'static str| ["--arcroot", root, "--format", "tar"];
    bundle_ok(&venv, &refs.join("a.tar"), &opts("a"));
    bundle_ok(&venv, &refs.join("b.tar"), &opts("b"));
    let a = std::fs::read(refs.join("a.tar")).unwrap();
    let b = std::fs::read(refs.join("b.tar")).unwrap();
    assert_ne!(a, b);
    let outdir = s.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("app.tar");
    for round in 0..3 {
        let one = spawn_bundle(&venv, &out, &opts("a"));
        let two = spawn_bundle(&venv, &out, &opts("b"));
        let (one, two) = (
            one.wait_with_output().unwrap(),
            two.wait_with_output().unwrap(),
        );
        assert!(one.status.success(), "round {round}: {}", stderr(&one));
        assert!(two.status.success(), "round {round}: {}", stderr(&two));
        let got = std::fs::read(&out).unwrap();
        assert!(
            got == a || got == b,
            "round {round}: the output is neither run's tarball"
        );
        verify_ok(&out);
        assert_eq!(listing(&outdir), ["app.tar"], "round {round}");
    }
    assert_same_tree(&before, &snapshot(&venv), "the venv was modified");
}

/// As an unprivileged user (`as_unprivileged`): a file, then a directory, that user cannot read
/// (mode 000: neither its owner nor anyone else but root may).
#[test]
fn unreadable_files_as_a_user() {
    let s = scratch();
    let venv = s.path().join("app");
    make_bare_venv(&venv);
    let outdir = s.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    chmod(&outdir, 0o777);
    let out = outdir.join("app.tar.gz");
    let secret = site(&venv).join("secret.py");
    std::fs::write(&secret, "X = 1\n").unwrap();
    let private = site(&venv).join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::write(private.join("inside.py"), "Y = 2\n").unwrap();
    let as_a_user = || {
        run(&mut as_unprivileged(&[
            "bundle".as_ref(),
            venv.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ]))
    };
    for (path, says) in [
        (
            &secret,
            "site-packages/secret.py: cannot be read: Permission denied",
        ),
        (&private, "site-packages/private: Permission denied"),
    ] {
        // Snapshot and mode are taken while the test can read them (it may not be root).
        let before = snapshot(&venv);
        let mode = path.metadata().unwrap().mode() & 0o7777;
        chmod(path, 0o000);
        let o = as_a_user();
        chmod(path, mode);
        assert_clean_failure(&o, &outdir, Some(2), &[says]);
        assert_same_tree(&before, &snapshot(&venv), "the venv was modified");
    }
    // Readable again: the same user bundles it.
    let o = as_a_user();
    assert!(o.status.success(), "{}", stderr(&o));
}
