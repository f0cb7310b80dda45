//! Cron text to [`Cron`]: tokenising, validating and building the bitsets.
//!
//! Every error carries the column of the offending token. The parser never
//! indexes by a position it did not find itself, so no input can make it
//! panic (the fuzz target in `fuzz/` holds it to that).

use crate::error::{Field, ParseError, ParseErrorKind};
use crate::{Cron, Item, Spec};

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The fields in order for 5-field and 6-field expressions.
const FIELDS_5: [Field; 5] = [
    Field::Minute,
    Field::Hour,
    Field::DayOfMonth,
    Field::Month,
    Field::DayOfWeek,
];
const FIELDS_6: [Field; 6] = [
    Field::Second,
    Field::Minute,
    Field::Hour,
    Field::DayOfMonth,
    Field::Month,
    Field::DayOfWeek,
];

struct Ctx<'a> {
    expr: &'a str,
}

impl Ctx<'_> {
    fn err(
        &self,
        field: Option<Field>,
        pos: usize,
        len: usize,
        kind: ParseErrorKind,
    ) -> ParseError {
        let pos = pos.min(self.expr.len());
        let end = (pos + len).min(self.expr.len());
        // Positions are byte offsets of ASCII tokens we found ourselves, but a
        // token may abut a multi-byte character: fall back to what is valid.
        let text = self.expr.get(pos..end).unwrap_or("");
        let column = self.expr.get(..pos).map_or(pos, |s| s.chars().count()) + 1;
        ParseError::new(self.expr, field, column, text, kind)
    }
}

pub(crate) fn parse(expr: &str) -> Result<Cron, ParseError> {
    let ctx = Ctx { expr };
    let trimmed = expr.trim();
    if trimmed.is_empty() {
        return Err(ctx.err(None, 0, 0, ParseErrorKind::Empty));
    }
    if trimmed.starts_with('@') {
        let start = expr.len() - expr.trim_start().len();
        const MACROS: [(&str, &str); 7] = [
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
            ("@monthly", "0 0 1 * *"),
            ("@weekly", "0 0 * * 0"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@hourly", "0 * * * *"),
        ];
        return match MACROS.iter().find(|(m, _)| m.eq_ignore_ascii_case(trimmed)) {
            Some((_, expansion)) => parse(expansion),
            None => Err(ctx.err(None, start, trimmed.len(), ParseErrorKind::UnknownMacro)),
        };
    }

    // Split on any ASCII whitespace, remembering where each field starts.
    let mut fields: [(usize, &str); 6] = [(0, ""); 6];
    let mut count = 0;
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if count < fields.len() {
            fields[count] = (start, &expr[start..i]);
        }
        count += 1;
    }
    let names: &[Field] = match count {
        5 => &FIELDS_5,
        6 => &FIELDS_6,
        n => {
            return Err(ctx.err(None, 0, expr.len(), ParseErrorKind::FieldCount { found: n }));
        }
    };

    let fields = &fields[..count];
    let spec = |k: usize| parse_field(&ctx, names[k], fields[k].0, fields[k].1);
    let (second, base) = if count == 6 {
        (Some(spec(0)?), 1)
    } else {
        (None, 0)
    };
    let minute = spec(base)?;
    let hour = spec(base + 1)?;
    let dom = spec(base + 2)?;
    let month = spec(base + 3)?;
    let dow = spec(base + 4)?;
    let cron = Cron::from_specs(second, minute, hour, dom, month, dow);
    if !cron.can_fire() {
        let dom_pos = fields[names.len() - 3].0;
        let dom_text = fields[names.len() - 3].1;
        let month_text = fields[names.len() - 2].1;
        let dow_text = fields[names.len() - 1].1;
        let reason = if cron.spec.dow.star {
            format!("day-of-month `{dom_text}` never falls in month `{month_text}`")
        } else {
            format!(
                "no day in month `{month_text}` matches day-of-month `{dom_text}` \
                 with day-of-week `{dow_text}`"
            )
        };
        return Err(ctx.err(
            Some(Field::DayOfMonth),
            dom_pos,
            dom_text.len(),
            ParseErrorKind::NeverFires { reason },
        ));
    }
    Ok(cron)
}

fn parse_field(ctx: &Ctx<'_>, field: Field, pos: usize, text: &str) -> Result<Spec, ParseError> {
    let star = text.starts_with('*') || text.starts_with('?');
    let mut items = crate::spec::ItemList::new();
    let mut item_start = pos;
    for raw in text.split(',') {
        if raw.is_empty() {
            return Err(ctx.err(Some(field), item_start, 0, ParseErrorKind::EmptyItem));
        }
        items.push(parse_item(ctx, field, item_start, raw)?);
        item_start += raw.len() + 1;
    }
    let has_w = items
        .iter()
        .any(|i| matches!(i, Item::NearestWeekday { .. } | Item::LastWeekday));
    if has_w && items.len() > 1 {
        return Err(ctx.err(
            Some(field),
            pos,
            text.len(),
            ParseErrorKind::WeekdayWithOthers,
        ));
    }
    Ok(Spec { items, star })
}

fn parse_item(ctx: &Ctx<'_>, field: Field, base: usize, raw: &str) -> Result<Item, ParseError> {
    let it = ItemText {
        s: raw.as_bytes(),
        base,
    };
    it.parse(ctx, field)
}

/// One list item; `base` is its byte offset in the expression.
struct ItemText<'a> {
    s: &'a [u8],
    base: usize,
}

impl ItemText<'_> {
    fn parse(&self, ctx: &Ctx<'_>, field: Field) -> Result<Item, ParseError> {
        let s = self.s;
        let max = field.bounds().1;
        // Split off a step.
        let (body, step) = match s.iter().position(|&b| b == b'/') {
            Some(slash) => {
                let step_bytes = &s[slash + 1..];
                let step_pos = self.base + slash + 1;
                let step =
                    self.number(ctx, field, step_pos, step_bytes, "a step number after `/`")?;
                if step == 0 {
                    return Err(ctx.err(
                        Some(field),
                        step_pos,
                        step_bytes.len(),
                        ParseErrorKind::ZeroStep,
                    ));
                }
                // A step larger than the field's span selects only its start; cap it so it fits.
                // Fields span at most 60 values, so any step past 255 means
                // the same as 255: only the start.
                (&s[..slash], Some(step.min(255) as u8))
            }
            None => (s, None),
        };
        if body == b"*" || body == b"?" {
            // `*/n` keeps its star spelling; the range it covers is the field's.
            return Ok(Item::All {
                step: step.unwrap_or(1),
            });
        }
        if body.is_empty() {
            return Err(ctx.err(
                Some(field),
                self.base,
                s.len(),
                ParseErrorKind::Invalid {
                    expected: "a number, a range or `*` before `/`",
                },
            ));
        }
        // Upper-case a copy on the stack (items are short; longer ones are
        // errors anyway and may allocate).
        let mut buf = [0u8; 16];
        let owned;
        let upper: &[u8] = if body.len() <= buf.len() {
            buf[..body.len()].copy_from_slice(body);
            buf[..body.len()].make_ascii_uppercase();
            &buf[..body.len()]
        } else {
            owned = body.to_ascii_uppercase();
            &owned
        };
        let no_step = |what: &'static str| -> Result<(), ParseError> {
            if step.is_some() {
                Err(ctx.err(
                    Some(field),
                    self.base,
                    s.len(),
                    ParseErrorKind::Invalid { expected: what },
                ))
            } else {
                Ok(())
            }
        };

        // Day-of-month modifiers: L, L-n, LW, nW.
        if field == Field::DayOfMonth {
            if upper == b"L" {
                no_step("no step after `L`")?;
                return Ok(Item::Last { offset: 0 });
            }
            if upper == b"LW" {
                no_step("no step after `LW`")?;
                return Ok(Item::LastWeekday);
            }
            if let Some(rest) = upper.strip_prefix(b"L-") {
                no_step("no step after `L-n`")?;
                let pos = self.base + 2;
                let n = self.number(ctx, field, pos, rest, "a number of days after `L-`")?;
                if n > 30 {
                    return Err(ctx.err(
                        Some(field),
                        pos,
                        rest.len(),
                        ParseErrorKind::OutOfRange {
                            value: n,
                            min: 0,
                            max: 30,
                        },
                    ));
                }
                return Ok(Item::Last { offset: n as u8 });
            }
            if let Some(day) = upper.strip_suffix(b"W") {
                no_step("no step after `W`")?;
                let d = self.value(ctx, field, self.base, day)?;
                if d < 1 {
                    return Err(self.out_of_range(ctx, field, self.base, day.len(), u64::from(d)));
                }
                return Ok(Item::NearestWeekday { day: d as u8 });
            }
        }
        // Day-of-week modifiers: nL, n#k.
        if field == Field::DayOfWeek {
            if let Some(hash) = upper.iter().position(|&b| b == b'#') {
                no_step("no step after `#`")?;
                let wd = self.value(ctx, field, self.base, &upper[..hash])? % 7;
                let npos = self.base + hash + 1;
                let nbytes = &upper[hash + 1..];
                let n = self.number(ctx, field, npos, nbytes, "a number 1-5 after `#`")?;
                if !(1..=5).contains(&n) {
                    return Err(ctx.err(
                        Some(field),
                        npos,
                        nbytes.len(),
                        ParseErrorKind::NthOutOfRange { nth: n },
                    ));
                }
                return Ok(Item::NthWeekday {
                    weekday: wd as u8,
                    nth: n as u8,
                });
            }
            if upper.len() > 1 && upper.ends_with(b"L") {
                no_step("no step after `L`")?;
                let wd = self.value(ctx, field, self.base, &upper[..upper.len() - 1])? % 7;
                return Ok(Item::LastWeekdayOf { weekday: wd as u8 });
            }
            if upper == b"L" {
                return Err(ctx.err(
                    Some(field),
                    self.base,
                    1,
                    ParseErrorKind::Invalid {
                        expected: "a weekday before `L` (`5L` or `FRIL` is the last Friday)",
                    },
                ));
            }
        }
        // Modifiers in fields that do not take them.
        for (i, &b) in upper.iter().enumerate() {
            let allowed = match b {
                b'#' => field == Field::DayOfWeek,
                b'W' => field == Field::DayOfMonth || self.is_name_char(field, upper, i),
                b'L' => {
                    matches!(field, Field::DayOfMonth | Field::DayOfWeek)
                        || self.is_name_char(field, upper, i)
                }
                _ => true,
            };
            if !allowed {
                return Err(ctx.err(
                    Some(field),
                    self.base + i,
                    1,
                    ParseErrorKind::ModifierNotAllowed {
                        modifier: b as char,
                    },
                ));
            }
        }

        // Plain values and ranges.
        let (start, end) = match body.iter().position(|&b| b == b'-') {
            Some(dash) => {
                let start = self.value(ctx, field, self.base, &body[..dash])?;
                let epos = self.base + dash + 1;
                let mut end = self.value(ctx, field, epos, &body[dash + 1..])?;
                // `FRI-SUN`: Sunday written as 0 at the end of a range means 7.
                if field == Field::DayOfWeek && end == 0 && start > 0 {
                    end = 7;
                }
                if start > end {
                    return Err(ctx.err(
                        Some(field),
                        self.base,
                        body.len(),
                        ParseErrorKind::ReversedRange { start, end },
                    ));
                }
                (start, end)
            }
            None => {
                let v = self.value(ctx, field, self.base, body)?;
                // `5/15` means from 5 to the end of the field, every 15.
                if step.is_some() {
                    (
                        v,
                        if field == Field::DayOfWeek {
                            7.max(v)
                        } else {
                            max
                        },
                    )
                } else {
                    (v, v)
                }
            }
        };
        // Values were checked against the field's bounds (at most 59).
        Ok(Item::Range {
            start: start as u8,
            end: end as u8,
            step: step.unwrap_or(1),
        })
    }

    fn is_name_char(&self, field: Field, upper: &[u8], i: usize) -> bool {
        // Letters inside a month or weekday name are not modifiers (`JUL`).
        let names: &[&str] = match field {
            Field::Month => &MONTH_NAMES,
            Field::DayOfWeek => &WEEKDAY_NAMES,
            _ => return false,
        };
        // Find the alphabetic run containing i and check it is a name.
        let mut a = i;
        while a > 0 && upper[a - 1].is_ascii_alphabetic() {
            a -= 1;
        }
        let mut b = i;
        while b < upper.len() && upper[b].is_ascii_alphabetic() {
            b += 1;
        }
        names.iter().any(|n| n.as_bytes() == &upper[a..b])
    }

    fn out_of_range(
        &self,
        ctx: &Ctx<'_>,
        field: Field,
        pos: usize,
        len: usize,
        value: u64,
    ) -> ParseError {
        let (min, max) = field.bounds();
        ctx.err(
            Some(field),
            pos,
            len,
            ParseErrorKind::OutOfRange { value, min, max },
        )
    }

    /// A number or a name the field knows, checked against the field's range.
    fn value(
        &self,
        ctx: &Ctx<'_>,
        field: Field,
        pos: usize,
        bytes: &[u8],
    ) -> Result<u32, ParseError> {
        let (min, max) = field.bounds();
        if !bytes.is_empty() && bytes.iter().all(u8::is_ascii_alphabetic) {
            let found = match field {
                Field::Month => MONTH_NAMES
                    .iter()
                    .position(|n| n.as_bytes().eq_ignore_ascii_case(bytes))
                    .map(|i| i as u32 + 1),
                Field::DayOfWeek => WEEKDAY_NAMES
                    .iter()
                    .position(|n| n.as_bytes().eq_ignore_ascii_case(bytes))
                    .map(|i| i as u32),
                _ => None,
            };
            return found.ok_or_else(|| {
                ctx.err(
                    Some(field),
                    pos,
                    bytes.len(),
                    ParseErrorKind::Invalid {
                        expected: match field {
                            Field::Month => "a month 1-12 or a name JAN-DEC",
                            Field::DayOfWeek => "a weekday 0-7 or a name SUN-SAT",
                            _ => "a number",
                        },
                    },
                )
            });
        }
        let expected = match field {
            Field::Month => "a month 1-12 or a name JAN-DEC",
            Field::DayOfWeek => "a weekday 0-7 or a name SUN-SAT",
            _ => "a number",
        };
        let n = self.number(ctx, field, pos, bytes, expected)?;
        if n < u64::from(min) || n > u64::from(max) {
            return Err(self.out_of_range(ctx, field, pos, bytes.len(), n));
        }
        Ok(n as u32)
    }

    /// Decimal digits only; saturates instead of overflowing.
    fn number(
        &self,
        ctx: &Ctx<'_>,
        field: Field,
        pos: usize,
        bytes: &[u8],
        expected: &'static str,
    ) -> Result<u64, ParseError> {
        if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
            let len = bytes.len();
            return Err(ctx.err(Some(field), pos, len, ParseErrorKind::Invalid { expected }));
        }
        Ok(bytes.iter().fold(0u64, |acc, &b| {
            acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
        }))
    }
}
