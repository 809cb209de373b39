//! Python environments read without running Python (the interpreter may be for another CPU):
//! a venv and its base installation, installed distributions, requirements files, and the
//! pure rewrites that make scripts and configuration relocatable.

pub mod dist;
pub mod distro;
pub mod host;
pub mod requirements;
pub mod rewrite;
pub mod venv;
