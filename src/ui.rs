//! What the user sees on stderr and stdout: `error:`/`warning:`/`hint:` lines, sizes as people
//! write them, the progress bar, and output that a closed pipe does not turn into an error.

/// Names for a one-line message: all of them up to four, else the first three and how many
/// more (`a, b, c, 11 more`).
pub fn few(names: &[String]) -> String {
    if names.len() <= 4 {
        return names.join(", ");
    }
    format!("{}, {} more", names[..3].join(", "), names.len() - 3)
}

/// A size as people write it: `1023 B`, `1.5 KiB`, `38.2 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Diagnostics go to stderr: `error:`, `warning:` and `hint:` lines. The prefix is coloured
/// only when stderr is a terminal that supports colour; never with `NO_COLOR` set (non-empty)
/// or `TERM=dumb` (anstream decides, and strips the escapes everywhere else).
fn prefix(label: &str, color: anstyle::AnsiColor) -> String {
    let style = anstyle::Style::new().bold().fg_color(Some(color.into()));
    format!("{style}{label}:{style:#}")
}

pub fn warning(message: &str) {
    anstream::eprintln!(
        "{} {message}",
        prefix("warning", anstyle::AnsiColor::Yellow)
    );
}

pub fn error(message: &str, hint: Option<&str>) {
    anstream::eprintln!("{} {message}", prefix("error", anstyle::AnsiColor::Red));
    if let Some(h) = hint {
        self::hint(h);
    }
}

pub fn hint(message: &str) {
    anstream::eprintln!("{} {message}", prefix("hint", anstyle::AnsiColor::Cyan));
}

pub fn info(quiet: bool, message: &str) {
    if !quiet {
        eprintln!("{message}");
    }
}

/// A progress bar on stderr (files and bytes, rate, time left) for long work; drawn only when
/// stderr is a terminal, so pipes and CI logs never see it.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    files: std::sync::atomic::AtomicU64,
    total_files: u64,
}

impl Progress {
    /// `totals` gives the files and their bytes (asked only when the bar is drawn); `verb`
    /// says what is done to them ("bundling").
    pub fn new(quiet: bool, verb: &'static str, totals: impl FnOnce() -> (u64, u64)) -> Progress {
        use std::io::IsTerminal;
        let show = !quiet && std::io::stderr().is_terminal();
        let (total_files, total_bytes) = if show { totals() } else { (0, 0) };
        let bar = show.then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total_bytes),
                indicatif::ProgressDrawTarget::stderr_with_hz(10),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} {msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta} left",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(verb);
            // An error ends the run with the bar cleared, not frozen above the message.
            let bar = bar.with_finish(indicatif::ProgressFinish::AndClear);
            bar.set_message(format!("0/{total_files} files"));
            bar
        });
        Progress {
            bar,
            files: Default::default(),
            total_files,
        }
    }

    /// One more file of `bytes` done.
    pub fn file_done(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            let n = self
                .files
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            bar.set_message(format!("{n}/{} files", self.total_files));
            bar.inc(bytes);
        }
    }

    /// Removes the bar before the summary lines.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Writes `text` to standard output; a reader that stops early (`| head`) is not an error.
pub fn print_out(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

/// One download: a byte bar on a terminal, else one line when it is done; nothing with `-q`.
pub struct Transfer {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
    label: String,
}

impl Transfer {
    pub fn new(quiet: bool, label: &str, total: Option<u64>) -> Transfer {
        use std::io::IsTerminal;
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                total,
                indicatif::ProgressDrawTarget::stderr_with_hz(10),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "fetching {msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_message(label.to_string());
            bar.with_finish(indicatif::ProgressFinish::AndClear)
        });
        Transfer {
            bar,
            quiet,
            label: label.to_string(),
        }
    }

    pub fn inc(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// Clears the bar and says what was fetched.
    pub fn done(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        info(
            self.quiet,
            &format!("fetched {} ({})", self.label, human(bytes)),
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn few_names_up_to_four_then_how_many_more() {
        let names = |n: usize| (1..=n).map(|i| format!("n{i}")).collect::<Vec<_>>();
        assert_eq!(super::few(&names(4)), "n1, n2, n3, n4");
        assert_eq!(super::few(&names(14)), "n1, n2, n3, 11 more");
        assert_eq!(super::few(&[]), "");
    }
}
