//! Durations as the workflow language writes them: `90s`, `15m`, `2h`, `3d`, `2w`, and
//! combinations such as `1d12h`. Offsets (`offset: -1d`) may be negative; waits may not.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative length of time with one-second resolution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    seconds: i64,
}

/// A signed length of time: how far before (negative) or after a date something happens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset {
    seconds: i64,
}

const UNITS: [(char, i64); 5] = [
    ('w', 604_800),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];
const HINT: &str =
    "expected a number followed by s, m, h, d or w, e.g. 90s, 15m, 2h, 3d, 2w or 1d12h";

impl Duration {
    pub const ZERO: Duration = Duration { seconds: 0 };

    pub fn from_seconds(seconds: i64) -> Result<Self, String> {
        if seconds < 0 {
            return Err(format!("a duration cannot be negative ({seconds}s)"));
        }
        Ok(Duration { seconds })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match parse_signed(text)? {
            s if s < 0 => Err(format!("bad duration \"{text}\": it cannot be negative")),
            seconds => Ok(Duration { seconds }),
        }
    }

    pub fn seconds(self) -> i64 {
        self.seconds
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(self.seconds)
    }
}

impl Offset {
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_signed(text).map(|seconds| Offset { seconds })
    }

    pub fn seconds(self) -> i64 {
        self.seconds
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(self.seconds)
    }
}

/// Parses `[-]N<unit>[N<unit>...]`, units from largest to smallest, each at most once.
fn parse_signed(text: &str) -> Result<i64, String> {
    let bad = |why: &str| format!("bad duration \"{text}\": {why}; {HINT}");
    let trimmed = text.trim();
    let (negative, body) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    if body.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut last_unit = usize::MAX;
    for c in body.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let Some(unit) = UNITS.iter().position(|(u, _)| *u == c) else {
            return Err(bad(&format!("'{c}' is not a unit")));
        };
        if digits.is_empty() {
            return Err(bad(&format!("no number before '{c}'")));
        }
        if last_unit != usize::MAX && unit <= last_unit {
            return Err(bad("units must go from largest to smallest, each once"));
        }
        last_unit = unit;
        let amount: i64 = digits.parse().map_err(|_| bad("the number is too large"))?;
        total = amount
            .checked_mul(UNITS[unit].1)
            .and_then(|s| total.checked_add(s))
            .filter(|s| *s <= 100 * 366 * 86_400)
            .ok_or_else(|| bad("it is longer than 100 years"))?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad(&format!("\"{digits}\" has no unit")));
    }
    Ok(if negative { -total } else { total })
}

fn format_seconds(f: &mut fmt::Formatter<'_>, seconds: i64) -> fmt::Result {
    if seconds == 0 {
        return f.write_str("0s");
    }
    if seconds < 0 {
        f.write_str("-")?;
    }
    let mut rest = seconds.unsigned_abs() as i64;
    // Weeks only for whole weeks: `9d` reads better than `1w2d`.
    let units = if rest % UNITS[0].1 == 0 {
        &UNITS[..]
    } else {
        &UNITS[1..]
    };
    for &(unit, size) in units {
        if rest >= size {
            write!(f, "{}{unit}", rest / size)?;
            rest %= size;
        }
    }
    Ok(())
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_seconds(f, self.seconds)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_seconds(f, self.seconds)
    }
}

macro_rules! string_serde {
    ($ty:ty, $name:literal, $pattern:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // YAML users write `at: 0` as often as `at: 0s`; only zero is unambiguous.
                let text = match serde_json::Value::deserialize(d)? {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(n) if n.as_i64() == Some(0) => "0s".into(),
                    other => {
                        return Err(de::Error::custom(format!(
                            "bad duration {other}: {HINT}"
                        )))
                    }
                };
                <$ty>::parse(&text).map_err(de::Error::custom)
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "pattern": $pattern, "examples": ["90s", "15m", "2h", "3d", "2w", "1d12h"] })
            }
        }
    };
}

string_serde!(
    Duration,
    "Duration",
    "^\\+?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
);
string_serde!(
    Offset,
    "Offset",
    "^[-+]?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_combinations() {
        assert_eq!(Duration::parse("90s").unwrap().seconds(), 90);
        assert_eq!(Duration::parse("15m").unwrap().seconds(), 900);
        assert_eq!(Duration::parse("2h").unwrap().seconds(), 7200);
        assert_eq!(Duration::parse("3d").unwrap().seconds(), 259_200);
        assert_eq!(Duration::parse("2w").unwrap().seconds(), 1_209_600);
        assert_eq!(Duration::parse("1d12h").unwrap().seconds(), 129_600);
        assert_eq!(Offset::parse("-1d").unwrap().seconds(), -86_400);
    }

    #[test]
    fn rejects_bad_durations_with_a_reason() {
        for (text, why) in [
            ("", "empty"),
            ("3", "has no unit"),
            ("3x", "'x' is not a unit"),
            ("h", "no number before 'h'"),
            ("1h1d", "largest to smallest"),
            ("-1d", "cannot be negative"),
            ("99999999999999999999w", "too large"),
            ("99999999999w", "100 years"),
        ] {
            let err = Duration::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn displays_canonically() {
        assert_eq!(Duration::parse("36h").unwrap().to_string(), "1d12h");
        assert_eq!(Offset::parse("-90m").unwrap().to_string(), "-1h30m");
        assert_eq!(Duration::ZERO.to_string(), "0s");
        assert_eq!(Duration::parse("9d").unwrap().to_string(), "9d");
        assert_eq!(Duration::parse("14d").unwrap().to_string(), "2w");
    }
}
