//! rvenv: a Python virtual environment becomes a relocatable, self-contained tarball.
//!
//! Layers, each importing only from those above it in this list (docs/architecture.md):
//! - leaves: `paths`, `ui`, `interrupt`, `error`;
//! - domain: `target` (the catalogue), `elf` (parsing and the load check), `python` (venvs,
//!   installed distributions, requirements, rewrites), `wheel`, `compress` (the codecs);
//! - pipeline: `read` (the one checked tar reader, contents, verify), `cross` (sdists built
//!   for the target), `bundle` (plan, trim,
//!   archive writer, manifest, assemble), `inspect` (inspect and probe), `image` (OCI images);
//! - `app`: one file per subcommand; `main.rs` calls `app::main`.

pub mod error;
pub mod interrupt;
pub mod paths;
pub mod ui;

pub mod compress;
pub mod debian;
pub mod elf;
pub mod python;
pub mod target;
pub mod wheel;

pub mod bundle;
pub mod cross;
pub mod image;
pub mod inspect;
pub mod read;

pub mod app;

#[doc(hidden)]
pub mod fuzzing;
