//! The one error a command ends with: its message, the hint that goes with it, and whether it
//! was an interruption (exit 130) or bad input (exit 2). Each stage keeps its own error enum;
//! converting one into this type (`?` in `app/`) asks it for its hint through [`Hint`], so the
//! hint travels with the error instead of being looked up by downcasting.

use std::borrow::Cow;

/// What a stage's error tells the user beyond its message.
pub trait Hint: std::fmt::Display {
    /// The one `hint:` line printed under the `error:` line.
    fn hint(&self) -> Option<&str> {
        None
    }
    /// Whether the error is a Ctrl-C or SIGTERM ([`crate::interrupt::Interrupted`]).
    fn interrupted(&self) -> bool {
        false
    }
}

#[derive(Debug)]
pub struct Error {
    message: String,
    hint: Option<Cow<'static, str>>,
    interrupted: bool,
}

impl<E: Hint> From<E> for Error {
    fn from(e: E) -> Error {
        Error {
            message: e.to_string(),
            hint: e.hint().map(|h| Cow::Owned(h.to_string())),
            interrupted: e.interrupted(),
        }
    }
}

impl Error {
    /// An error with no hint.
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            hint: None,
            interrupted: false,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<Cow<'static, str>>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    pub fn is_interrupted(&self) -> bool {
        self.interrupted
    }

    /// An interruption while a bundle is planned or written names the output it leaves out.
    pub fn naming_output(mut self, output: &std::path::Path) -> Error {
        if self.interrupted {
            self.message = format!("{}: interrupted; nothing was written", output.display());
        }
        self
    }

    /// 130 for an interruption, 2 for everything else (usage and input errors).
    pub fn exit_code(&self) -> u8 {
        if self.interrupted { 130 } else { 2 }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Hint for crate::interrupt::Interrupted {
    fn interrupted(&self) -> bool {
        true
    }
}

impl Hint for std::io::Error {}
impl Hint for serde_json::Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A file-system error with the path it happened on, worded as every rvenv message is:
/// `PATH: cause` (fs-err's errors word it "failed to open file `PATH`" and keep the cause out
/// of their message, which would change every message the tests and users rely on).
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct PathError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// For `map_err`: the I/O error of an operation on `path`.
pub fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> PathError + '_ {
    move |source| PathError {
        path: path.to_path_buf(),
        source,
    }
}
