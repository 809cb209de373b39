//! A client for a Debian-style package archive (Debian, Raspbian, Ubuntu): the chain apt
//! verifies — the suite's signed `InRelease`, the `Packages` index whose SHA256 it lists, each
//! `.deb` whose SHA256 the index lists — read without apt state, dpkg or root.

pub mod control;
pub mod deb;
pub mod packages;
pub mod release;
pub mod sources;
pub mod transport;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url}: cannot be downloaded: {message}")]
    Download { url: String, message: String },
    #[error("{url}: the download ended after {got} of {expected} bytes")]
    Truncated {
        url: String,
        got: u64,
        expected: u64,
    },
    #[error("{0}: no such keyring file")]
    NoKeyring(PathBuf),
    #[error("{path}: not an OpenPGP keyring: {message}")]
    BadKeyring { path: PathBuf, message: String },
    #[error("{url}: not a clear-signed Release file: {message}")]
    NotSigned { url: String, message: String },
    #[error("{url}: no signature verifies against a key of {keyring}{}", if .issuers.is_empty() { String::new() } else { format!(" (signed by {})", .issuers.join(", ")) })]
    BadSignature {
        url: String,
        keyring: PathBuf,
        issuers: Vec<String>,
    },
    #[error("{url}: signed by key {key} of {keyring}, which {what}")]
    KeyNotValid {
        url: String,
        keyring: PathBuf,
        key: String,
        what: String,
    },
    #[error("{url}: signed with {hash}, a hash apt no longer accepts")]
    WeakHash { url: String, hash: String },
    #[error("{url}: the Release of suite {found}, not of {expected}")]
    WrongSuite {
        url: String,
        expected: String,
        found: String,
    },
    #[error(
        "{url}: dated {date}, older than the {cached} the cached interpreter came from (a replayed index)"
    )]
    Rollback {
        url: String,
        date: String,
        cached: String,
    },
    #[error("{url}: the signature expired on {when}")]
    SignatureExpired { url: String, when: String },
    #[error("{url}: Valid-Until {until} has passed: the mirror serves a stale or replayed index")]
    Stale { url: String, until: String },
    #[error("{url}: lists no SHA256 for {index}")]
    NotInRelease { url: String, index: String },
    #[error("{url}: its SHA256 is {actual}, but {listed_by} lists {expected}")]
    HashMismatch {
        url: String,
        listed_by: String,
        expected: String,
        actual: String,
    },
    #[error("{url}: {size} bytes, but {listed_by} lists {expected}")]
    SizeMismatch {
        url: String,
        listed_by: String,
        size: u64,
        expected: u64,
    },
    #[error("{url}: {message}")]
    BadIndex { url: String, message: String },
    #[error("{file}: not a Debian package: {message}")]
    BadDeb { file: String, message: String },
    #[error("{file}: its data cannot be unpacked into {dest}: {message}")]
    Unpack {
        file: String,
        dest: PathBuf,
        message: String,
    },
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
}

impl crate::error::Hint for Error {
    fn interrupted(&self) -> bool {
        matches!(self, Error::Interrupted(_))
    }

    fn hint(&self) -> Option<&str> {
        Some(match self {
            Error::Download { .. } | Error::Truncated { .. } => {
                "check the network and the mirror (--mirror URL), or work offline from a folder made by `rvenv python fetch -o DIR` (--python-cache DIR)"
            }
            Error::NoKeyring(_) | Error::BadKeyring { .. } => {
                "install the distribution's archive keyring (Debian: apt install debian-archive-keyring), or name its file with --keyring FILE"
            }
            Error::NotSigned { .. }
            | Error::BadSignature { .. }
            | Error::KeyNotValid { .. }
            | Error::SignatureExpired { .. }
            | Error::WeakHash { .. } => {
                "the archive is not the one this keyring vouches for: check --mirror, or name the distribution's keyring with --keyring FILE"
            }
            Error::WrongSuite { .. } => {
                "the mirror serves another suite under this name: check --mirror"
            }
            Error::Stale { .. } | Error::Rollback { .. } => {
                "the mirror is out of date or replaying an old index: use another --mirror"
            }
            Error::HashMismatch { .. }
            | Error::SizeMismatch { .. }
            | Error::NotInRelease { .. }
            | Error::BadIndex { .. }
            | Error::BadDeb { .. } => {
                "the mirror served a file the signed index does not vouch for (tampered or mid-sync); try again later or use another --mirror"
            }
            Error::Unpack { .. } => "check that the cache folder is writable (--python-cache DIR)",
            Error::Interrupted(_) => return None,
        })
    }
}
