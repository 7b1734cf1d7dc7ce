//! Timestamps as the stores write them — RFC 3339 in UTC with `Z`, sub-second digits as
//! chrono's `AutoSi` writes them (none, 3, 6 or 9) — formatted and read on that one
//! shape without chrono's general formatter and parser, byte for byte what chrono writes
//! and value for value what it reads. Every stored event of every contact carries one:
//! a simulated year that packs and unpacks contacts spent 12 % of its time in chrono's.
//! Any other shape (an offset, lowercase, a space for `T`, a leap second, a year past
//! 9999) goes to chrono as before.
//!
//! [`serialize`]/[`deserialize`], [`opt`] (an optional timestamp) and [`by_name`]
//! (timestamps by name) are for `#[serde(with)]` on stored fields: they read whatever
//! chrono's own `Deserialize` reads. The journal's times (`journal::rfc3339`) are written
//! the same way and read strictly.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

/// The longest shape written here: `2026-12-24T09:00:00.123456789Z`.
const LONGEST: usize = 30;

/// `t` as chrono writes it (`to_rfc3339_opts(SecondsFormat::AutoSi, true)`), into `out`;
/// `None` when its shape is not the common one.
fn write_common(t: &DateTime<Utc>, out: &mut [u8; LONGEST]) -> Option<usize> {
    let nanos = t.nanosecond();
    if !(0..=9999).contains(&t.year()) || nanos >= 1_000_000_000 {
        return None;
    }
    put_digits(&mut out[0..4], t.year() as u32);
    out[4] = b'-';
    put_digits(&mut out[5..7], t.month());
    out[7] = b'-';
    put_digits(&mut out[8..10], t.day());
    out[10] = b'T';
    put_digits(&mut out[11..13], t.hour());
    out[13] = b':';
    put_digits(&mut out[14..16], t.minute());
    out[16] = b':';
    put_digits(&mut out[17..19], t.second());
    let (digits, fraction) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (3, n / 1_000_000),
        n if n % 1_000 == 0 => (6, n / 1_000),
        n => (9, n),
    };
    let mut len = 19;
    if digits > 0 {
        out[19] = b'.';
        put_digits(&mut out[20..20 + digits], fraction);
        len = 20 + digits;
    }
    out[len] = b'Z';
    Some(len + 1)
}

fn put_digits(out: &mut [u8], mut n: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

fn read_digits(text: &[u8]) -> Option<u32> {
    text.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// `2026-12-24T09:00:00Z`, with 1 to 9 sub-second digits or none; `None` for any other
/// shape and for a date or time that does not exist.
fn read_common(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let (&b'Z', b) = b.split_last()? else {
        return None;
    };
    if b.len() < 19 || [b[4], b[7], b[10], b[13], b[16]] != *b"--T::" {
        return None;
    }
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            read_digits(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(
        read_digits(&b[0..4])? as i32,
        read_digits(&b[5..7])?,
        read_digits(&b[8..10])?,
    )?;
    let time = date.and_hms_nano_opt(
        read_digits(&b[11..13])?,
        read_digits(&b[14..16])?,
        read_digits(&b[17..19])?,
        nanos,
    )?;
    Some(time.and_utc())
}

/// What chrono's own `Deserialize` for `DateTime<Utc>` reads (RFC 3339, relaxed).
fn read_relaxed(text: &str) -> Result<DateTime<Utc>, String> {
    text.parse::<DateTime<Utc>>().map_err(|e| e.to_string())
}

/// Writes `t` as chrono's `Serialize` does.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut out = [0u8; LONGEST];
    // Digits and separators only: the UTF-8 check cannot fail (and costs ~30 byte reads).
    match write_common(t, &mut out).and_then(|len| std::str::from_utf8(&out[..len]).ok()) {
        Some(text) => s.serialize_str(text),
        None => s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
    }
}

/// Reads what chrono's `Deserialize` reads.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    deserialize_or(d, read_relaxed)
}

/// Reads a timestamp the common way or, for any other shape, with `otherwise`.
pub(crate) fn deserialize_or<'de, D: Deserializer<'de>>(
    d: D,
    otherwise: fn(&str) -> Result<DateTime<Utc>, String>,
) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_str(Text(otherwise))
}

/// Reads a timestamp's text: the common shape here, any other with its field's own
/// parser (chrono's relaxed one for stored fields, the strict one for the journal).
struct Text(fn(&str) -> Result<DateTime<Utc>, String>);

impl Visitor<'_> for Text {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<DateTime<Utc>, E> {
        match read_common(text) {
            Some(t) => Ok(t),
            None => (self.0)(text).map_err(E::custom),
        }
    }
}

/// The same for an optional timestamp (`null` or absent: `None`; pair with
/// `#[serde(default)]`).
pub mod opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        deserialize_or(d, read_relaxed)
    }

    pub(crate) fn deserialize_or<'de, D: Deserializer<'de>>(
        d: D,
        otherwise: fn(&str) -> Result<DateTime<Utc>, String>,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        d.deserialize_option(Maybe(otherwise))
    }

    /// `null` or a timestamp read as [`Text`] reads it, with the same fallback parser.
    struct Maybe(fn(&str) -> Result<DateTime<Utc>, String>);

    impl<'de> Visitor<'de> for Maybe {
        type Value = Option<DateTime<Utc>>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an RFC 3339 timestamp or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            super::deserialize_or(d, self.0).map(Some)
        }
    }
}

/// The same for timestamps by name (`BTreeMap<String, DateTime<Utc>>`).
pub mod by_name {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    struct Stamp(#[serde(with = "super")] DateTime<Utc>);

    pub fn serialize<S: Serializer>(
        times: &BTreeMap<String, DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(times.iter().map(|(name, t)| (name, Stamp(*t))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, DateTime<Utc>>, D::Error> {
        let times = BTreeMap::<String, Stamp>::deserialize(d)?;
        Ok(times.into_iter().map(|(name, t)| (name, t.0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Ours(#[serde(with = "super")] DateTime<Utc>);

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Chronos(DateTime<Utc>);

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Maybe {
        #[serde(default, with = "super::opt", skip_serializing_if = "Option::is_none")]
        at: Option<DateTime<Utc>>,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct ByName(
        #[serde(with = "super::by_name")] std::collections::BTreeMap<String, DateTime<Utc>>,
    );

    fn json<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    fn instant(seconds: i64, nanos: u32) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(seconds, nanos)
    }

    proptest! {
        /// Years -1 to 10200, any nanosecond, leap seconds (at :59) too: written as
        /// chrono writes it, read back as chrono reads it.
        #[test]
        fn written_and_read_as_chrono_does(
            seconds in -62_198_755_200i64..259_718_659_200,
            nanos in prop_oneof![
                Just(0u32),
                (0u32..1000).prop_map(|ms| ms * 1_000_000),
                (0u32..1_000_000).prop_map(|us| us * 1_000),
                0u32..2_000_000_000,
            ],
        ) {
            let t = instant(seconds, nanos);
            prop_assume!(t.is_some(), "a leap second only at :59");
            let t = t.unwrap();
            let written = json(&Ours(t));
            prop_assert_eq!(&written, &json(&Chronos(t)));
            let ours: Ours = serde_json::from_str(&written).unwrap();
            let chronos: Chronos = serde_json::from_str(&written).unwrap();
            prop_assert_eq!(ours.0, chronos.0);
        }

        /// Any text of the common shape — impossible dates, 24:00, leap seconds, one to
        /// nine digits — reads as chrono reads it, or fails where chrono fails.
        #[test]
        fn texts_of_the_common_shape_read_as_chrono_reads_them(
            text in "[0-9]{4}-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{1,9})?Z",
        ) {
            let quoted = json(&text);
            let ours = serde_json::from_str::<Ours>(&quoted).ok().map(|t| t.0);
            let chronos = serde_json::from_str::<Chronos>(&quoted).ok().map(|t| t.0);
            prop_assert_eq!(ours, chronos, "{}", text);
        }
    }

    /// The fallbacks would hide a fast path that never applies; these must take it.
    #[test]
    fn the_common_shape_is_written_and_read_here() {
        let mut out = [0u8; LONGEST];
        for (seconds, nanos, text) in [
            (1_767_225_600, 0, "2026-01-01T00:00:00Z"),
            (1_767_225_600, 120_000_000, "2026-01-01T00:00:00.120Z"),
            (1_767_225_600, 123_400, "2026-01-01T00:00:00.000123400Z"),
            (1_767_225_600, 1_000, "2026-01-01T00:00:00.000001Z"),
            (-62_167_219_200, 0, "0000-01-01T00:00:00Z"),
        ] {
            let t = instant(seconds, nanos).unwrap();
            let len = write_common(&t, &mut out).expect(text);
            assert_eq!(&out[..len], text.as_bytes());
            assert_eq!(read_common(text), Some(t), "{text}");
        }
        assert_eq!(
            read_common("2026-01-01T00:00:00.1Z"),
            instant(1_767_225_600, 100_000_000)
        );
        let leap = instant(1_483_228_799, 1_500_000_000).unwrap();
        assert_eq!(write_common(&leap, &mut out), None);
        assert_eq!(json(&Ours(leap)), r#""2016-12-31T23:59:60.500Z""#);
        assert_eq!(read_common("2016-12-31T23:59:60.500Z"), None);
        for text in [
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:0Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1234567890Z",
            "２026-01-01T00:00:00Z",
            "Z",
        ] {
            assert_eq!(read_common(text), None, "{text}");
        }
    }

    #[test]
    fn other_shapes_go_to_chrono() {
        for text in [
            "2026-12-24T10:00:00+01:00",
            "2026-12-24t09:00:00z",
            "2026-12-24 09:00:00Z",
            "2026-12-24T09:00:00.1234567891Z",
            "2016-12-31T23:59:60Z",
        ] {
            let ours: Ours = serde_json::from_str(&json(&text)).unwrap();
            let chronos: Chronos = serde_json::from_str(&json(&text)).unwrap();
            assert_eq!(ours.0, chronos.0, "{text}");
        }
        for text in [
            "",
            "2026-12-24",
            "2026-13-24T09:00:00Z",
            "2026-12-24T09:00:00.Z",
        ] {
            assert!(
                serde_json::from_str::<Ours>(&json(&text)).is_err(),
                "{text}"
            );
        }
        assert!(serde_json::from_str::<Ours>("1767225600").is_err());
    }

    #[test]
    fn an_optional_timestamp_may_be_null_or_absent() {
        let at = instant(1_767_225_600, 0);
        let some = Maybe { at };
        assert_eq!(json(&some), r#"{"at":"2026-01-01T00:00:00Z"}"#);
        assert_eq!(serde_json::from_str::<Maybe>(&json(&some)).unwrap(), some);
        assert_eq!(
            serde_json::from_str::<Maybe>("{}").unwrap(),
            Maybe { at: None }
        );
        let null: Maybe = serde_json::from_str(r#"{"at":null}"#).unwrap();
        assert_eq!(null, Maybe { at: None });
    }

    #[test]
    fn timestamps_by_name_are_written_as_chrono_writes_them() {
        let times = [
            ("birthday#0", 1_767_225_600, 0),
            ("vip", 1_767_225_601, 5_000_000),
        ]
        .map(|(name, s, ns)| (name.to_string(), instant(s, ns).unwrap()));
        let times = std::collections::BTreeMap::from(times);
        let written = json(&ByName(times.clone()));
        assert_eq!(written, json(&times));
        assert_eq!(serde_json::from_str::<ByName>(&written).unwrap().0, times);
        let offset = r#"{"vip":"2026-01-01T01:00:01+01:00"}"#;
        assert_eq!(
            serde_json::from_str::<ByName>(offset).unwrap().0["vip"],
            times["vip"] - chrono::Duration::milliseconds(5)
        );
    }
}
