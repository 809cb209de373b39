//! The command line, as clap sees it. Validation happens in `config`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXIT_CODES: &str = "Exit status: 0 ok, 1 check failures (a binary that will not run on the target), \
2 usage or input errors, 130 interrupted.";

#[derive(Debug, Parser)]
#[command(
    name = "rvenv",
    version,
    about = "Turn a Python virtual environment into a relocatable, self-contained tarball",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bundle a venv, its interpreter and standard library into a tarball that runs wherever it
    /// is extracted
    #[command(after_help = concat!(
        "Examples:\n",
        "  rvenv bundle                       # $VIRTUAL_ENV or ./.venv, target from its interpreter\n",
        "  rvenv bundle ~/app/.venv -o app.tar.gz --arcroot app\n",
        "  tar -xzf app.tar.gz -C /opt && /opt/app/bin/python3 -c 'import sys; print(sys.prefix)'\n\n",
        "SOURCE_DATE_EPOCH, when set, is the time of every entry (reproducible builds).\n\n",
        "Exit status: 0 ok, 1 check failures, 2 usage or input errors, 130 interrupted."
    ))]
    Bundle(BundleArgs),
    /// List the targets rvenv knows
    Targets,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The virtual environment [default: $VIRTUAL_ENV, then ./.venv]
    pub venv: Option<PathBuf>,
    /// Target name or alias (see `rvenv targets`) [default: detected from the interpreter]
    #[arg(short, long)]
    pub target: Option<String>,
    /// Output file [default: <venv-dir-name>-<target>.tar.gz in the current directory]
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Name of the tarball's single top-level directory [default: the venv directory's name]
    #[arg(long, value_name = "NAME")]
    pub arcroot: Option<String>,
    /// Keep the standard library's test/ package (left out by default: it is large and unused)
    #[arg(long)]
    pub keep_stdlib_tests: bool,
    /// Bundle editable installs anyway (their code stays on this machine: they will not import)
    #[arg(long)]
    pub allow_editable: bool,
    /// Print only warnings and errors
    #[arg(short, long)]
    pub quiet: bool,
}
