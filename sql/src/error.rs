//! `SqlError`: a problem in a pipeline's SQL, pointing at line and column.
//!
//! Shaped like a Postgres error report (primary message, optional detail and hint) so `check`
//! can print `file:line:column: message` and a caret under the offending token.

use std::fmt;

/// A 1-based position in the pipeline text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Location {
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub struct SqlError {
    pub message: String,
    pub location: Location,
    pub hint: Option<String>,
}

impl SqlError {
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        SqlError { message: message.into(), location, hint: None }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A multi-line report: `file:line:column: error: …`, the source line with a caret, hint.
    pub fn render(&self, file: &str, source: &str) -> String {
        let mut out = format!("{file}:{}: error: {}", self.location, self.message);
        if let Some(line) = source.lines().nth(self.location.line.saturating_sub(1) as usize) {
            let caret = " ".repeat(self.location.column.saturating_sub(1) as usize);
            out.push_str(&format!("\n  | {line}\n  | {caret}^"));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("\n  hint: {hint}"));
        }
        out
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Finds the first case-insensitive occurrence of `needle` as a whole word inside `text`,
/// which starts at `start`; used to point errors found on a plan back at the SQL.
pub fn locate_word(text: &str, start: Location, needle: &str) -> Option<Location> {
    let lower = text.to_lowercase();
    let needle = needle.to_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(&needle) {
        let at = from + pos;
        let before_ok = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric() && lower.as_bytes()[at - 1] != b'_';
        let end = at + needle.len();
        let after_ok = end >= lower.len() || !lower.as_bytes()[end].is_ascii_alphanumeric() && lower.as_bytes()[end] != b'_';
        if before_ok && after_ok {
            return Some(offset_location(text, start, at));
        }
        from = at + needle.len().max(1);
    }
    None
}

/// The location of byte `offset` of `text`, which begins at `start`.
pub fn offset_location(text: &str, start: Location, offset: usize) -> Location {
    let prefix = &text[..offset.min(text.len())];
    let newlines = prefix.matches('\n').count() as u64;
    if newlines == 0 {
        Location { line: start.line, column: start.column + prefix.chars().count() as u64 }
    } else {
        let last = prefix.rsplit('\n').next().unwrap_or("");
        Location { line: start.line + newlines, column: last.chars().count() as u64 + 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_words() {
        let start = Location { line: 3, column: 5 };
        let text = "SELECT a\n  FROM t WHERE lag(x)";
        assert_eq!(locate_word(text, start, "lag"), Some(Location { line: 4, column: 16 }));
        assert_eq!(locate_word(text, start, "a"), Some(Location { line: 3, column: 12 }));
        assert_eq!(locate_word(text, start, "zz"), None);
    }
}
