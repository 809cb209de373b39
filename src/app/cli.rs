//! The command line, as clap sees it. Validation happens in `config`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXIT_CODES: &str = "Exit status: 0 ok, 1 check failures (a binary that will not run on the target) \
or, for verify, differences from the manifest, 2 usage or input errors, 130 interrupted.";

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
        "  rvenv bundle .venv --target rpios-bookworm-aarch64   # refused if a binary will not run there\n",
        "  rvenv bundle .venv -o app.tar.zst -j 4               # zstd, on 4 threads\n",
        "  rvenv bundle .venv --target aarch64 --slim           # smaller: for small boards\n",
        "  rvenv bundle .venv --exclude '*.pyi' --exclude 'lib/python3.11/site-packages/*/docs/' --compile\n",
        "  rvenv bundle --target rpios-bookworm-aarch64 -r requirements.txt   # the release's CPython, fetched\n",
        "  rvenv bundle --target aarch64 --python sysroot/usr/bin/python3.11 -r requirements.txt -f wheels/\n",
        "  tar -xzf app.tar.gz -C /opt && /opt/app/bin/python3 -c 'import sys; print(sys.prefix)'\n\n",
        "SOURCE_DATE_EPOCH, when set, is the time of every entry (reproducible builds).\n\n",
        "Exit status: 0 ok, 1 check failures, 2 usage or input errors, 130 interrupted."
    ))]
    Bundle(Box<BundleArgs>),
    /// Check every binary of a venv, an extracted bundle or a bundle tarball against a target
    #[command(after_help = concat!(
        "Every file is recognised by its first bytes, not its name. For each ELF file: class, byte\n",
        "order, machine, OS ABI, ARM float ABI and build attributes (ARMv7 code on an ARMv6 board),\n",
        "RISC-V float ABI, the loader, every needed library (inside the environment through its\n",
        "RUNPATH, or a system library of the target) and the highest GLIBC_x.y it needs. Mach-O and\n",
        "PE extension modules are foreign.\n\n",
        "Examples:\n",
        "  rvenv check .venv --target rpios-bookworm-aarch64\n",
        "  rvenv check app-aarch64.tar.gz --glibc 2.31 --json\n\n",
        "Exit status: 0 clean, 1 problems found, 2 usage or input errors (a tarball member rvenv\n",
        "never writes, such as an absolute or .. name or a link out of the bundle, is refused)."
    ))]
    Check(CheckArgs),
    /// Describe this machine (or a mounted root filesystem) as a target file for --target-file
    #[command(after_help = concat!(
        "Run it on the board, or on any machine with the board's root filesystem mounted\n",
        "(--root). The architecture and ABI come from the userland's own programs and loader\n",
        "(/bin/sh's ELF header and PT_INTERP), never from `uname -m`: a 32-bit Raspberry Pi OS on\n",
        "a 64-bit kernel is armv7/armv6, not aarch64. Also read: the ARM float ABI and build\n",
        "attributes of the loader, glibc's version (the highest GLIBC_x.y libc.so.6 defines) or\n",
        "musl, GLIBCXX_3.4.n of libstdc++.so.6, and the libraries in /lib, /usr/lib, their\n",
        "multiarch directories and /etc/ld.so.conf's.\n\n",
        "Examples:\n",
        "  rvenv probe -o pi.toml                     # on the board\n",
        "  rvenv probe --root /media/$USER/rootfs -o pi.toml   # its SD card, mounted here\n",
        "  rvenv bundle .venv --target-file pi.toml\n\n",
        "Exit status: 0 ok, 2 when the root cannot be read or has no recognisable userland."
    ))]
    Probe(ProbeArgs),
    /// Compare an extracted bundle or a bundle tarball with its manifest (rvenv.json): every
    /// changed, missing and extra file
    #[command(after_help = concat!(
        "rvenv.json lists every file of the bundle with its size and sha256. verify names every\n",
        "file that is missing, whose size or content differs or that became a directory, symlink or\n",
        "special file, and every file the manifest does not list. Symlinks are not in the manifest:\n",
        "each must resolve inside the bundle. Bytecode that Python writes when the bundle runs\n",
        "(__pycache__/NAME.TAG.pyc beside NAME.py) is reported as written since and not counted,\n",
        "unless --strict. A tarball is read without extracting it. No Python is needed.\n\n",
        "Examples:\n",
        "  rvenv verify /opt/app                 # the directory holding rvenv.json\n",
        "  rvenv verify app-aarch64.tar.gz --json\n\n",
        "Exit status: 0 everything matches, 1 differences found, 2 usage or input errors (no\n",
        "rvenv.json, not a bundle, unreadable, or a tarball member rvenv never writes: an\n",
        "absolute or .. name, a link out of the bundle, a device; nothing is extracted)."
    ))]
    Verify(VerifyArgs),
    /// List the targets rvenv knows
    #[command(after_help = concat!(
        "Examples:\n",
        "  rvenv targets\n",
        "  rvenv targets --json | jq '.[].name'\n\n",
        "Exit status: 0 ok, 2 usage errors."
    ))]
    Targets(TargetsArgs),
    /// Show what a venv, an extracted bundle or a bundle tarball holds: Python, target, sizes,
    /// packages, binaries, glibc, scripts, leaks, editable installs
    #[command(after_help = concat!(
        "Nothing is run (the interpreter may be for another CPU) and a tarball is read once, never\n",
        "extracted. A venv is shown as `rvenv bundle` would pack it: its files plus the interpreter\n",
        "and standard library under python/, with the files bundle would rewrite. Reported: the\n",
        "Python version, the target detected from the interpreter's ELF header, size by top-level\n",
        "directory and by package (a .dist-info's RECORD; unclaimed site-packages files by name),\n",
        "ELF files by architecture, the highest GLIBC_x.y and GLIBCXX_3.4.n needed, bin/ scripts\n",
        "by launcher form, text files that still name a build-machine path, editable installs.\n\n",
        "Examples:\n",
        "  rvenv inspect .venv\n",
        "  rvenv inspect app-aarch64.tar.gz --json | jq '.packages[:5]'\n",
        "  rvenv inspect .venv --target rpios-bullseye-aarch64   # glibc compared with bullseye's\n\n",
        "Exit status: 0 ok (inspect reports; it does not judge: see `rvenv check`), 2 usage or\n",
        "input errors (not a venv or bundle, unreadable, an unsafe tarball member)."
    ))]
    Inspect(InspectArgs),
    /// Print `pip freeze`'s output for a venv, an extracted bundle or a bundle tarball, computed
    /// from its .dist-info without running pip
    #[command(after_help = concat!(
        "The same text as the environment's own `pip freeze`: names as in METADATA, versions\n",
        "normalised, sorted as pip sorts them, `name @ URL` from direct_url.json, editable\n",
        "installs as pip shows them (with their comment line), and pip, setuptools, wheel and\n",
        "distribute left out as the installed pip leaves them out (setuptools and wheel are\n",
        "shown from Python 3.12 with pip 23.2 or newer). A bundle's requirements.txt is this text.\n\n",
        "Examples:\n",
        "  rvenv freeze .venv > requirements.txt\n",
        "  rvenv freeze app-aarch64.tar.gz | diff - requirements.txt\n\n",
        "Exit status: 0 ok, 2 usage or input errors (not a venv or bundle, damaged metadata, an\n",
        "unsafe tarball member)."
    ))]
    Freeze(FreezeArgs),
    /// Fetch (and list) a distribution preset's own CPython from its archive
    #[command(after_help = concat!(
        "Examples:\n",
        "  rvenv python list\n",
        "  rvenv python fetch --target rpios-bookworm-aarch64\n",
        "  rvenv python fetch --target debian-12-armv7 -o pythons/   # a folder to carry offline\n\n",
        "Exit status: 0 ok, 2 usage, network or verification errors, 130 interrupted."
    ))]
    Python(PythonArgs),
    /// Build a container image for the board without a container engine: the release's own
    /// packages as the base layer, the bundle as the app layer at /opt/app
    #[command(after_help = concat!(
        "The base layer holds libc6, exactly the libraries the bundle's binaries need (found\n",
        "through the release's Contents index), ca-certificates and tzdata, verified through the\n",
        "archive's signed chain; no shell unless --with-busybox. The entry point runs as user\n",
        "65532. The same inputs and SOURCE_DATE_EPOCH give the same image digest. An SPDX SBOM is\n",
        "at /opt/app/sbom.spdx.json. Push with skopeo copy, crane push or podman load.\n\n",
        "Examples:\n",
        "  rvenv image .venv --target rpios-bookworm-aarch64 -o app.oci.tar --tag app:1.2 --entrypoint app\n",
        "  rvenv image --target debian-12-armv7 -r requirements.txt -o app.oci.tar\n",
        "  skopeo copy oci-archive:app.oci.tar docker://registry.local/app:1.2\n\n",
        "Exit status: 0 ok, 1 check failures, 2 usage, input, network or verification errors."
    ))]
    Image(Box<ImageArgs>),
    /// Print a shell completion script for rvenv
    #[command(after_help = concat!(
        "Examples:\n",
        "  rvenv completions bash > ~/.local/share/bash-completion/completions/rvenv\n",
        "  source <(rvenv completions bash)                          # this bash session only\n",
        "  rvenv completions zsh > ~/.zfunc/_rvenv                   # with fpath+=~/.zfunc\n",
        "  rvenv completions fish > ~/.config/fish/completions/rvenv.fish\n\n",
        "Exit status: 0 ok, 2 usage errors."
    ))]
    Completions(CompletionsArgs),
    /// Print rvenv's manual page (roff) on standard output
    #[command(after_help = concat!(
        "Examples:\n",
        "  rvenv man | man -l -\n",
        "  rvenv man inspect | man -l -\n",
        "  rvenv man > /usr/local/share/man/man1/rvenv.1\n\n",
        "Exit status: 0 ok, 2 usage errors (no such command)."
    ))]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A venv, an extracted bundle (its top-level directory) or a bundle tarball [default:
    /// $VIRTUAL_ENV, then ./.venv]
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print the report as JSON (a stable document; see docs/inspect-json.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FreezeArgs {
    /// A venv, an extracted bundle (its top-level directory) or a bundle tarball [default:
    /// $VIRTUAL_ENV, then ./.venv]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand's page (rvenv-COMMAND(1)) instead of rvenv(1)
    pub command: Option<String>,
}

/// Which target to check against.
#[derive(Debug, Args, Clone, Default)]
pub struct TargetArgs {
    /// Target name or alias (see `rvenv targets`) [default: detected from the interpreter]
    #[arg(short, long, conflicts_with = "target_file")]
    pub target: Option<String>,
    /// A target described in a TOML file of your own (the keys of targets/*.toml; `extends`
    /// works)
    #[arg(long, value_name = "PATH")]
    pub target_file: Option<PathBuf>,
    /// The highest glibc of the target, overriding the target's own (for example 2.31)
    #[arg(long, value_name = "X.Y")]
    pub glibc: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A venv, an extracted bundle or a bundle tarball [default: $VIRTUAL_ENV, then ./.venv]
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print the report as JSON (a stable document for CI; see docs/check-json.md)
    #[arg(long)]
    pub json: bool,
    /// Accept the problems of one KIND (as --json names them: arm-arch, glibc, ...) in the
    /// files GLOB matches (.gitignore rules against the path inside the bundle), as warnings;
    /// repeatable. For a library that checks the CPU at run time before using what its ELF
    /// attributes record: --allow '**/cryptography/**:arm-arch'
    #[arg(long, value_name = "GLOB:KIND")]
    pub allow: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Write the target file here [default: standard output]
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Probe the root filesystem mounted at DIR instead of this machine's
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// An extracted bundle (its top-level directory, holding rvenv.json) or a bundle tarball
    pub path: PathBuf,
    /// Count bytecode files Python wrote under __pycache__ since the bundle was made as extra
    /// files (they are reported but not counted by default)
    #[arg(long)]
    pub strict: bool,
    /// Print the result as JSON (a stable document; see docs/verify-json.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TargetsArgs {
    /// Print the full catalogue as JSON
    #[arg(long)]
    pub json: bool,
}

/// Where a distribution preset's CPython comes from (`rvenv python fetch`, and `rvenv bundle -r`
/// without --python).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "The target's CPython, from its distribution's archive")]
pub struct ArchiveArgs {
    /// The CPython X.Y to take from the release [default: the release's python3]
    #[arg(long, value_name = "X.Y")]
    pub python_version: Option<String>,
    /// The archive's URL (http://, https:// or file://) [default: $RVENV_<DISTRIBUTION>_MIRROR,
    /// then the mirror this machine's apt sources use for it (Debian presets), then the
    /// distribution's public archive]
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
    /// The OpenPGP keyring that signs the archive's InRelease [default: the distribution's
    /// keyring file, /usr/share/keyrings/debian-archive-keyring.gpg for Debian]
    #[arg(long, value_name = "FILE")]
    pub keyring: Option<PathBuf>,
    /// The folder downloads and unpacked interpreters are kept in (one made by `rvenv python
    /// fetch -o DIR` works offline) [default: $RVENV_PYTHON_CACHE, then
    /// $XDG_CACHE_HOME/rvenv/python]
    #[arg(long, value_name = "DIR")]
    pub python_cache: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PythonArgs {
    #[command(subcommand)]
    pub command: PythonCommand,
}

#[derive(Debug, Subcommand)]
pub enum PythonCommand {
    /// Fetch a distribution preset's own CPython from its archive (verified as apt verifies
    /// it) into the cache, and print the interpreter's path
    #[command(after_help = concat!(
        "Examples:\n",
        "  rvenv python fetch --target debian-12-armv7\n",
        "  rvenv python fetch --target rpios-bookworm-aarch64 -o pythons/   # carry pythons/ offline\n",
        "  rvenv bundle --target rpios-bookworm-aarch64 -r requirements.txt --python-cache pythons/\n\n",
        "Exit status: 0 ok, 2 usage, network or verification errors, 130 interrupted."
    ))]
    Fetch(PythonFetchArgs),
    /// List the distribution presets, the CPython versions each release provides, and which
    /// are in the cache
    #[command(after_help = concat!(
        "Examples:\n",
        "  rvenv python list\n",
        "  rvenv python list --target debian-12-armv7\n\n",
        "Exit status: 0 ok, 2 usage errors."
    ))]
    List(PythonListArgs),
}

#[derive(Debug, Args)]
pub struct PythonFetchArgs {
    /// A distribution preset (see `rvenv python list`)
    #[arg(short, long)]
    pub target: String,
    /// Keep the downloads and the interpreter in DIR (a cache folder to carry to an offline
    /// machine, used there with --python-cache DIR) instead of the cache
    #[arg(short, long, value_name = "DIR", conflicts_with = "python_cache")]
    pub output: Option<PathBuf>,
    /// Read the archive again even if the interpreter is in the cache
    #[arg(long)]
    pub refresh: bool,
    /// Print only the interpreter's path, warnings and errors
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub archive: ArchiveArgs,
}

#[derive(Debug, Args)]
pub struct PythonListArgs {
    /// Only this preset
    #[arg(short, long)]
    pub target: Option<String>,
    /// The cache folder to look in [default: $RVENV_PYTHON_CACHE, then
    /// $XDG_CACHE_HOME/rvenv/python]
    #[arg(long, value_name = "DIR")]
    pub python_cache: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The virtual environment [default: $VIRTUAL_ENV, then ./.venv]
    pub venv: Option<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Write the bundle even when binaries will not run on the target (the problems are then
    /// warnings)
    #[arg(long)]
    pub no_check: bool,
    /// Accept the problems of one KIND (as `check --json` names them: arm-arch, glibc, ...) in
    /// the files GLOB matches (.gitignore rules against the path inside the bundle), as
    /// warnings; repeatable. Narrower than --no-check: for a library that checks the CPU at
    /// run time before using what its ELF attributes record ('**/cryptography/**:arm-arch')
    #[arg(long, value_name = "GLOB:KIND")]
    pub allow: Vec<String>,
    /// Output file [default: <name>-<target>.tar.gz (or .tar.zst, .tar) in the current
    /// directory; <name> is the venv directory's, or the project's for a hidden one (.venv)]
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Name of the tarball's single top-level directory [default: <name>, as for --output]
    #[arg(long, value_name = "NAME")]
    pub arcroot: Option<String>,
    /// Bundle editable installs anyway (their code stays on this machine: they will not import)
    #[arg(long)]
    pub allow_editable: bool,
    /// Print only warnings and errors (and no progress bar)
    #[arg(short, long)]
    pub quiet: bool,
    /// Also print what is rewritten and how long each stage took
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Archive format [default: from the output's name (.tar.gz, .tgz, .tar.zst, .tzst,
    /// .tar.xz, .txz, .tar), else tar.gz]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<crate::compress::Format>,
    /// Compression level: gzip 1-9 (default 6), zstd 1-19 (default 3), xz 0-9 (default 6)
    #[arg(long, value_name = "N")]
    pub level: Option<u32>,
    /// Compression threads [default: all cores]; the output is the same for any number
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// The target's interpreter inside its installation tree (python-build-standalone, a Debian
    /// sysroot's usr/bin/python3.X, a board's mounted root); it is never run. For -r, and for a
    /// venv made for another CPU (retargeted to it). Without it, a distribution preset's own
    /// CPython comes from its archive (see `rvenv python fetch`)
    #[arg(long, value_name = "PYTHON", help_heading = "For the target")]
    pub python: Option<PathBuf>,
    /// Frozen requirements (pip freeze output: every package pinned with ==, --hash optional);
    /// markers are evaluated for the target. Assembles a venv for the target from wheels, with
    /// --python's interpreter or the preset's CPython from its distribution's archive
    #[arg(
        short = 'r',
        long,
        value_name = "FILE",
        conflicts_with = "venv",
        help_heading = "For the target"
    )]
    pub requirements: Option<PathBuf>,
    #[command(flatten)]
    pub archive: ArchiveArgs,
    #[command(flatten)]
    pub wheels: WheelArgs,
    /// Do not refuse a set whose packages' Requires-Dist the pins do not satisfy
    #[arg(long, requires = "requirements", help_heading = "For the target")]
    pub no_deps_check: bool,
    #[command(flatten)]
    pub size: SizeArgs,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The virtual environment [default: $VIRTUAL_ENV, then ./.venv]; one for another CPU is
    /// re-created for the target, as `rvenv bundle` does
    pub venv: Option<PathBuf>,
    /// A distribution preset (see `rvenv python list`); repeat it for one multi-platform image
    /// (a fleet of 32-bit and 64-bit boards pulls one tag)
    #[arg(short, long, required = true, value_name = "TARGET")]
    pub target: Vec<String>,
    /// The image file (or folder, for --format oci-layout)
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,
    /// The image's name and tag [default: <venv or project folder>:latest]
    #[arg(long, value_name = "NAME:TAG")]
    pub tag: Option<String>,
    /// The console script of the bundle's bin/ the image runs [default: bin/python3]
    #[arg(long, value_name = "NAME")]
    pub entrypoint: Option<String>,
    /// oci-archive, oci-layout or docker-archive
    #[arg(long, value_enum, default_value = "oci-archive")]
    pub format: crate::image::Format,
    /// Add Debian's busybox-static: a shell and tools in the image
    #[arg(long)]
    pub with_busybox: bool,
    /// Print only warnings and errors
    #[arg(short, long)]
    pub quiet: bool,
    /// The target's interpreter inside its installation tree (it is never run)
    #[arg(long, value_name = "PYTHON", help_heading = "For the target")]
    pub python: Option<PathBuf>,
    /// Frozen requirements: a venv is assembled for the target from them
    #[arg(
        short = 'r',
        long,
        value_name = "FILE",
        conflicts_with = "venv",
        help_heading = "For the target"
    )]
    pub requirements: Option<PathBuf>,
    #[command(flatten)]
    pub archive: ArchiveArgs,
    #[command(flatten)]
    pub wheels: WheelArgs,
    #[command(flatten)]
    pub size: SizeArgs,
    /// Accept the problems of one KIND in the files GLOB matches, as warnings (repeatable; see
    /// rvenv bundle --help)
    #[arg(long, value_name = "GLOB:KIND")]
    pub allow: Vec<String>,
}

/// How small the bundle is made (`bundle` and `image`): `trim::Options`, as typed.
#[derive(Debug, Args, Clone, Default)]
pub struct SizeArgs {
    /// Keep the standard library's test/ package (left out by default: it is large and unused)
    #[arg(long, help_heading = "Making the bundle smaller")]
    pub keep_stdlib_tests: bool,
    /// Leave out what GLOB matches (repeatable). .gitignore rules, matched against the path
    /// inside the bundle without its top directory: a '/' at the start or in the middle anchors
    /// the pattern at the bundle's root ('lib/python3.11/site-packages/*/tests/'), a pattern
    /// without one matches that name in any directory ('*.pyi'), a trailing '/' matches only
    /// directories; '*' stays within one directory, '**' crosses them, a matched directory goes
    /// with everything in it, and '!GLOB' brings back what an earlier pattern left out (not
    /// inside a left-out directory). The interpreter, pyvenv.cfg, the standard library's startup
    /// modules (os.py, encodings/, ...) and rvenv.json cannot be left out
    #[arg(long, value_name = "GLOB", help_heading = "Making the bundle smaller")]
    pub exclude: Vec<String>,
    /// Keep what GLOB matches (repeatable, --exclude's rules) among what is left out by default:
    /// the static libpython and object files of the base's config-3.X-*/ folder, which only
    /// link programs that embed Python ('libpython*.a' keeps the archive), the bytecode only
    /// python -O/-OO reads ('*.opt-*.pyc' keeps it), the Windows launchers of pip and
    /// setuptools ('*.exe'), and the parts --slim leaves out ('idlelib/' keeps IDLE)
    #[arg(long, value_name = "GLOB", help_heading = "Making the bundle smaller")]
    pub keep: Vec<String>,
    /// Leave out packages' own test folders: directories named exactly 'tests' or 'test' inside
    /// a package (a directory with __init__.py) in site-packages, unless other modules of
    /// site-packages import them (numpy.testing imports numpy._core.tests). 'testing' and
    /// top-level 'tests' are kept; the standard library's test/ is left out anyway
    /// (--keep-stdlib-tests)
    #[arg(long, help_heading = "Making the bundle smaller")]
    pub strip_tests: bool,
    /// Leave out every __pycache__/*.pyc: a smaller bundle, a slower first start on the board
    /// (which then writes its own bytecode where it can)
    #[arg(
        long,
        conflicts_with = "compile",
        help_heading = "Making the bundle smaller"
    )]
    pub no_pycache: bool,
    /// Compile every .py under lib/ and python/lib/ into __pycache__ here, as unchecked-hash
    /// pycs (valid whatever the file times after extraction, so the board never writes any; an
    /// edited .py on the board is then not recompiled). Needs a CPython of the venv's X.Y on
    /// this machine: the venv's own interpreter when it is for this machine, else pyenv's,
    /// pythonX.Y on PATH, in /usr/local/bin or /usr/bin
    #[arg(long, help_heading = "Making the bundle smaller")]
    pub compile: bool,
    /// Remove the debug sections (.debug_*) of every ELF file of the interpreter's architecture,
    /// packages' too, in copies, as strip --strip-debug would but without any tool: only the
    /// part of each file nothing loads is rewritten, the symbol tables stay, and a copy is used
    /// only if every byte the loader maps is unchanged
    #[arg(
        long,
        conflicts_with = "keep_debug",
        help_heading = "Making the bundle smaller"
    )]
    pub strip_debug: bool,
    /// Keep the base interpreter's debug sections. By default they are left out (pyenv's
    /// CPython 3.11 carries 24 MiB of them, naming the folders it was built in); the bytes the
    /// loader maps stay the same either way. With --slim, nothing is stripped
    #[arg(long, help_heading = "Making the bundle smaller")]
    pub keep_debug: bool,
    /// For small boards: --strip-tests and --strip-debug, and leave out ensurepip, idlelib, Tk
    /// (tkinter, turtle, _tkinter), lib2to3, and pip, setuptools and wheel with their scripts,
    /// each unless a module of site-packages or bin/ imports it, another package requires it,
    /// or --keep names a file of it. One line each says what went, with its size, or why it
    /// stayed
    #[arg(long, help_heading = "Making the bundle smaller")]
    pub slim: bool,
}

/// Where wheels and sdists for the target come from, and how what has no wheel is built
/// (`bundle` and `image`).
#[derive(Debug, Args, Clone, Default)]
pub struct WheelArgs {
    /// A folder of wheels (and sdists) to take them from first (repeatable)
    #[arg(
        short = 'f',
        long = "find-links",
        value_name = "DIR",
        help_heading = "For the target"
    )]
    pub find_links: Vec<PathBuf>,
    /// Use only the --find-links folders; never run pip to fetch missing wheels or sdists
    #[arg(long, help_heading = "For the target")]
    pub no_index: bool,
    /// The index pip fetches missing wheels and sdists from [default: pip's own configuration]
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "no_index",
        help_heading = "For the target"
    )]
    pub index_url: Option<String>,
    /// Wheels only: refuse a distribution with no wheel for the target instead of building its
    /// sdist with the target's cross compiler
    #[arg(long, help_heading = "For the target")]
    pub no_build: bool,
    /// The CPython of the target's X.Y that runs the sdist builds here [default: pyenv's, uv's,
    /// pythonX.Y on PATH]
    #[arg(
        long,
        value_name = "PYTHON",
        conflicts_with = "no_build",
        help_heading = "For the target"
    )]
    pub build_python: Option<PathBuf>,
    /// A -dev package of the target's release that an sdist compiles and links against
    /// (repeatable: libffi-dev, libssl-dev, libyaml-dev); fetched from the archive, verified,
    /// into the build's sysroot
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "no_build",
        help_heading = "For the target"
    )]
    pub sysroot_package: Vec<String>,
}
