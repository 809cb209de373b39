//! Ctrl-C and SIGTERM: the handler only sets a flag; the stage that notices it returns
//! [`Interrupted`] and whatever it was writing is dropped, so partial output is never left
//! behind.

use std::sync::atomic::{AtomicBool, Ordering};

/// The one "stopped by a signal" error every stage returns (exit code 130).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("interrupted; nothing was written")]
pub struct Interrupted;

/// The process's flag, set by the first Ctrl-C or SIGTERM; the handler is installed on the
/// first call.
pub fn flag() -> &'static AtomicBool {
    static FLAG: AtomicBool = AtomicBool::new(false);
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // Failing to install leaves the default behaviour (the process dies, the temporary file
        // may remain): worth a warning, not a refusal.
        if let Err(e) = ctrlc::set_handler(|| FLAG.store(true, Ordering::SeqCst)) {
            crate::ui::warning(&format!("cannot catch Ctrl-C: {e}"));
        }
    });
    &FLAG
}
