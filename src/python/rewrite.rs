//! Pure byte-in/byte-out rewrites: shebangs, `pyvenv.cfg`, activate scripts, pyc headers,
//! RUNPATH strings and `RECORD` rows. Nothing here touches the file system.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("shebang argument '{0}' has characters that cannot be passed on safely")]
    UnsafeShebangArgument(String),
    #[error("no 'VIRTUAL_ENV' assignment found")]
    NoVirtualEnvAssignment,
    /// A creator's script that computes or tests its location itself (uv's relocatable one,
    /// virtualenv 21's): a token rewrite would leave it half-changed.
    #[error("not the plain form (VIRTUAL_ENV assigned the venv's path once)")]
    NotPlainActivate,
    #[error("new RUNPATH '{new}' is longer than the old one ({old_len} bytes)")]
    RunpathTooLong { new: String, old_len: usize },
    #[error("RECORD is not valid CSV: {0}")]
    BadRecord(String),
}

impl crate::error::Hint for Error {}

/// How a Python script was launched, as found in its first lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    /// Basename of the Python named by the script (`python3`, `python3.11`...).
    pub python: String,
    /// Interpreter options (`-E`, `-s`), one per element.
    pub args: Vec<String>,
    /// A PEP 263 encoding declaration from line 2, kept on line 2 of the rewritten script.
    pub coding: Option<String>,
    /// Offset where the script's own code starts (after the launcher lines).
    pub body_start: usize,
}

/// `python`, `python3`, `python3.11`, `python3.13t`, `pythonw`: the names CPython installs.
pub fn is_python_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("python") else {
        return false;
    };
    let rest = rest.trim_end_matches(['d', 'm', 't', 'w']);
    rest.chars().all(|c| c.is_ascii_digit() || c == '.')
}

fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// Splits `text` into lines, keeping each line's end offset (after its `\n`, if any).
fn line_at(text: &[u8], start: usize) -> Option<(&[u8], usize)> {
    if start >= text.len() {
        return None;
    }
    let rest = &text[start..];
    let (line, next) = match memchr::memchr(b'\n', rest) {
        Some(i) => (&rest[..i], start + i + 1),
        None => (rest, text.len()),
    };
    Some((line.strip_suffix(b"\r").unwrap_or(line), next))
}

/// A PEP 263 encoding declaration: it only counts on line 1 or 2, so the rewritten header keeps
/// it on its own line 2 (a comment for both the shell and Python). Trailing white space is
/// dropped: a second `\r` before the newline would otherwise stay, and come off only when the
/// rewritten script is read again (found by fuzzing).
fn coding_declaration(line: &[u8]) -> Option<&str> {
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let comment = line
        .trim_start_matches([' ', '\t', '\x0c'])
        .strip_prefix('#')?;
    let at = comment.find("coding")?;
    comment[at + 6..].starts_with([':', '=']).then_some(line)
}

/// Splits `env`'s arguments into the interpreter and its options (`-S` and `--split-string=`
/// carry several words in one).
fn env_command<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    for (i, word) in args.iter().enumerate() {
        if let Some(value) = word.strip_prefix("--split-string=") {
            out.extend(value.split_whitespace());
        } else if *word == "-S" || *word == "--split-string" {
            continue;
        } else if out.is_empty() && word.starts_with('-') {
            return Vec::new(); // another env option: not a form rvenv knows how to keep
        } else {
            out.extend(&args[i..]);
            break;
        }
    }
    out
}

/// Recognises every launcher form pip, distlib, uv and rvenv write; `None` for anything that is
/// not a Python script (other interpreters, binaries, plain text).
pub fn parse_launcher(script: &[u8]) -> Option<Launcher> {
    let (first, after_first) = line_at(script, 0)?;
    let first = std::str::from_utf8(first.strip_prefix(b"#!")?).ok()?;
    let words: Vec<&str> = first.split_whitespace().collect();
    let program = basename(words.first()?);
    let second = line_at(script, after_first);
    let coding = second.and_then(|(line, _)| coding_declaration(line));

    if program == "sh" {
        // The polyglot trampoline: #!/bin/sh, [a coding line], '''exec' PYTHON ARGS "$0" "$@", ' '''
        let (mut exec, mut after_exec) = second?;
        if coding.is_some() {
            (exec, after_exec) = line_at(script, after_exec)?;
        }
        let (last, body_start) = line_at(script, after_exec)?;
        if last.trim_ascii() != b"' '''" {
            return None;
        }
        let call = std::str::from_utf8(exec)
            .ok()?
            .strip_prefix("'''exec' ")?
            .trim_end()
            .strip_suffix("\"$0\" \"$@\"")?;
        // The interpreter is the first word naming a Python (after any shell code that finds
        // it); the words after it are its options.
        let tokens: Vec<&str> = call.split_whitespace().collect();
        let unquote = |t: &str| {
            let t = basename(t.trim_matches(['"', '\'']));
            t.trim_matches(['"', '\'']).to_string()
        };
        let at = tokens.iter().position(|t| is_python_name(&unquote(t)))?;
        return Some(Launcher {
            python: unquote(tokens[at]),
            args: tokens[at + 1..].iter().map(|a| a.to_string()).collect(),
            coding: coding.map(str::to_string),
            body_start,
        });
    }

    let command = if program == "env" {
        env_command(&words[1..])
    } else {
        words.clone()
    };
    let python = basename(command.first()?);
    is_python_name(python).then(|| Launcher {
        python: python.to_string(),
        args: command[1..].iter().map(|a| a.to_string()).collect(),
        coding: coding.map(str::to_string),
        body_start: after_first,
    })
}

/// How a `bin/` file is launched, as `rvenv inspect` counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ShebangForm {
    /// `#!/abs/venv/bin/python`: pip's usual form; names the build machine's path.
    Absolute,
    /// `#!/usr/bin/env python3`: whichever Python is first on PATH.
    Env,
    /// pip/distlib's `#!/bin/sh` + `'''exec' /abs/venv/bin/python "$0" "$@"` (long or spaced
    /// paths): names the build machine's path.
    ShExec,
    /// The same trampoline finding its Python from the script's own location (rvenv's, uv's).
    Relocatable,
    /// `#!python` and other relative names: an unprocessed wheel script.
    Relative,
    /// A shebang naming something other than Python (`#!/bin/bash`).
    OtherInterpreter,
    /// No shebang (activate scripts, data).
    NoShebang,
}

impl ShebangForm {
    pub const ALL: [ShebangForm; 7] = [
        ShebangForm::Absolute,
        ShebangForm::Env,
        ShebangForm::ShExec,
        ShebangForm::Relocatable,
        ShebangForm::Relative,
        ShebangForm::OtherInterpreter,
        ShebangForm::NoShebang,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ShebangForm::Absolute => "absolute",
            ShebangForm::Env => "env",
            ShebangForm::ShExec => "sh-exec",
            ShebangForm::Relocatable => "relocatable",
            ShebangForm::Relative => "relative",
            ShebangForm::OtherInterpreter => "other-interpreter",
            ShebangForm::NoShebang => "no-shebang",
        }
    }
}

/// Classifies a script from its first bytes (the first few lines are enough).
pub fn shebang_form(head: &[u8]) -> ShebangForm {
    let Some((first, after_first)) = line_at(head, 0) else {
        return ShebangForm::NoShebang;
    };
    let Some(first) = first.strip_prefix(b"#!") else {
        return ShebangForm::NoShebang;
    };
    if parse_launcher(head).is_none() {
        return ShebangForm::OtherInterpreter;
    }
    let first = String::from_utf8_lossy(first);
    let word = first.split_whitespace().next().unwrap_or("");
    match basename(word) {
        "sh" => {
            // The exec line follows, after an optional coding line.
            let mut at = after_first;
            let mut relocatable = false;
            while let Some((line, next)) = line_at(head, at) {
                if line.starts_with(b"'''exec'") {
                    relocatable = memchr::memmem::find(line, b"$(").is_some();
                    break;
                }
                at = next;
            }
            if relocatable {
                ShebangForm::Relocatable
            } else {
                ShebangForm::ShExec
            }
        }
        "env" => ShebangForm::Env,
        _ if word.starts_with('/') => ShebangForm::Absolute,
        _ => ShebangForm::Relative,
    }
}

/// Shell code that prints the directory holding the script's real file: follows `$0` through
/// symlinks with `readlink` (present in coreutils and BusyBox) and shell built-ins only;
/// `realpath --` is avoided because BusyBox's `realpath` rejects `--`. `CDPATH` is cleared so a
/// relative `$0` cannot be taken elsewhere, and a symlink loop ends after 40 steps.
const SCRIPT_DIR: &str = r#"f=$0; n=0; case $f in (*/*) ;; (*) f=./$f;; esac; while [ -h "$f" ] && [ $n -lt 40 ]; do n=$((n+1)); l=$(readlink "$f"); case $l in (/*) f=$l;; (*) f=${f%/*}/$l;; esac; done; CDPATH= cd -P -- "${f%/*}/" && pwd -P"#;

fn is_shell_safe(arg: &str) -> bool {
    !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.,:=+/@%".contains(&b))
}

/// Rewrites a Python script so it runs the Python next to its own real location: a `/bin/sh`
/// header that is also a Python string. `None` when the script is not a Python script.
/// `python` is the interpreter name to run from the script's directory.
pub fn relocatable_script(script: &[u8], python: &str) -> Result<Option<Vec<u8>>, Error> {
    let Some(launcher) = parse_launcher(script) else {
        return Ok(None);
    };
    let mut call = format!("\"$({SCRIPT_DIR})/{python}\"");
    for arg in &launcher.args {
        if !is_shell_safe(arg) {
            return Err(Error::UnsafeShebangArgument(arg.clone()));
        }
        call.push(' ');
        call.push_str(arg);
    }
    let coding = launcher.coding.map(|c| c + "\n").unwrap_or_default();
    let mut out = format!("#!/bin/sh\n{coding}'''exec' {call} \"$0\" \"$@\"\n' '''\n").into_bytes();
    out.extend_from_slice(&script[launcher.body_start..]);
    Ok(Some(out))
}

/// Keys of `pyvenv.cfg` that hold paths of the build machine.
const CFG_PATH_KEYS: &[&str] = &[
    "home",
    "executable",
    "command",
    "base-prefix",
    "base-exec-prefix",
    "base-executable",
];

/// The bundle's `pyvenv.cfg`: no `home` (CPython then finds its home through the `bin/python3`
/// symlink), no build paths, system site-packages off, `version` kept.
pub fn pyvenv_cfg(original: &str, version: &str) -> String {
    let mut out = String::new();
    let mut has_version = false;
    let mut has_system = false;
    for line in original.lines() {
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().to_ascii_lowercase());
        match key.as_deref() {
            Some(k) if CFG_PATH_KEYS.contains(&k) => continue,
            Some("include-system-site-packages") => {
                has_system = true;
                out.push_str("include-system-site-packages = false\n");
            }
            Some("version") => {
                has_version = true;
                out.push_str(line);
                out.push('\n');
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if !has_system {
        out.insert_str(0, "include-system-site-packages = false\n");
    }
    if !has_version {
        out.push_str(&format!("version = {version}\n"));
    }
    out
}

/// Length of the shell word at the start of `text`: unquoted characters and quoted parts
/// (`'...'`, `"..."`, as `shlex.quote` writes `'/a'"'"'b'`), up to a blank, `;` or `)`.
fn shell_word_len(text: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                chars.by_ref().find(|(_, d)| *d == c)?;
            }
            c if c.is_whitespace() || c == ';' || c == ')' => return Some(i),
            _ => {}
        }
    }
    Some(text.len())
}

/// Finds the word assigned after `marker` (for example `VIRTUAL_ENV=`): the word as written,
/// with its quotes, at the first occurrence that starts with a quote or `/`.
fn assigned_literal<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = text[from..].find(marker) {
        let start = from + i + marker.len();
        let rest = &text[start..];
        if rest.starts_with(['"', '\'', '/']) {
            return Some(&rest[..shell_word_len(rest)?]);
        }
        from = start;
    }
    None
}

/// Replaces every occurrence of `word` that stands as a whole shell word: preceded by the
/// start, a blank, `=` or `(`, and followed by the end, a blank, `;`, `)` or `"`.
fn replace_token(text: &str, word: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before = out.chars().last().or(rest[..i].chars().last());
        let before = if i > 0 {
            rest[..i].chars().last()
        } else {
            before
        };
        let after = &rest[i + word.len()..];
        let whole = before.is_none_or(|c| c.is_whitespace() || c == '=' || c == '(')
            && after
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == ';' || c == ')' || c == '"');
        out.push_str(&rest[..i]);
        out.push_str(if whole { with } else { word });
        rest = after;
    }
    out.push_str(rest);
    out
}

const SH_LOCATE: &str = r#"# rvenv: this environment can be moved; find it from this file's own location.
if [ -n "${BASH_VERSION:-}" ]; then
    eval '_rvenv_here=${BASH_SOURCE[0]}'
elif [ -n "${ZSH_VERSION:-}" ]; then
    eval '_rvenv_here=${(%):-%x}'
else
    _rvenv_here=
fi
case $_rvenv_here in
    (*/*) _rvenv_root=$(CDPATH= cd -- "${_rvenv_here%/*}/.." 2>/dev/null && pwd) ;;
    ('') _rvenv_root= ;;
    (*) _rvenv_root=$(CDPATH= cd -- .. 2>/dev/null && pwd) ;;
esac
unset _rvenv_here
if [ -z "$_rvenv_root" ]; then
    echo "activate: this shell cannot tell where this script is, so nothing was activated; source it from bash or zsh, or put the bundle's bin/ first on PATH" >&2
    unset _rvenv_root
    return 1 2>/dev/null || exit 1
fi
"#;

/// `bin/activate` (bash, zsh): `VIRTUAL_ENV` computed from the script's own location.
/// Only the plain form (CPython's venv, virtualenv 20, uv without `--relocatable`) is
/// rewritten: `VIRTUAL_ENV` assigned one of `venv_paths` as a literal, and no other mention of
/// them; any other script is `NotPlainActivate` and gets `own_activate_sh` instead.
pub fn activate_sh(script: &str, venv_paths: &[&str]) -> Result<String, Error> {
    let token = assigned_literal(script, "VIRTUAL_ENV=").ok_or(Error::NoVirtualEnvAssignment)?;
    plain(token, venv_paths)?;
    let body = replace_token(script, token, "\"$_rvenv_root\"");
    if mentions(&body, venv_paths) {
        return Err(Error::NotPlainActivate);
    }
    // After `deactivate nondestructive`, so a failed lookup still leaves no half-active state.
    let anchor = "deactivate nondestructive\n";
    let at = body.find(anchor).map(|i| i + anchor.len()).unwrap_or(0);
    let mut out = String::with_capacity(body.len() + SH_LOCATE.len() + 32);
    out.push_str(&body[..at]);
    out.push_str(SH_LOCATE);
    out.push_str(&body[at..]);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("unset _rvenv_root\n");
    Ok(out)
}

const FISH_LOCATE: &str = r#"# rvenv: this environment can be moved; find it from this file's own location.
set -l _rvenv_root (builtin realpath -- (status filename) 2>/dev/null | string replace -r '/[^/]+/[^/]+$' '')
if test -z "$_rvenv_root"
    echo "activate.fish: cannot tell where this script is, so nothing was activated; source it by its path" >&2
    return 1
end
"#;

/// `bin/activate.fish`: the same, with fish's `status filename`.
pub fn activate_fish(script: &str, venv_paths: &[&str]) -> Result<String, Error> {
    let token = assigned_literal(script, "VIRTUAL_ENV ").ok_or(Error::NoVirtualEnvAssignment)?;
    plain(token, venv_paths)?;
    if script.matches(token).count() != 1 || mentions(&script.replacen(token, "", 1), venv_paths) {
        return Err(Error::NotPlainActivate);
    }
    let line_start = script
        .find(&format!("VIRTUAL_ENV {token}"))
        .map(|i| script[..i].rfind('\n').map_or(0, |n| n + 1))
        .unwrap_or(0);
    let mut out = String::new();
    out.push_str(&script[..line_start]);
    out.push_str(FISH_LOCATE);
    out.push_str(&replace_token(
        &script[line_start..],
        token,
        "\"$_rvenv_root\"",
    ));
    Ok(out)
}

/// Whether one of `paths` still stands in `text` as a path of its own (`/null` is not in
/// `2>/dev/null`; `/v` is in `[ ! -d /v ]` and in `/v/bin`).
pub fn mentions(text: &str, paths: &[&str]) -> bool {
    paths.iter().any(|p| {
        text.match_indices(p).any(|(i, _)| {
            let before = text[..i].chars().last();
            let after = text[i + p.len()..].chars().next();
            before.is_none_or(|c| !(c.is_alphanumeric() || "/._-".contains(c)))
                && after.is_none_or(|c| !(c.is_alphanumeric() || "._-".contains(c)))
        })
    })
}

/// The assigned token, unquoted, must be one of the venv's paths.
fn plain(token: &str, venv_paths: &[&str]) -> Result<(), Error> {
    match shell_word(token) {
        Some(bare) if venv_paths.contains(&bare.as_str()) => Ok(()),
        _ => Err(Error::NotPlainActivate),
    }
}

/// The value of a shell word made of plain, single- and double-quoted parts (`shlex.quote`'s
/// `'/a'"'"'b'` included); `None` for anything that expands (`$`, backquotes).
fn shell_word(word: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    c => out.push(c),
                }
            },
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '$' | '`' => return None,
                    '\\' => out.push(chars.next()?),
                    c => out.push(c),
                }
            },
            '$' | '`' => return None,
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    Some(out)
}

/// A prompt as a single-quoted POSIX shell word.
fn single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// A prompt as a single-quoted fish word: there, `\\` and `\'` are escapes.
fn fish_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// rvenv's own `bin/activate` for bash and zsh, for a script it does not rewrite: CPython's
/// behaviour (PATH, PYTHONHOME, the prompt, `deactivate`), with the bundle found from the
/// script's own location.
pub fn own_activate_sh(prompt: &str) -> String {
    format!(
        r#"# This file must be used with "source bin/activate" from bash or zsh.
# rvenv wrote it for this bundle in place of its creator's script, which could not be made
# relocatable safely.
deactivate () {{
    if [ -n "${{_OLD_VIRTUAL_PATH:-}}" ]; then
        PATH="${{_OLD_VIRTUAL_PATH:-}}"
        export PATH
        unset _OLD_VIRTUAL_PATH
    fi
    if [ -n "${{_OLD_VIRTUAL_PYTHONHOME:-}}" ]; then
        PYTHONHOME="${{_OLD_VIRTUAL_PYTHONHOME:-}}"
        export PYTHONHOME
        unset _OLD_VIRTUAL_PYTHONHOME
    fi
    hash -r 2>/dev/null
    if [ -n "${{_OLD_VIRTUAL_PS1:-}}" ]; then
        PS1="${{_OLD_VIRTUAL_PS1:-}}"
        export PS1
        unset _OLD_VIRTUAL_PS1
    fi
    unset VIRTUAL_ENV
    unset VIRTUAL_ENV_PROMPT
    if [ ! "${{1:-}}" = "nondestructive" ]; then
        unset -f deactivate
    fi
}}

deactivate nondestructive
{SH_LOCATE}VIRTUAL_ENV="$_rvenv_root"
unset _rvenv_root
export VIRTUAL_ENV

_OLD_VIRTUAL_PATH="$PATH"
PATH="$VIRTUAL_ENV/bin:$PATH"
export PATH

VIRTUAL_ENV_PROMPT={prompt}
export VIRTUAL_ENV_PROMPT

if [ -n "${{PYTHONHOME:-}}" ]; then
    _OLD_VIRTUAL_PYTHONHOME="${{PYTHONHOME:-}}"
    unset PYTHONHOME
fi

if [ -z "${{VIRTUAL_ENV_DISABLE_PROMPT:-}}" ]; then
    _OLD_VIRTUAL_PS1="${{PS1:-}}"
    PS1="(${{VIRTUAL_ENV_PROMPT}}) ${{PS1:-}}"
    export PS1
fi

hash -r 2>/dev/null
"#,
        prompt = single_quoted(prompt)
    )
}

/// rvenv's own `bin/activate.fish`, as `own_activate_sh`.
pub fn own_activate_fish(prompt: &str) -> String {
    format!(
        r#"# This file must be used with "source bin/activate.fish" from fish.
# rvenv wrote it for this bundle in place of its creator's script, which could not be made
# relocatable safely.
function deactivate -d "Exit the virtual environment and return to the normal shell environment"
    if test -n "$_OLD_VIRTUAL_PATH"
        set -gx PATH $_OLD_VIRTUAL_PATH
        set -e _OLD_VIRTUAL_PATH
    end
    if test -n "$_OLD_VIRTUAL_PYTHONHOME"
        set -gx PYTHONHOME $_OLD_VIRTUAL_PYTHONHOME
        set -e _OLD_VIRTUAL_PYTHONHOME
    end
    if test -n "$_OLD_FISH_PROMPT_OVERRIDE"
        set -e _OLD_FISH_PROMPT_OVERRIDE
        if functions -q _old_fish_prompt
            functions -e fish_prompt
            functions -c _old_fish_prompt fish_prompt
            functions -e _old_fish_prompt
        end
    end
    set -e VIRTUAL_ENV
    set -e VIRTUAL_ENV_PROMPT
    if test "$argv[1]" != "nondestructive"
        functions -e deactivate
    end
end

deactivate nondestructive
{FISH_LOCATE}set -gx VIRTUAL_ENV "$_rvenv_root"
set -gx _OLD_VIRTUAL_PATH $PATH
set -gx PATH "$VIRTUAL_ENV/bin" $PATH
set -gx VIRTUAL_ENV_PROMPT {prompt}

if set -q PYTHONHOME
    set -gx _OLD_VIRTUAL_PYTHONHOME $PYTHONHOME
    set -e PYTHONHOME
end

if test -z "$VIRTUAL_ENV_DISABLE_PROMPT"
    functions -c fish_prompt _old_fish_prompt
    function fish_prompt
        set -l old_status $status
        printf "(%s) " $VIRTUAL_ENV_PROMPT
        echo "exit $old_status" | .
        _old_fish_prompt
    end
    set -gx _OLD_FISH_PROMPT_OVERRIDE "$VIRTUAL_ENV"
end
"#,
        prompt = fish_quoted(prompt)
    )
}

/// `bin/activate.csh`: csh and tcsh cannot tell a sourced file where it is (`$_` is empty in
/// scripts), so the bundle's csh script says so and changes nothing rather than guess.
pub fn activate_csh() -> String {
    concat!(
        "# rvenv: csh cannot tell a sourced script where it is, so this bundle cannot be\n",
        "# activated from csh without guessing. It changes nothing.\n",
        "echo \"activate.csh: csh cannot tell where this bundle is, so nothing was activated;\"\n",
        "echo \"use bin/activate (bash, zsh) or bin/activate.fish, or run: set path = (/path/to/bundle/bin \\$path)\"\n",
    )
    .to_string()
}

/// Header of a timestamp-based pyc (PEP 552): magic(4) flags(4) mtime(4) size(4).
/// Returns the header with its source mtime replaced, when the pyc is timestamp-based and valid
/// for its source by CPython's rule (recorded mtime and size match); otherwise `None`
/// (hash-based, or stale: CPython will recompile it, and so it stays).
pub fn pyc_header(
    pyc: &[u8],
    source_size: u64,
    source_mtime: u32,
    new_mtime: u32,
) -> Option<[u8; 16]> {
    let header: [u8; 16] = pyc.get(..16)?.try_into().ok()?;
    // The magic ends with \r\n for every CPython 3 release.
    if header[2..4] != *b"\r\n" {
        return None;
    }
    let flags = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let mtime = u32::from_le_bytes(header[8..12].try_into().ok()?);
    let size = u32::from_le_bytes(header[12..16].try_into().ok()?);
    if flags != 0 || mtime != source_mtime || size != (source_size & 0xFFFF_FFFF) as u32 {
        return None;
    }
    let mut out = header;
    out[8..12].copy_from_slice(&new_mtime.to_le_bytes());
    Some(out)
}

/// Replaces a NUL-terminated string in place (for a RUNPATH in `.dynstr`), padding with NUL.
/// The file's size and every other offset stay as they were.
pub fn replace_c_string(
    file: &[u8],
    offset: usize,
    old_len: usize,
    new: &str,
) -> Result<Vec<u8>, Error> {
    if new.len() > old_len {
        return Err(Error::RunpathTooLong {
            new: new.to_string(),
            old_len,
        });
    }
    let mut out = file.to_vec();
    let slot = &mut out[offset..offset + old_len];
    slot.fill(0);
    slot[..new.len()].copy_from_slice(new.as_bytes());
    Ok(out)
}

/// `sha256=<urlsafe base64, no padding>` as `RECORD` wants it.
pub fn record_hash(sha256: &[u8]) -> String {
    use base64::Engine;
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha256)
    )
}

/// Updates the hash and size of the `RECORD` rows for which `changed` (given the path as written
/// in RECORD) returns `(hash field, size)`; every other line is kept byte for byte. `None` when
/// no row changed.
pub fn record(
    original: &[u8],
    changed: impl Fn(&str) -> Option<(String, u64)>,
) -> Result<Option<Vec<u8>>, Error> {
    let mut any = false;
    let mut out = Vec::with_capacity(original.len());
    for line in original.split_inclusive(|b| *b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let ending = &line[body.len()..];
        // Only the path is needed. An unquoted one ends at the first comma, so the CSV parser
        // (whose setup costs more than the line: 4% of a bundle's CPU over numpy's and
        // pandas' thousands of rows) is built only for quoted paths, or a line with a BOM,
        // which it drops.
        let path: String = if body.first() == Some(&b'"') || body.starts_with(b"\xef\xbb\xbf") {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(body);
            match reader.records().next() {
                Some(row) => {
                    let row = row.map_err(|e| Error::BadRecord(e.to_string()))?;
                    row.get(0).unwrap_or_default().to_string()
                }
                None => String::new(),
            }
        } else {
            let field = body.split(|b| *b == b',').next().unwrap_or_default();
            std::str::from_utf8(field)
                .map_err(|e| Error::BadRecord(e.to_string()))?
                .to_string()
        };
        if body.is_empty() {
            out.extend_from_slice(line);
            continue;
        }
        match Some(path.as_str())
            .filter(|p| !p.is_empty())
            .and_then(&changed)
        {
            Some((hash, size)) => {
                any = true;
                let mut writer = csv::WriterBuilder::new()
                    .terminator(csv::Terminator::Any(b'\n'))
                    .from_writer(Vec::new());
                let size = size.to_string();
                writer
                    .write_record([path.as_str(), hash.as_str(), size.as_str()])
                    .map_err(|e| Error::BadRecord(e.to_string()))?;
                let mut written = writer
                    .into_inner()
                    .map_err(|e| Error::BadRecord(e.to_string()))?;
                written.pop(); // the writer's '\n'; the original ending follows
                out.extend_from_slice(&written);
                out.extend_from_slice(ending);
            }
            None => out.extend_from_slice(line),
        }
    }
    Ok(any.then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const BODY: &str =
        "# -*- coding: utf-8 -*-\nimport sys\nfrom app import main\nsys.exit(main())\n";

    fn launcher(script: &str) -> Option<Launcher> {
        parse_launcher(script.as_bytes())
    }

    #[test]
    fn python_names() {
        for ok in [
            "python",
            "python3",
            "python3.11",
            "python3.13t",
            "python3.8d",
            "pythonw",
        ] {
            assert!(is_python_name(ok), "{ok}");
        }
        for no in [
            "pypy3",
            "bash",
            "python-config",
            "python3.11-config",
            "pythonista",
        ] {
            assert!(!is_python_name(no), "{no}");
        }
    }

    #[test]
    fn absolute_shebang() {
        let s = format!("#!/home/u/venv/bin/python3\n{BODY}");
        let l = launcher(&s).unwrap();
        assert_eq!(l.python, "python3");
        assert!(l.args.is_empty());
        assert_eq!(&s[l.body_start..], BODY);
    }

    #[test]
    fn shebang_with_arguments() {
        let l = launcher("#!/opt/v/bin/python3.11 -E -s\nx").unwrap();
        assert_eq!(
            (l.python.as_str(), l.args.clone()),
            ("python3.11", vec!["-E".into(), "-s".into()])
        );
        let l = launcher("#! /opt/v/bin/python -u\nx").unwrap();
        assert_eq!(l.args, vec!["-u".to_string()]);
    }

    #[test]
    fn env_shebangs() {
        assert_eq!(
            launcher("#!/usr/bin/env python3\nx").unwrap().python,
            "python3"
        );
        let l = launcher("#!/usr/bin/env -S python3 -E\nx").unwrap();
        assert_eq!(
            (l.python.as_str(), l.args.clone()),
            ("python3", vec!["-E".into()])
        );
        assert!(launcher("#!/usr/bin/env bash\nx").is_none());
    }

    #[test]
    fn pip_trampoline() {
        let s =
            format!("#!/bin/sh\n'''exec' /very/long/venv/bin/python \"$0\" \"$@\"\n' '''\n{BODY}");
        let l = launcher(&s).unwrap();
        assert_eq!(l.python, "python");
        assert_eq!(&s[l.body_start..], BODY);
        // distlib quotes an interpreter path with spaces
        let s = "#!/bin/sh\n'''exec' \"/a b/bin/python3\" -E \"$0\" \"$@\"\n' '''\nx";
        let l = launcher(s).unwrap();
        assert_eq!(
            (l.python.as_str(), l.args.clone()),
            ("python3", vec!["-E".into()])
        );
        // uv's relocatable form
        let s = "#!/bin/sh\n'''exec' \"$(dirname -- \"$(realpath -- \"$0\")\")\"/python \"$0\" \"$@\"\n' '''\nx";
        assert_eq!(launcher(s).unwrap().python, "python");
    }

    #[test]
    fn crlf_and_no_trailing_newline() {
        let l = launcher("#!/v/bin/python3\r\nimport x\r\n").unwrap();
        assert_eq!(l.python, "python3");
        assert_eq!(l.body_start, "#!/v/bin/python3\r\n".len());
        let l = launcher("#!/v/bin/python3").unwrap();
        assert_eq!(l.body_start, "#!/v/bin/python3".len());
        let s = "#!/bin/sh\r\n'''exec' /v/bin/python \"$0\" \"$@\"\r\n' '''\r\nbody\r\n";
        assert_eq!(&s[launcher(s).unwrap().body_start..], "body\r\n");
    }

    #[test]
    fn other_interpreters_and_binaries_are_left_alone() {
        assert!(launcher("#!/bin/bash\necho hi\n").is_none());
        assert!(launcher("#!/bin/sh\necho hi\n").is_none());
        assert!(launcher("#!/usr/bin/perl -w\n").is_none());
        assert!(parse_launcher(b"\x7fELF\x02\x01\x01").is_none());
        assert!(launcher("import os\n").is_none());
        assert!(parse_launcher(b"#!/v/bin/python3\xff\n").is_none());
    }

    #[test]
    fn shebang_forms() {
        use ShebangForm::*;
        let uv = "#!/bin/sh\n'''exec' \"$(dirname -- \"$(realpath -- \"$0\")\")\"/python \"$0\" \"$@\"\n' '''\nx";
        let rvenv = relocatable_script(b"#!/v/bin/python3 -E\nimport x\n", "python3")
            .unwrap()
            .unwrap();
        for (script, form) in [
            (&b"#!/v/bin/python\nimport x\n"[..], Absolute),
            (b"#!/usr/bin/env -S python3 -E\n", Env),
            (b"#!/bin/sh\n'''exec' '/a b/bin/python' \"$0\" \"$@\"\n' '''\n", ShExec),
            (b"#!/bin/sh\n# -*- coding: utf-8 -*-\n'''exec' /v/bin/python3 \"$0\" \"$@\"\n' '''\n", ShExec),
            (uv.as_bytes(), Relocatable),
            (&rvenv, Relocatable),
            (b"#!python\n", Relative),
            (b"#!/bin/bash\necho hi\n", OtherInterpreter),
            (b"#!/bin/sh\necho hi\n", OtherInterpreter),
            (b"# This file must be used with \"source bin/activate\"\n", NoShebang),
            (b"", NoShebang),
        ] {
            assert_eq!(shebang_form(script), form, "{}", String::from_utf8_lossy(script));
        }
    }

    #[test]
    fn relocatable_script_keeps_body_and_args() {
        let s = format!("#!/v/bin/python3 -E\n{BODY}");
        let out = String::from_utf8(
            relocatable_script(s.as_bytes(), "python3")
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("#!/bin/sh"));
        // The body's PEP 263 line is kept on line 2, where Python still reads it.
        assert_eq!(lines.next(), Some("# -*- coding: utf-8 -*-"));
        let exec = lines.next().unwrap();
        assert!(exec.starts_with("'''exec' \"$(f=$0;"), "{exec}");
        assert!(exec.ends_with("/python3\" -E \"$0\" \"$@\""), "{exec}");
        // BusyBox-safe (no `realpath --`), and nothing that ends the Python string early.
        assert!(!exec.contains("realpath") && !exec.contains('\\') && !exec[3..].contains("'''"));
        assert_eq!(lines.next(), Some("' '''"));
        assert!(out.ends_with(BODY));
        // Its own output is recognised again (idempotent in form).
        let again = relocatable_script(out.as_bytes(), "python3")
            .unwrap()
            .unwrap();
        assert_eq!(again, out.as_bytes());
        assert!(
            relocatable_script(b"#!/bin/bash\n", "python3")
                .unwrap()
                .is_none()
        );
        assert_eq!(
            relocatable_script(b"#!/v/bin/python3 -c'x'\n", "python3").unwrap_err(),
            Error::UnsafeShebangArgument("-c'x'".into())
        );
    }

    #[test]
    fn pyvenv_cfg_drops_build_paths() {
        let cfg = "home = /root/.pyenv/versions/3.11.7/bin\ninclude-system-site-packages = false\nversion = 3.11.7\nexecutable = /root/.pyenv/versions/3.11.7/bin/python3.11\ncommand = /root/.pyenv/versions/3.11.7/bin/python -m venv /tmp/v\nprompt = 'app'\n";
        let out = pyvenv_cfg(cfg, "3.11.7");
        assert_eq!(
            out,
            "include-system-site-packages = false\nversion = 3.11.7\nprompt = 'app'\n"
        );
        assert_eq!(
            pyvenv_cfg("", "3.12.1"),
            "include-system-site-packages = false\nversion = 3.12.1\n"
        );
    }

    #[test]
    fn activate_sh_forms() {
        for (line, token) in [
            ("VIRTUAL_ENV=/tmp/tv\nexport VIRTUAL_ENV\n", "/tmp/tv"),
            (
                "VIRTUAL_ENV=\"/tmp/tv\"\nexport VIRTUAL_ENV\n",
                "\"/tmp/tv\"",
            ),
            ("VIRTUAL_ENV='/tmp/a b'\nexport VIRTUAL_ENV\n", "'/tmp/a b'"),
        ] {
            let script = format!(
                "deactivate () {{ :; }}\ndeactivate nondestructive\n\n{line}PATH=\"$VIRTUAL_ENV/bin:$PATH\""
            );
            let out = activate_sh(&script, &["/tmp/tv", "/tmp/a b"]).unwrap();
            assert!(!out.contains(token), "{out}");
            assert!(out.contains("VIRTUAL_ENV=\"$_rvenv_root\"\n"), "{out}");
            let locate = out.find("# rvenv:").unwrap();
            assert!(locate > out.find("deactivate nondestructive").unwrap());
            assert!(
                out.ends_with("PATH=\"$VIRTUAL_ENV/bin:$PATH\"\nunset _rvenv_root\n"),
                "{out}"
            );
        }
        // 3.13: a cygpath branch and an export in the other branch
        let s = "deactivate nondestructive\nif x; then\n    VIRTUAL_ENV=$(cygpath \"/tmp/v\")\nelse\n    export VIRTUAL_ENV=\"/tmp/v\"\nfi\n";
        let out = activate_sh(s, &["/tmp/v"]).unwrap();
        assert!(!out.contains("/tmp/v"), "{out}");
        assert!(
            out.contains("cygpath \"$_rvenv_root\")")
                && out.contains("export VIRTUAL_ENV=\"$_rvenv_root\"")
        );
        assert_eq!(
            activate_sh("echo hi\n", &["/tmp/v"]).unwrap_err(),
            Error::NoVirtualEnvAssignment
        );
    }

    #[test]
    fn activate_fish_and_csh() {
        let s = "function deactivate\nend\ndeactivate nondestructive\nset -gx VIRTUAL_ENV \"/tmp/v\"\nset -gx PATH \"$VIRTUAL_ENV/bin\" $PATH\n";
        let out = activate_fish(s, &["/tmp/v"]).unwrap();
        assert!(!out.contains("/tmp/v"));
        assert!(out.contains("status filename"));
        assert!(out.find("# rvenv:").unwrap() > out.find("deactivate nondestructive").unwrap());
        assert!(out.contains("set -gx VIRTUAL_ENV \"$_rvenv_root\"\n"));
        assert!(
            activate_fish("set -gx VIRTUAL_ENV /tmp/v\n", &["/tmp/v"])
                .unwrap()
                .contains("VIRTUAL_ENV \"$_rvenv_root\"")
        );
        assert!(!activate_csh().contains("setenv"));
    }

    #[test]
    fn scripts_that_find_or_test_their_location_are_not_rewritten() {
        // uv --relocatable: computes VIRTUAL_ENV from its own path.
        let uv = "deactivate nondestructive\nVIRTUAL_ENV=''\"$(dirname -- \"$(dirname -- \"$(realpath -- \"$SCRIPT_PATH\")\")\")\"''\nexport VIRTUAL_ENV\n";
        assert_eq!(
            activate_sh(uv, &["/v"]).unwrap_err(),
            Error::NotPlainActivate
        );
        let uv_fish =
            "set -gx VIRTUAL_ENV ''(dirname -- (dirname -- (realpath -- (status -f))))''\n";
        assert!(activate_fish(uv_fish, &["/v"]).is_err());
        // virtualenv 21: tests the original path and keeps it in another branch.
        let v21 = "if [ ! -d /v ]; then\n    VIRTUAL_ENV=\"$CURRENT_ENV\"\nelse\n    VIRTUAL_ENV=/v\nfi\n";
        assert_eq!(
            activate_sh(v21, &["/v"]).unwrap_err(),
            Error::NotPlainActivate
        );
        // Another venv's path.
        assert!(activate_sh("VIRTUAL_ENV=/other\n", &["/v"]).is_err());
    }

    #[test]
    fn own_scripts_quote_the_prompt() {
        let sh = own_activate_sh("it's");
        assert!(sh.contains("VIRTUAL_ENV_PROMPT='it'\\''s'\n"), "{sh}");
        assert!(sh.contains(SH_LOCATE));
        let fish = own_activate_fish("app");
        assert!(fish.contains("set -gx VIRTUAL_ENV_PROMPT 'app'\n") && fish.contains(FISH_LOCATE));
        let fish = own_activate_fish("a'b\\");
        assert!(
            fish.contains("set -gx VIRTUAL_ENV_PROMPT 'a\\'b\\\\'\n"),
            "{fish}"
        );
    }

    #[test]
    fn pyc_header_patch() {
        let mut pyc = vec![0xa7, 0x0d, b'\r', b'\n', 0, 0, 0, 0];
        pyc.extend_from_slice(&1_600_000_000u32.to_le_bytes());
        pyc.extend_from_slice(&123u32.to_le_bytes());
        pyc.extend_from_slice(b"code");
        let h = pyc_header(&pyc, 123, 1_600_000_000, 42).unwrap();
        assert_eq!(&h[8..12], &42u32.to_le_bytes());
        assert_eq!(&h[..8], &pyc[..8]);
        assert_eq!(&h[12..], &pyc[12..16]);
        assert!(
            pyc_header(&pyc, 124, 1_600_000_000, 42).is_none(),
            "size mismatch"
        );
        assert!(
            pyc_header(&pyc, 123, 1_600_000_001, 42).is_none(),
            "stale: source edited"
        );
        pyc[4] = 1; // hash-based
        assert!(pyc_header(&pyc, 123, 1_600_000_000, 42).is_none());
        assert!(pyc_header(b"short", 0, 0, 0).is_none());
    }

    #[test]
    fn c_string_replacement() {
        let file = b"\0libc.so.6\0/root/.pyenv/versions/3.11.7/lib\0tail";
        let out = replace_c_string(file, 11, 32, "$ORIGIN/../lib").unwrap();
        assert_eq!(out.len(), file.len());
        assert_eq!(&out[..11], &file[..11]);
        assert_eq!(&out[11..25], b"$ORIGIN/../lib");
        assert!(out[25..44].iter().all(|b| *b == 0));
        assert_eq!(&out[44..], b"tail");
        assert!(replace_c_string(b"\0/a\0", 1, 2, "$ORIGIN/../lib").is_err());
    }

    #[test]
    fn record_rows() {
        let rec = b"app/__init__.py,sha256=abc,10\r\n../../../bin/app,sha256=old,99\r\n\"we,ird\",,\r\napp.dist-info/RECORD,,\r\n";
        let mut changed = BTreeMap::new();
        changed.insert(
            "../../../bin/app".to_string(),
            ("sha256=new".to_string(), 7),
        );
        changed.insert("we,ird".to_string(), ("sha256=q".to_string(), 1));
        let out = record(rec, |p| changed.get(p).cloned()).unwrap().unwrap();
        assert_eq!(record(rec, |_| None).unwrap(), None);
        assert_eq!(
            out,
            b"app/__init__.py,sha256=abc,10\r\n../../../bin/app,sha256=new,7\r\n\"we,ird\",sha256=q,1\r\napp.dist-info/RECORD,,\r\n"
        );
        assert_eq!(record_hash(&[0xfb; 32]).len(), "sha256=".len() + 43);
    }

    #[test]
    fn trampoline_with_option_values_and_env_split_string() {
        let s = "#!/bin/sh\n'''exec' /v/bin/python3 -X utf8 \"$0\" \"$@\"\n' '''\nx";
        let l = launcher(s).unwrap();
        assert_eq!(
            (l.python.as_str(), l.args.clone()),
            ("python3", vec!["-X".into(), "utf8".into()])
        );
        let l = launcher("#!/usr/bin/env --split-string=python3 -E\nx").unwrap();
        assert_eq!(
            (l.python.as_str(), l.args.clone()),
            ("python3", vec!["-E".into()])
        );
        assert!(
            launcher("#!/usr/bin/env -i python3\nx").is_none(),
            "other env options are not guessed at"
        );
    }

    #[test]
    fn coding_declaration_stays_on_line_two() {
        let s = "#!/v/bin/python\n# -*- coding: latin-1 -*-\nprint('x')\n";
        let out = relocatable_script(s.as_bytes(), "python").unwrap().unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().nth(1), Some("# -*- coding: latin-1 -*-"));
        assert!(out.lines().nth(2).unwrap().starts_with("'''exec' "));
        // It is recognised again, and rewriting it again changes nothing.
        let again = relocatable_script(out.as_bytes(), "python")
            .unwrap()
            .unwrap();
        assert_eq!(again, out.as_bytes());
    }

    #[test]
    fn coding_line_ending_in_carriage_returns_rewrites_the_same_twice() {
        for end in ["\r\r\n", "\x0c\x0c\r\n", " \t\r\n"] {
            let s = format!("#!/v/bin/python\n# coding: utf-8{end}print('x')\n");
            let out = relocatable_script(s.as_bytes(), "python").unwrap().unwrap();
            assert!(
                out.starts_with(b"#!/bin/sh\n# coding: utf-8\n'''exec' "),
                "{end:?}: {}",
                String::from_utf8_lossy(&out)
            );
            let again = relocatable_script(&out, "python").unwrap().unwrap();
            assert_eq!(again, out, "{end:?}");
        }
    }

    #[test]
    fn activate_words_are_whole_shell_words() {
        // A venv at /null must not touch 2>/dev/null.
        let s = "deactivate nondestructive\nVIRTUAL_ENV=/null\nhash -r 2>/dev/null\n";
        let out = activate_sh(s, &["/null"]).unwrap();
        assert!(out.contains("hash -r 2>/dev/null\n"), "{out}");
        assert!(out.contains("VIRTUAL_ENV=\"$_rvenv_root\"\n"), "{out}");
        // shlex.quote of a path with a quote in it (CPython 3.13.1+)
        let s = "deactivate nondestructive\nexport VIRTUAL_ENV='/a'\"'\"'b'\n";
        let out = activate_sh(s, &["/a'b"]).unwrap();
        assert!(
            out.contains("export VIRTUAL_ENV=\"$_rvenv_root\"\n"),
            "{out}"
        );
        assert!(!out.contains("'b'"), "{out}");
    }
}
