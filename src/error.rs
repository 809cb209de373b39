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
impl Hint for PathError {}
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A stage's error as stages write them.
    #[derive(Debug, thiserror::Error)]
    enum StageError {
        #[error("--exclude '[': unclosed character class")]
        BadPattern,
        #[error(transparent)]
        Interrupted(#[from] crate::interrupt::Interrupted),
    }

    impl Hint for StageError {
        fn hint(&self) -> Option<&str> {
            matches!(self, StageError::BadPattern).then_some("patterns follow .gitignore rules")
        }
        fn interrupted(&self) -> bool {
            matches!(self, StageError::Interrupted(_))
        }
    }

    fn stage(fail: StageError) -> Result<()> {
        Err(fail)?
    }

    #[test]
    fn a_stage_error_brings_its_hint_and_exit_code() {
        let e = stage(StageError::BadPattern).unwrap_err();
        assert_eq!(e.message(), "--exclude '[': unclosed character class");
        assert_eq!(e.hint(), Some("patterns follow .gitignore rules"));
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn an_interruption_exits_130_and_names_the_output() {
        let e = stage(crate::interrupt::Interrupted.into()).unwrap_err();
        assert_eq!(e.exit_code(), 130);
        let e = e.naming_output(std::path::Path::new("app.tar.gz"));
        assert_eq!(e.message(), "app.tar.gz: interrupted; nothing was written");
        let e: Error = crate::interrupt::Interrupted.into();
        assert_eq!(e.exit_code(), 130);
        // Anything else keeps its message.
        let e = Error::new("x").naming_output(std::path::Path::new("app.tar.gz"));
        assert_eq!((e.message(), e.exit_code()), ("x", 2));
    }

    #[test]
    fn io_errors_read_path_colon_cause() {
        let e = io(std::path::Path::new("/nowhere"))(std::io::Error::from(
            std::io::ErrorKind::NotFound,
        ));
        assert_eq!(e.to_string(), "/nowhere: entity not found");
    }
}
