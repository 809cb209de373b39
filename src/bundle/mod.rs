//! Making a bundle, stage by stage: `assemble` (a venv from an interpreter and pinned wheels,
//! when there is no venv), `plan` (the sorted entries and their rewrites), `trim` (what is left
//! out or shrunk; `slim` holds `--slim`'s data and import scan), `archive` (read, check and write every file in one pass, atomically) and
//! `manifest` (`rvenv.json`). Each stage takes its own options type.

pub mod archive;
pub mod assemble;
pub mod manifest;
pub mod plan;
pub mod slim;
pub mod trim;
