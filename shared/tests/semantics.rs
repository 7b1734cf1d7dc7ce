//! The engine's side of the 2026-12 clarifications of the workflow language: goals on entry
//! (see `goals.rs`), score expiry journaled, segment triggers on activation, and no silent
//! cap on cascades.

mod support;

use chrono::Duration;
use kairos_core::{Input, Kind};
use serde_json::json;
use support::{t0, World};

#[test]
fn score_expiry_is_journaled_at_the_instant_the_points_expire() {
    let defs = "scoring:\n  - { event: page_viewed, points: 5, expires: 30d }\n  - { event: purchase, points: 20 }\n";
    let mut w = World::with_definitions(&[], defs);
    w.event("page_viewed", json!({}));
    w.advance(Duration::hours(1));
    w.event("purchase", json!({}));
    w.days(40);
    let scores: Vec<_> = w
        .journal
        .iter()
        .filter(|e| e.kind == Kind::ScoreChanged)
        .map(|e| (e.at, e.score, e.reason.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        scores,
        vec![
            (t0(), Some(5), "event page_viewed".to_string()),
            (
                t0() + Duration::hours(1),
                Some(25),
                "event purchase".to_string()
            ),
            (t0() + Duration::days(30), Some(20), "expired".to_string()),
        ]
    );
}

#[test]
fn a_cascade_that_never_settles_is_stopped_with_a_warning() {
    // Two workflows that keep undoing each other's tag.
    let ping = "id: ping\nentry: { triggers: [ { tag_added: a } ], reentry: concurrent }\nsteps:\n  - { id: swap, tag: { add: [b], remove: [a] } }\n";
    let pong = "id: pong\nentry: { triggers: [ { tag_added: b } ], reentry: concurrent }\nsteps:\n  - { id: swap, tag: { add: [a], remove: [b] } }\n";
    let mut w = World::new(&[ping, pong]);
    w.tag("a");
    let warnings: Vec<_> = w
        .journal
        .iter()
        .filter(|e| e.kind == Kind::Warning)
        .collect();
    assert_eq!(warnings.len(), 1, "{:#?}", w.lines());
    assert!(warnings[0]
        .message
        .as_deref()
        .unwrap()
        .contains("cascaded for 32 rounds"));
}

const SEGMENT_DEFS: &str = "segments:\n  vips: { tag: vip }\n";
const VIP_WELCOME: &str = "id: vip-welcome\nentry: { triggers: [ { segment_entered: vips } ] }\nsteps:\n  - { id: welcome, tag: { add: [welcomed] } }\n";

#[test]
fn a_member_before_activation_is_not_enrolled_one_who_joins_after_is() {
    let mut w = World::with_definitions(&[], SEGMENT_DEFS);
    w.tag("vip");
    // Stored, as the pipeline would have saved it after handling an input; then the
    // workflow is deployed.
    w.state.version = 1;
    w.state.remember_handled(1);
    let mut catalog = support::catalog(&[VIP_WELCOME], Some(SEGMENT_DEFS));
    std::mem::swap(&mut w.catalog, &mut catalog);
    w.event("page_viewed", json!({}));
    assert!(
        !w.journal.iter().any(|e| e.kind == Kind::Entered),
        "already a member when deployed: {:#?}",
        w.lines()
    );
    // Leaving and joining again is an entry.
    w.untag("vip");
    w.tag("vip");
    assert_eq!(w.only(&[Kind::Entered]).len(), 1, "{:#?}", w.lines());
}

#[test]
fn enroll_existing_takes_the_members_of_a_segment_trigger() {
    let enroll = VIP_WELCOME.replace("] }\nsteps", "], enroll_existing: true }\nsteps");
    let mut w = World::with_definitions(&[], SEGMENT_DEFS);
    w.tag("vip");
    w.state.version = 1;
    w.state.remember_handled(1);
    let mut catalog = support::catalog(&[&enroll], Some(SEGMENT_DEFS));
    std::mem::swap(&mut w.catalog, &mut catalog);
    w.input(Input::EnrollExisting {
        workflow: "vip-welcome".into(),
    });
    assert_eq!(w.only(&[Kind::Entered]).len(), 1, "{:#?}", w.lines());
}

const DORMANT_DEFS: &str = "segments:\n  dormant: { inactive_for: 14d }\n  recent-buyers: { event: { name: purchase, within: 10d } }\n";

#[test]
fn a_dormant_segment_is_entered_at_exactly_day_fourteen_with_no_other_input() {
    let wf = "id: winback\nentry: { triggers: [ { segment_entered: dormant } ] }\nsteps:\n  - { id: mark, tag: { add: [winback] } }\n";
    let mut w = World::with_definitions(&[wf], DORMANT_DEFS);
    w.event("page_viewed", json!({}));
    w.days(20);
    let entered: Vec<_> = w
        .journal
        .iter()
        .filter(|e| e.kind == Kind::Entered)
        .map(|e| (e.at, e.reason.clone()))
        .collect();
    assert_eq!(
        entered,
        vec![(t0() + Duration::days(14), Some("segment_entered".into()))]
    );
}

#[test]
fn a_segment_is_left_and_entered_again_by_time_alone() {
    let left = "id: lapsed\nentry: { triggers: [ { segment_left: recent-buyers } ], reentry: concurrent }\nsteps:\n  - { id: mark, tag: { add: [lapsed] } }\n";
    let back = "id: back\nentry: { triggers: [ { segment_entered: recent-buyers } ], reentry: concurrent }\nsteps:\n  - { id: mark, tag: { add: [back] } }\n";
    let mut w = World::with_definitions(&[left, back], DORMANT_DEFS);
    w.event("purchase", json!({}));
    w.days(15);
    w.event("purchase", json!({}));
    w.days(15);
    let entries: Vec<_> = w
        .journal
        .iter()
        .filter(|e| e.kind == Kind::Entered)
        .map(|e| (e.at, e.workflow.clone().unwrap()))
        .collect();
    assert_eq!(
        entries,
        // A window includes its end: the purchase is "within 10d" until 10 days have
        // passed, and the contact leaves one second later.
        vec![
            (t0(), "back".to_string()),
            (
                t0() + Duration::days(10) + Duration::seconds(1),
                "lapsed".to_string()
            ),
            (t0() + Duration::days(15), "back".to_string()),
            (
                t0() + Duration::days(25) + Duration::seconds(1),
                "lapsed".to_string()
            ),
        ]
    );
}
