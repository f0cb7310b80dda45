//! The error returned for cron text that cannot be used.

use core::fmt;

/// A cron field, named for error messages and for [`ParseError::field`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The optional leading seconds field (0-59).
    Second,
    /// Minutes (0-59).
    Minute,
    /// Hours (0-23).
    Hour,
    /// Day of the month (1-31, `L`, `L-n`, `nW`, `LW`).
    DayOfMonth,
    /// Month (1-12 or JAN-DEC).
    Month,
    /// Day of the week (0-7 or SUN-SAT, Sunday is 0 and 7; `nL`, `n#k`).
    DayOfWeek,
}

impl Field {
    /// The field's name as used in messages: `"minute"`, `"day-of-week"`, ...
    pub fn name(self) -> &'static str {
        match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        }
    }

    /// The smallest and largest value the field accepts.
    pub fn bounds(self) -> (u32, u32) {
        match self {
            Field::Second | Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an expression was rejected. Part of [`ParseError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The expression is empty or blank.
    Empty,
    /// Not 5 or 6 fields.
    FieldCount {
        /// How many fields were found.
        found: usize,
    },
    /// An `@` macro that is not one of the known ones.
    UnknownMacro,
    /// A list with an empty item (`1,,2`, a trailing comma).
    EmptyItem,
    /// Something that is neither a number nor a name the field knows.
    Invalid {
        /// What was expected at this point.
        expected: &'static str,
    },
    /// A value outside the field's range.
    OutOfRange {
        /// The value given (saturated for absurdly long numbers).
        value: u64,
        /// The field's minimum.
        min: u32,
        /// The field's maximum.
        max: u32,
    },
    /// A range whose start is after its end (`5-1`).
    ReversedRange {
        /// Start of the range.
        start: u32,
        /// End of the range.
        end: u32,
    },
    /// A step of zero (`*/0`).
    ZeroStep,
    /// A `W` item combined with other items in day-of-month.
    WeekdayWithOthers,
    /// `#n` with n outside 1-5.
    NthOutOfRange {
        /// The n given.
        nth: u64,
    },
    /// `L`, `W` or `#` used in a field that does not support it.
    ModifierNotAllowed {
        /// The modifier character.
        modifier: char,
    },
    /// The expression is valid but no instant can ever match it.
    NeverFires {
        /// A sentence saying why.
        reason: String,
    },
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::Empty => f.write_str("the expression is empty"),
            ParseErrorKind::FieldCount { found } => write!(
                f,
                "expected 5 fields (minute hour day-of-month month day-of-week) \
                 or 6 (with a leading seconds field), found {found}"
            ),
            ParseErrorKind::UnknownMacro => f.write_str(
                "unknown macro; known ones are @yearly @annually @monthly \
                 @weekly @daily @midnight @hourly",
            ),
            ParseErrorKind::EmptyItem => f.write_str("empty item in a list"),
            ParseErrorKind::Invalid { expected } => write!(f, "expected {expected}"),
            ParseErrorKind::OutOfRange { value, min, max } => {
                write!(f, "{value} is out of range {min}-{max}")
            }
            ParseErrorKind::ReversedRange { start, end } => {
                write!(f, "range {start}-{end} is reversed (start is after end)")
            }
            ParseErrorKind::ZeroStep => f.write_str("step must be at least 1"),
            ParseErrorKind::WeekdayWithOthers => {
                f.write_str("a W item must be the only item in day-of-month")
            }
            ParseErrorKind::NthOutOfRange { nth } => {
                write!(
                    f,
                    "#{nth} is out of range: a weekday occurs 1 to 5 times a month"
                )
            }
            ParseErrorKind::ModifierNotAllowed { modifier } => write!(
                f,
                "`{modifier}` is only allowed in {}",
                match modifier {
                    '#' => "day-of-week",
                    'W' => "day-of-month",
                    _ => "day-of-month and day-of-week",
                }
            ),
            ParseErrorKind::NeverFires { reason } => write!(f, "can never fire: {reason}"),
        }
    }
}

/// Cron text that could not be parsed, with where and why.
///
/// Its `Display` names the field, the 1-based column and the offending text,
/// for example: ``minute `61` at column 1: 61 is out of range 0-59``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub(crate) expr: Box<str>,
    pub(crate) field: Option<Field>,
    pub(crate) column: usize,
    pub(crate) text: Box<str>,
    pub(crate) kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(
        expr: &str,
        field: Option<Field>,
        column: usize,
        text: &str,
        kind: ParseErrorKind,
    ) -> ParseError {
        ParseError {
            expr: expr.into(),
            field,
            column,
            text: text.into(),
            kind,
        }
    }

    /// The whole expression that was being parsed.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The field at fault, when the error is about one field.
    pub fn field(&self) -> Option<Field> {
        self.field
    }

    /// The 1-based column (in characters) where the offending text starts.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The offending text itself.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The width of the offending text in characters (at least 1), for carets.
    pub fn width(&self) -> usize {
        self.text.chars().count().max(1)
    }

    /// Why the text was rejected.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(field) if self.text.is_empty() => {
                write!(f, "{field} at column {}: {}", self.column, self.kind)
            }
            Some(field) => write!(
                f,
                "{field} `{}` at column {}: {}",
                self.text, self.column, self.kind
            ),
            None if self.text.is_empty() => write!(f, "{}", self.kind),
            None => write!(
                f,
                "`{}` at column {}: {}",
                self.text, self.column, self.kind
            ),
        }
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_stays_small() {
        // Errors travel in Results on hot paths; keep them lean (ref: jiff pins its error size).
        assert!(core::mem::size_of::<ParseError>() <= 96);
    }
}
