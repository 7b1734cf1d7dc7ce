//! A contact's event history, kept compact: per event name a lifetime count, lifetime sums
//! of numeric properties and a bounded, time-ordered log of recent events with their
//! scalar properties. Counting a window (`within: 30d`, `since: run_start`) is a binary
//! search, `inactive_for` reads one timestamp, and the whole history fits in the contact's
//! partition whatever the traffic: each stored event keeps at most [`PROPS_KEPT`]
//! properties, and the log as a whole stays within [`HISTORY_BUDGET`] bytes by dropping
//! the oldest events of any name first. Lifetime counts and sums outlive what is dropped;
//! questions that need the events themselves (a filter, a window) see the events kept.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::event::{is_engagement, number, Event};

/// At most this many recent events are kept per event name.
pub const RECENT_PER_NAME: usize = 256;
/// Events older than this (before the newest one) leave the recent log; lifetime counts remain.
pub const RETENTION_DAYS: i64 = 400;
/// Longer string properties are cut; conditions compare short values (ids, urls, steps).
const MAX_STRING: usize = 256;
/// A stored event keeps at most this many properties (the first by name), each named by
/// at most [`MAX_KEY`] bytes: a stored event is at most ~11 KB.
pub const PROPS_KEPT: usize = 32;
const MAX_KEY: usize = 64;
/// The recent logs together stay within about this many bytes (as stored, JSON): the
/// contact item has room to spare under DynamoDB's 400 KB however events arrive.
pub const HISTORY_BUDGET: usize = 48 * 1024;
/// Lifetime sums are kept for at most this many numeric properties per event name.
const SUMS_KEPT: usize = 16;
/// At most this many event names are kept; past it the name seen longest ago leaves,
/// lifetime count and all (a contact sent ever-new event names stays bounded too).
pub const NAMES_KEPT: usize = 256;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventHistory {
    /// Each log shared until it changes: a contact's copies (the store's, the engine's, a
    /// delivery's) cost a pointer per name, and recording an event copies only its log.
    #[serde(default)]
    names: BTreeMap<String, Arc<NameLog>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::model::timestamp::opt"
    )]
    pub last_engagement: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NameLog {
    /// Every event of this name ever recorded, also those no longer in `recent`.
    pub total: u64,
    /// Time-ordered; bounded by [`RECENT_PER_NAME`], [`RETENTION_DAYS`] and the history's
    /// [`HISTORY_BUDGET`].
    pub recent: Vec<StoredEvent>,
    /// Lifetime sums of numeric properties (the first [`SUMS_KEPT`] seen), also over
    /// events no longer in `recent`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "known_sums"
    )]
    pub sums: BTreeMap<String, f64>,
    /// How many of the `total` events `sums` has seen: a log from before sums were kept
    /// has fewer, and its sums are not lifetime sums.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub summed: u64,
}

/// Sums as stored, but for a `null` — a sum that overflowed before sums were kept finite,
/// written by JSON as `null` — which is left out (its window sum counts) rather than
/// making the whole contact unreadable.
fn known_sums<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
    let sums = BTreeMap::<String, Option<f64>>::deserialize(d)?;
    Ok(sums
        .into_iter()
        .filter_map(|(name, sum)| Some((name, sum?)))
        .collect())
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    #[serde(with = "crate::model::timestamp")]
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub props: Map<String, Value>,
}

impl EventHistory {
    /// Records an event in time order (late events land where they belong).
    pub fn record(&mut self, event: &Event) {
        if is_engagement(&event.name) && self.last_engagement.is_none_or(|t| t < event.at) {
            self.last_engagement = Some(event.at);
        }
        let log = Arc::make_mut(self.names.entry(event.name.clone()).or_default());
        log.total += 1;
        log.summed += 1;
        for (name, value) in event.props.iter().filter(|(k, _)| k.len() <= MAX_KEY) {
            if let Some(n) = number(value) {
                if log.sums.len() < SUMS_KEPT || log.sums.contains_key(name) {
                    add_finite(log.sums.entry(name.clone()).or_default(), n);
                }
            }
        }
        let props = event
            .props
            .iter()
            .filter(|(k, _)| k.len() <= MAX_KEY)
            .filter_map(|(k, v)| compact(v).map(|v| (k.clone(), v)))
            .take(PROPS_KEPT)
            .collect();
        let position = log.recent.partition_point(|e| e.at <= event.at);
        log.recent.insert(
            position,
            StoredEvent {
                at: event.at,
                props,
            },
        );
        log.trim();
        self.keep_within_budget();
    }

    /// Drops the oldest recent events, of whatever name, until the logs fit
    /// [`HISTORY_BUDGET`] (the newest event always stays).
    fn keep_within_budget(&mut self) {
        while self.names.len() > NAMES_KEPT {
            let stalest = self
                .names
                .iter()
                .min_by_key(|(_, log)| log.recent.last().map(|e| e.at))
                .map(|(name, _)| name.clone());
            if let Some(name) = stalest {
                self.names.remove(&name);
            }
        }
        let mut size: usize = self
            .names
            .iter()
            .map(|(name, log)| name.len() + log.recent.iter().map(stored_size).sum::<usize>())
            .sum();
        while size > HISTORY_BUDGET {
            let oldest = self
                .names
                .iter()
                .filter_map(|(name, log)| Some((log.recent.first()?.at, name)))
                .min()
                .map(|(_, name)| name.clone());
            let Some(log) = oldest.and_then(|name| self.names.get_mut(&name)) else {
                return;
            };
            size -= stored_size(&Arc::make_mut(log).recent.remove(0));
        }
    }

    /// Takes in the history of a profile merged into this one: lifetime counts added,
    /// recent events interleaved in time order and bounded as always, so windows and
    /// counts see both.
    pub fn absorb(&mut self, other: EventHistory) {
        self.last_engagement = self.last_engagement.max(other.last_engagement);
        for (name, theirs) in other.names {
            let theirs = Arc::unwrap_or_clone(theirs);
            let log = Arc::make_mut(self.names.entry(name).or_default());
            log.total += theirs.total;
            log.summed += theirs.summed;
            for (property, sum) in theirs.sums {
                if log.sums.len() < SUMS_KEPT || log.sums.contains_key(&property) {
                    add_finite(log.sums.entry(property).or_default(), sum);
                }
            }
            log.recent.extend(theirs.recent);
            // Stable: of two events at the same instant, this contact's stays first.
            log.recent.sort_by_key(|e| e.at);
            log.trim();
        }
        self.keep_within_budget();
    }

    pub fn log(&self, name: &str) -> Option<&NameLog> {
        self.names.get(name).map(Arc::as_ref)
    }

    pub fn names(&self) -> impl Iterator<Item = (&String, &NameLog)> {
        self.names.iter().map(|(name, log)| (name, log.as_ref()))
    }
}

impl NameLog {
    /// Keeps the recent log within [`RECENT_PER_NAME`] and [`RETENTION_DAYS`].
    fn trim(&mut self) {
        if let Some(newest) = self.recent.last().map(|e| e.at) {
            let horizon = newest - Duration::days(RETENTION_DAYS);
            let expired = self.recent.partition_point(|e| e.at < horizon);
            let excess = self.recent.len().saturating_sub(RECENT_PER_NAME);
            self.recent.drain(..expired.max(excess));
        }
    }

    /// The recent events at or after `from` and at or before `to`.
    pub fn between(&self, from: Option<DateTime<Utc>>, to: DateTime<Utc>) -> &[StoredEvent] {
        let start = from.map_or(0, |f| self.recent.partition_point(|e| e.at < f));
        let end = self.recent.partition_point(|e| e.at <= to);
        &self.recent[start.min(end)..end]
    }

    /// Whether the recent log still holds every event ever recorded (so lifetime questions
    /// with filters are exact).
    pub fn complete(&self) -> bool {
        self.total as usize == self.recent.len()
    }

    /// The lifetime sum of `property`, when the sums have seen every event of the name.
    pub fn lifetime_sum(&self, property: &str) -> Option<f64> {
        (self.summed == self.total)
            .then(|| self.sums.get(property).copied())
            .flatten()
    }
}

/// Adds to a lifetime sum, which stays finite however large the amounts (JSON has no
/// infinity: the stored contact would not read back).
fn add_finite(sum: &mut f64, n: f64) {
    *sum = (*sum + n).clamp(f64::MIN, f64::MAX);
}

/// About what `event` takes stored as JSON: its time, and each property's name and value.
fn stored_size(event: &StoredEvent) -> usize {
    let value = |v: &Value| match v {
        Value::String(s) => s.len() + 2,
        _ => 8,
    };
    40 + event
        .props
        .iter()
        .map(|(k, v)| k.len() + 4 + value(v))
        .sum::<usize>()
}

fn compact(value: &Value) -> Option<Value> {
    match value {
        Value::String(s) if s.len() > MAX_STRING => {
            let mut cut = MAX_STRING;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            Some(Value::String(s[..cut].to_string()))
        }
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(value.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + day * 86_400, 0).unwrap()
    }

    #[test]
    fn keeps_time_order_for_late_events_and_counts_windows() {
        let mut h = EventHistory::default();
        for day in [5, 1, 3] {
            h.record(&Event::new("purchase", at(day)).with("amount", day));
        }
        let log = h.log("purchase").unwrap();
        assert_eq!(
            log.recent.iter().map(|e| e.at).collect::<Vec<_>>(),
            vec![at(1), at(3), at(5)]
        );
        assert_eq!(log.between(Some(at(2)), at(4)).len(), 1);
        assert_eq!(log.between(None, at(10)).len(), 3);
        assert_eq!(h.last_engagement, Some(at(5)));
    }

    #[test]
    fn bounded_log_keeps_lifetime_totals() {
        let mut h = EventHistory::default();
        for i in 0..(RECENT_PER_NAME as i64 + 10) {
            h.record(&Event::new("page_viewed", at(0) + Duration::minutes(i)));
        }
        let log = h.log("page_viewed").unwrap();
        assert_eq!(log.recent.len(), RECENT_PER_NAME);
        assert_eq!(log.total, RECENT_PER_NAME as u64 + 10);
        assert!(!log.complete());
        h.record(&Event::new("page_viewed", at(RETENTION_DAYS + 5)));
        assert_eq!(
            h.log("page_viewed").unwrap().recent.len(),
            1,
            "older than the retention window"
        );
    }

    #[test]
    fn the_history_stays_within_its_budget_and_keeps_lifetime_counts_and_sums() {
        let mut h = EventHistory::default();
        let big = "x".repeat(10_000);
        // 16 events of ~26 KB each (the traffic that once overflowed a DynamoDB item),
        // of two names, with 100 properties each and a numeric amount.
        for i in 0..16i64 {
            let mut event =
                Event::new(if i % 2 == 0 { "a" } else { "b" }, at(i)).with("amount", 10);
            for p in 0..100 {
                event = event.with(&format!("p{p:03}"), big.as_str());
            }
            h.record(&event);
        }
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.len() <= HISTORY_BUDGET + 1024, "{} bytes", json.len());
        let (a, b) = (h.log("a").unwrap(), h.log("b").unwrap());
        assert_eq!((a.total, b.total), (8, 8), "lifetime counts stay exact");
        assert_eq!(
            (a.sums["amount"], b.sums["amount"]),
            (80.0, 80.0),
            "and sums"
        );
        assert!(!a.complete() && !b.complete(), "older events were dropped");
        // The newest events stay; a stored event keeps at most PROPS_KEPT properties.
        assert_eq!(b.recent.last().map(|e| e.at), Some(at(15)));
        assert!(b.recent.iter().all(|e| e.props.len() <= PROPS_KEPT));
        // The oldest went first, whatever their name.
        let oldest_kept = a.recent[0].at.min(b.recent[0].at);
        assert!(oldest_kept > at(0));
    }

    #[test]
    fn sums_from_before_they_were_kept_are_not_lifetime_sums_and_names_are_bounded() {
        // A log stored before sums existed: five purchases, no sums.
        let mut h: EventHistory =
            serde_json::from_str(r#"{"names":{"purchase":{"total":5,"recent":[]}}}"#).unwrap();
        // A sum stored as `null` (an overflow, before sums were kept finite) reads back
        // as no sum, not as an unreadable contact.
        let overflowed: EventHistory = serde_json::from_str(
            r#"{"names":{"refund":{"total":1,"summed":1,"recent":[],"sums":{"amount":null,"tax":2.0}}}}"#,
        )
        .unwrap();
        let refund = overflowed.log("refund").unwrap();
        assert_eq!(refund.lifetime_sum("amount"), None);
        assert_eq!(refund.lifetime_sum("tax"), Some(2.0));
        h.record(&Event::new("purchase", at(1)).with("amount", 10));
        let log = h.log("purchase").unwrap();
        assert_eq!(
            log.lifetime_sum("amount"),
            None,
            "the first five are not in it"
        );
        let mut fresh = EventHistory::default();
        fresh.record(&Event::new("purchase", at(1)).with("amount", "10.5"));
        assert_eq!(
            fresh.log("purchase").unwrap().lifetime_sum("amount"),
            Some(10.5)
        );
        // Ever-new event names: the ones seen longest ago leave.
        for i in 0..(NAMES_KEPT as i64 + 20) {
            h.record(&Event::new(
                &format!("name_{i}"),
                at(2) + Duration::minutes(i),
            ));
        }
        assert_eq!(h.names().count(), NAMES_KEPT);
        assert!(h.log("purchase").is_none() && h.log("name_0").is_none());
        assert!(h.log(&format!("name_{}", NAMES_KEPT + 19)).is_some());
    }
}
