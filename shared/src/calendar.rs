//! Local time in the contact's timezone: `HH:MM` parsing, the next matching local time for
//! `until_time` waits, date triggers and quiet hours. DST is resolved the way people expect:
//! a local time that does not exist (spring forward) moves forward by the gap; a local
//! time that exists twice (fall back) means the first of the two.

use chrono::{
    DateTime, Datelike, Duration as ChronoDuration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Utc,
};
use chrono_tz::Tz;

/// Parses `HH:MM` (or `HH:MM:SS`).
pub fn parse_local_time(text: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
        .map_err(|_| format!("bad local time \"{text}\": expected HH:MM, e.g. 09:00"))
}

/// Parses an IANA timezone name such as `Europe/Berlin`.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!("unknown timezone \"{name}\": expected an IANA name such as Europe/Berlin")
    })
}

/// Parses an RFC 3339 timestamp.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!("bad timestamp \"{text}\": expected RFC 3339, e.g. 2026-12-24T09:00:00Z")
        })
}

/// The instant of a local date-time in `tz`, resolving DST gaps and overlaps.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        chrono::LocalResult::None => {
            // In a gap: the wall clock jumped over this time. Keep the same offset as just
            // before the gap, which lands the same distance past the jump (02:30 → 03:30).
            let before = local - ChronoDuration::hours(3);
            let offset = match tz.from_local_datetime(&before) {
                chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                    t.offset().fix()
                }
                chrono::LocalResult::None => Utc.fix(),
            };
            let utc = local - ChronoDuration::seconds(offset.local_minus_utc() as i64);
            Utc.from_utc_datetime(&utc)
        }
    }
}

use chrono::Offset as _;

/// The first instant at or after `now` whose local time in `tz` is `at` on one of `days`
/// (every day when `days` is empty).
pub fn next_local_time(
    now: DateTime<Utc>,
    at: NaiveTime,
    days: &[chrono::Weekday],
    tz: Tz,
) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    // Eight days always contain a matching weekday; the first day may already be past.
    for offset in 0..9 {
        let date = today + ChronoDuration::days(offset);
        if !days.is_empty() && !days.contains(&date.weekday()) {
            continue;
        }
        let candidate = resolve_local(tz, date.and_time(at));
        if candidate >= now {
            return candidate;
        }
    }
    // Unreachable for any real timezone; falling back to a day later keeps time moving forward.
    now + ChronoDuration::days(1)
}

/// Reads a date out of a field value: `1990-05-17`, or an RFC 3339 timestamp (then also its time).
pub fn field_date(value: &serde_json::Value, tz: Tz) -> Option<(NaiveDate, Option<NaiveTime>)> {
    let text = value.as_str()?;
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some((date, None));
    }
    let t = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&tz);
    Some((t.date_naive(), Some(t.time())))
}

/// The same month and day in `year`; 29 February becomes 28 February in other years.
pub fn anniversary(date: NaiveDate, year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, date.month(), date.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, date.month(), 28))
        .unwrap_or(date)
}

/// Whether local `now` in `tz` falls in the window `from`–`to` (which may span midnight),
/// and if so when the window ends.
pub fn quiet_window_end(
    now: DateTime<Utc>,
    from: NaiveTime,
    to: NaiveTime,
    tz: Tz,
) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&tz);
    let time = local.time();
    let date = local.date_naive();
    let inside = if from <= to {
        time >= from && time < to
    } else {
        time >= from || time < to
    };
    if !inside {
        return None;
    }
    let end_date = if from > to && time >= from {
        date + ChronoDuration::days(1)
    } else {
        date
    };
    Some(resolve_local(tz, end_date.and_time(to)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        parse_timestamp(text).unwrap()
    }

    #[test]
    fn spring_forward_gap_moves_forward_by_the_gap() {
        // Europe/Berlin jumps from 02:00 to 03:00 on 2026-03-29.
        let tz = parse_tz("Europe/Berlin").unwrap();
        let local = NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(resolve_local(tz, local), utc("2026-03-29T01:30:00Z")); // 03:30 CEST
    }

    #[test]
    fn fall_back_overlap_takes_the_first() {
        // Europe/Berlin repeats 02:00–03:00 on 2026-10-25; the first 02:30 is CEST (UTC+2).
        let tz = parse_tz("Europe/Berlin").unwrap();
        let local = NaiveDate::from_ymd_opt(2026, 10, 25)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(resolve_local(tz, local), utc("2026-10-25T00:30:00Z"));
    }

    #[test]
    fn next_local_time_across_dst_keeps_the_wall_clock() {
        let tz = parse_tz("America/New_York").unwrap();
        let nine = parse_local_time("09:00").unwrap();
        // Saturday 2026-03-07 10:00 EST; DST starts Sunday 2026-03-08; next weekday 09:00 is Monday EDT.
        let next = next_local_time(
            utc("2026-03-07T15:00:00Z"),
            nine,
            &[chrono::Weekday::Mon],
            tz,
        );
        assert_eq!(next, utc("2026-03-09T13:00:00Z"));
    }

    #[test]
    fn quiet_window_spanning_midnight() {
        let tz = parse_tz("Europe/Berlin").unwrap();
        let (from, to) = (
            parse_local_time("21:00").unwrap(),
            parse_local_time("08:00").unwrap(),
        );
        // 23:00 CET on 2026-01-10 → window ends 08:00 CET on 2026-01-11.
        assert_eq!(
            quiet_window_end(utc("2026-01-10T22:00:00Z"), from, to, tz),
            Some(utc("2026-01-11T07:00:00Z"))
        );
        assert_eq!(
            quiet_window_end(utc("2026-01-10T12:00:00Z"), from, to, tz),
            None
        );
        // 06:00 local → ends 08:00 the same day.
        assert_eq!(
            quiet_window_end(utc("2026-01-11T05:00:00Z"), from, to, tz),
            Some(utc("2026-01-11T07:00:00Z"))
        );
    }

    #[test]
    fn leap_day_anniversary() {
        let leap = NaiveDate::from_ymd_opt(2000, 2, 29).unwrap();
        assert_eq!(
            anniversary(leap, 2027),
            NaiveDate::from_ymd_opt(2027, 2, 28).unwrap()
        );
        assert_eq!(anniversary(leap, 2028), leap.with_year(2028).unwrap());
    }
}
