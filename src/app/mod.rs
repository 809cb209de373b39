//! The commands: `cli` is what clap parses, `config` validates it into each stage's options,
//! and one file per subcommand runs the stages. Nothing below this folder sees a command's
//! arguments or configuration.

pub mod cli;
pub mod config;

mod bundle;
mod check;
mod completions;
mod freeze;
mod image;
mod inspect;
mod man;
mod probe;
mod python;
mod targets;
mod verify;

use crate::error::Result;
use crate::{elf, target, ui};
use std::path::Path;
use std::process::ExitCode;

/// glibc's allocator keeps what a thread frees in that thread's arena, and raises its mmap
/// threshold after the first large free, so the buffers of files read ahead on the thread pool
/// (up to 1 MiB each) would stay in the heap: about 30 MiB more peak memory on a venv of 50,000
/// files. A fixed threshold returns them to the system when freed, and two arenas are enough.
fn bounded_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: called first, before any other thread exists; mallopt only tunes the allocator.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Parses the command line and runs it: 0 ok, 1 check failures (verify: differences), 2 usage
/// or input errors, 130 interrupted.
pub fn main() -> ExitCode {
    run(<cli::Cli as clap::Parser>::parse())
}

pub fn run(cli: cli::Cli) -> ExitCode {
    // Output piped into `head` ends quietly, as for any Unix tool, instead of a panic on EPIPE.
    // SAFETY: done first, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    bounded_heap();
    let result = match cli.command {
        cli::Command::Bundle(args) => bundle::run(*args),
        cli::Command::Check(args) => check::run(args),
        cli::Command::Targets(args) => targets::run(args),
        cli::Command::Probe(args) => probe::run(args),
        cli::Command::Verify(args) => verify::run(args),
        cli::Command::Inspect(args) => inspect::run(args),
        cli::Command::Freeze(args) => freeze::run(args),
        cli::Command::Python(args) => python::run(args),
        cli::Command::Image(args) => image::run(*args),
        cli::Command::Completions(args) => completions::run(args),
        cli::Command::Man(args) => man::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            ui::error(e.message(), e.hint());
            ExitCode::from(e.exit_code())
        }
    }
}

/// Writes `text` to standard output; a reader that stops early (`| head`) is not an error.
fn print_out(text: &str) -> Result<()> {
    ui::print_out(text).map_err(|e| crate::error::Error::new(format!("standard output: {e}")))
}

/// The chosen target, or the one the interpreter's ELF header names (printed).
fn resolve_target(
    choice: &target::Choice,
    interpreter: &Path,
    elf: &elf::ElfFile,
    quiet: bool,
) -> Result<target::Target> {
    if let Some(t) = &choice.target {
        return Ok(t.clone());
    }
    let t = elf::detect_target(elf).ok_or_else(|| {
        crate::error::Error::new(format!(
            "{}: no known target runs {}; give --target",
            interpreter.display(),
            elf.describe()
        ))
    })?;
    ui::info(
        quiet,
        &format!(
            "target: {} (detected from {})",
            t.name,
            interpreter.display()
        ),
    );
    Ok(t.clone())
}

/// The interpreter is for another CPU than the target: one error and its hint, decided before
/// any wheel is fetched or any byte compressed (the per-file check would list every binary of
/// the venv). A check failure (exit 1), as the per-file check's would be.
fn foreign_interpreter(
    target: &target::Target,
    interpreter: &Path,
    elf: &elf::ElfFile,
    venv: Option<&Path>,
) -> Option<(String, String)> {
    let problem = elf
        .problems(target, None)
        .into_iter()
        .find(|p| p.kind == elf::ProblemKind::Architecture)?;
    let built_for = elf::detect_target(elf).map_or("its own CPU".to_string(), |t| {
        format!("--target {}", t.name)
    });
    Some(match venv {
        Some(venv) => (
            format!(
                "{}: its interpreter {} is an {}; nothing was bundled",
                venv.display(),
                interpreter.display(),
                problem.message
            ),
            format!(
                "bundle it for the CPU it was made for ({built_for}), or re-create it for the board: give a distribution preset as --target (rvenv python list shows them) or the target's interpreter with --python, and rvenv re-fetches or builds {}'s compiled packages for it",
                venv.display()
            ),
        ),
        None => (
            format!("--python {}: an {}", interpreter.display(), problem.message),
            "give the target's own interpreter (a Debian sysroot's usr/bin/python3.X, a python-build-standalone build for the target), or leave out --python with a distribution preset as --target to fetch its CPython (rvenv python list)".to_string(),
        ),
    })
}

/// The plan options `check` and `inspect` use: as `rvenv bundle` would, with editable installs
/// allowed (they are reported, not refused) and nothing written.
fn plan_options() -> crate::bundle::plan::Options {
    crate::bundle::plan::Options {
        allow_editable: true,
        ..Default::default()
    }
}
