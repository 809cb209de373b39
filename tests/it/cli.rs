//! The command line around the commands: shell completions loaded by real bash, zsh and fish,
//! the man page rendered by groff, examples and exit codes in every --help, and diagnostics
//! coloured only on a terminal (a real pty from `script`) and never with NO_COLOR.

use crate::common::*;
use clap::CommandFactory;
use std::path::Path;
use std::process::Command;

/// A shell command run with rvenv first on PATH.
fn shell(program: &str, script: &str) -> std::process::Output {
    let bin = Path::new(RVENV).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new(program).args(["-c", script]).env("PATH", path))
}

fn subcommands() -> Vec<String> {
    rvenv::app::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn bash_completion_loads_and_completes_subcommands() {
    let out = shell(
        "bash",
        "source <(rvenv completions bash) && complete -p rvenv && \
         COMP_WORDS=(rvenv ins) COMP_CWORD=1 COMP_LINE='rvenv ins' COMP_POINT=9 && \
         _rvenv rvenv ins rvenv && printf '%s\\n' \"${COMPREPLY[@]}\"",
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.lines()
            .any(|l| l.starts_with("complete ") && l.ends_with(" -F _rvenv rvenv")),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "inspect"), "{text}");
}

#[test]
fn zsh_and_fish_completions_name_every_subcommand() {
    for shell_name in ["zsh", "fish"] {
        let out = run(Command::new(RVENV).args(["completions", shell_name]));
        assert!(out.status.success(), "{}", stderr(&out));
        let script = stdout(&out);
        for sub in subcommands() {
            assert!(script.contains(&sub), "{shell_name} completion lacks {sub}");
        }
    }
    // fish loads it and completes a subcommand from its prefix.
    let out = shell(
        "fish",
        "rvenv completions fish | source; complete -C 'rvenv fre'",
    );
    assert!(
        out.status.success() && stdout(&out).lines().any(|l| l.starts_with("freeze")),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // zsh registers it with compdef.
    let out = shell(
        "zsh",
        "autoload -Uz compinit && compinit -u -D && source <(rvenv completions zsh) \
         && print -r -- ${_comps[rvenv]}",
    );
    assert_eq!(stdout(&out).trim(), "_rvenv", "{}", stderr(&out));
}

#[test]
fn man_pages_render() {
    let page = run_ok(Command::new(RVENV).arg("man"));
    assert!(
        page.starts_with(".ie") || page.contains(".TH rvenv 1"),
        "{page}"
    );
    let rendered = run_ok(Command::new("bash").args([
        "-c",
        &format!("'{RVENV}' man | groff -man -Tutf8 -P-cbou 2>&1"),
    ]));
    // groff justifies lines, so words are compared with single spaces between them.
    let rendered = rendered.split_whitespace().collect::<Vec<_>>().join(" ");
    for word in [
        "SYNOPSIS",
        "inspect",
        "freeze",
        "completions",
        "Exit status",
    ] {
        assert!(
            rendered.contains(word),
            "no {word} in the rendered page:\n{rendered}"
        );
    }
    let inspect = run_ok(Command::new("bash").args([
        "-c",
        &format!("'{RVENV}' man inspect | groff -man -Tutf8 -P-cbou 2>&1"),
    ]));
    assert!(
        inspect.contains("rvenv-inspect") && inspect.contains("--json"),
        "{inspect}"
    );
    let out = run(Command::new(RVENV).args(["man", "nosuch"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: man nosuch: no such command\nhint: one of: bundle"));
}

#[test]
fn every_help_has_examples_and_exit_codes() {
    let subs = subcommands();
    for expected in [
        "bundle",
        "check",
        "verify",
        "inspect",
        "freeze",
        "completions",
        "man",
    ] {
        assert!(subs.iter().any(|s| s == expected), "{subs:?}");
    }
    for sub in subs {
        let help = run_ok(Command::new(RVENV).args([sub.as_str(), "--help"]));
        assert!(
            help.contains("Examples:\n  rvenv "),
            "{sub} --help has no examples:\n{help}"
        );
        assert!(
            help.contains("Exit status: 0 "),
            "{sub} --help has no exit codes:\n{help}"
        );
    }
    let top = run_ok(Command::new(RVENV).arg("--help"));
    assert!(top.contains("Exit status: 0 ok"), "{top}");
}

/// Runs `rvenv inspect MISSING` with stderr on a pseudo-terminal (util-linux `script`), which
/// copies what the terminal showed to its stdout.
fn on_terminal(env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new("script");
    cmd.args([
        "-qec",
        &format!("'{RVENV}' inspect /nonexistent/rvenv-colour"),
        "/dev/null",
    ])
    .env("TERM", "xterm-256color")
    .env_remove("NO_COLOR")
    .env_remove("CLICOLOR_FORCE")
    .env_remove("CLICOLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    stdout(&out)
}

#[test]
fn diagnostics_are_coloured_only_on_a_terminal_without_no_color() {
    let coloured = on_terminal(&[]);
    eprintln!("on a terminal: {coloured:?}");
    assert!(
        coloured.contains("\x1b[") && coloured.contains("error:"),
        "no colour on a terminal: {coloured:?}"
    );
    let plain = on_terminal(&[("NO_COLOR", "1")]);
    assert!(
        !plain.contains('\x1b'),
        "NO_COLOR=1 on a terminal: {plain:?}"
    );
    assert!(
        plain.starts_with("error: /nonexistent/rvenv-colour: cannot be read"),
        "{plain:?}"
    );
    // An empty NO_COLOR does not count (no-color.org).
    assert!(on_terminal(&[("NO_COLOR", "")]).contains("\x1b["));
    // A pipe (this test's capture): never.
    let out = run(Command::new(RVENV)
        .args(["inspect", "/nonexistent/rvenv-colour"])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE"));
    assert!(!out.stderr.contains(&0x1b), "{:?}", stderr(&out));
    assert!(stderr(&out).starts_with("error: /nonexistent/rvenv-colour: cannot be read"));
}
