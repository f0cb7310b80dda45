//! Config errors: each one a byte span of the file and a message, shown as
//! `path:LINE:COL: error: MESSAGE` with the source line and a caret, like
//! rustc. All errors of a file are collected and shown together (issue 10),
//! so one `botman check` lists everything to fix.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a config file: where (a byte span of the text) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Diagnostic {
    pub(crate) span: Range<usize>,
    pub(crate) message: String,
}

impl Diagnostic {
    pub(crate) fn new(span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            span,
            message: message.into(),
        }
    }
}

/// The errors found so far, in any order; [`ConfigError`] sorts them.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics(pub(crate) Vec<Diagnostic>);

impl Diagnostics {
    pub(crate) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.0.push(Diagnostic::new(span, message));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a config file could not be loaded: it could not be read, or it has
/// errors (all of them, in file order).
#[derive(Debug)]
pub(crate) struct ConfigError {
    path: PathBuf,
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    Read(io::Error),
    Invalid {
        text: String,
        diagnostics: Vec<Diagnostic>,
    },
}

/// A 1-based line and column; the column counts characters, not bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineCol {
    pub(crate) line: usize,
    pub(crate) col: usize,
}

impl fmt::Display for LineCol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// The line and column of byte `offset` of `text` (clamped to the text and
/// to a character boundary).
pub(crate) fn line_col(text: &str, offset: usize) -> LineCol {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    LineCol {
        line: before.matches('\n').count() + 1,
        col: before[line_start..].chars().count() + 1,
    }
}

impl ConfigError {
    pub(crate) fn read(path: &Path, err: io::Error) -> ConfigError {
        ConfigError {
            path: path.to_owned(),
            kind: ErrorKind::Read(err),
        }
    }

    /// `diagnostics` must not be empty.
    pub(crate) fn invalid(
        path: &Path,
        text: &str,
        mut diagnostics: Vec<Diagnostic>,
    ) -> ConfigError {
        diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
        diagnostics.dedup();
        ConfigError {
            path: path.to_owned(),
            kind: ErrorKind::Invalid {
                text: text.to_owned(),
                diagnostics,
            },
        }
    }

    /// Each error as (line:col, message), in file order; empty when the
    /// file could not be read.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn positions(&self) -> Vec<(LineCol, &str)> {
        match &self.kind {
            ErrorKind::Read(_) => Vec::new(),
            ErrorKind::Invalid { text, diagnostics } => diagnostics
                .iter()
                .map(|d| (line_col(text, d.span.start), d.message.as_str()))
                .collect(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.kind {
            ErrorKind::Read(err) => write!(f, "{path}: error: cannot read the config file: {err}"),
            ErrorKind::Invalid { text, diagnostics } => {
                for (i, d) in diagnostics.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n\n")?;
                    }
                    let at = line_col(text, d.span.start);
                    writeln!(f, "{path}:{at}: error: {}", d.message)?;
                    snippet(f, text, d, at)?;
                }
                let n = diagnostics.len();
                write!(
                    f,
                    "\n\n{n} error{} in {path}",
                    if n == 1 { "" } else { "s" }
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Read(err) => Some(err),
            ErrorKind::Invalid { .. } => None,
        }
    }
}

/// The line of `d` with carets under its span (the part on that line; at
/// least one caret).
fn snippet(f: &mut fmt::Formatter<'_>, text: &str, d: &Diagnostic, at: LineCol) -> fmt::Result {
    let Some(line) = text.split('\n').nth(at.line - 1) else {
        return Ok(());
    };
    let line = line.strip_suffix('\r').unwrap_or(line);
    // Tabs shown as one space each keep the caret under its column.
    let shown: String = line
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect();
    if shown.chars().any(char::is_control) {
        return Ok(());
    }
    let on_line = line.chars().count().saturating_sub(at.col - 1);
    let len = text
        .get(d.span.clone())
        .map_or(1, |s| s.chars().count())
        .clamp(1, on_line.max(1));
    let gutter = " ".repeat(at.line.to_string().len());
    writeln!(f, "{gutter} |")?;
    writeln!(f, "{} | {shown}", at.line)?;
    write!(
        f,
        "{gutter} | {}{}",
        " ".repeat(at.col - 1),
        "^".repeat(len)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_line_col_is_one_based_and_counts_chars() {
        let text = "a = 1\nné = \"x\"\n\tb";
        assert_eq!(line_col(text, 0), LineCol { line: 1, col: 1 });
        assert_eq!(line_col(text, 4), LineCol { line: 1, col: 5 });
        assert_eq!(line_col(text, 6), LineCol { line: 2, col: 1 });
        // `é` is two bytes, one column.
        assert_eq!(line_col(text, 10), LineCol { line: 2, col: 4 });
        assert_eq!(line_col(text, 17), LineCol { line: 3, col: 2 });
        assert_eq!(line_col(text, 999), LineCol { line: 3, col: 3 });
    }

    #[test]
    fn ok_display_shows_the_line_and_a_caret() {
        let text = "[[bot]]\nschedul = \"* * * * *\"\n";
        let e = ConfigError::invalid(
            Path::new("dir/botman.toml"),
            text,
            vec![Diagnostic::new(8..15, "unknown key 'schedul'")],
        );
        assert_eq!(
            e.to_string(),
            "dir/botman.toml:2:1: error: unknown key 'schedul'\n  \
             |\n2 | schedul = \"* * * * *\"\n  | ^^^^^^^\n\n1 error in dir/botman.toml"
        );
    }
}
