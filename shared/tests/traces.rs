//! Decision traces: every decision the engine journals carries its evidence — each leaf
//! with the value it observed and its answer — exactly, and the evidence always agrees
//! with the plain evaluation.

mod support;

use chrono::Duration;
use kairos_core::delivery::{decide, Decision};
use kairos_core::engine::eval::Scope;
use kairos_core::language::condition::Condition;
use kairos_core::model::trace::Trace;
use kairos_core::{JournalEntry, Kind};
use serde_json::{json, Value};
use support::*;

/// The trace of the first entry of `kind` (at `step`, when given), as JSON.
fn trace(w: &World, kind: Kind, step: Option<&str>) -> Value {
    let entry: &JournalEntry = w
        .journal
        .iter()
        .find(|e| e.kind == kind && step.is_none_or(|s| e.step.as_deref() == Some(s)))
        .unwrap_or_else(|| panic!("no {kind:?} at {step:?} in {:#?}", w.lines()));
    serde_json::to_value(entry.trace.as_deref().expect("a trace")).unwrap()
}

const VIP: &str = r#"
id: vip
entry: { triggers: [ { event: checkout } ] }
steps:
  - id: big-spender
    if:
      all:
        - { tag: vip }
        - { event: { name: purchase, within: 30d, count: { gte: 2 } } }
        - { field: { name: plan, eq: pro } }
    then: [ { id: thanks, tag: { add: [thanked] } } ]
    else: [ { id: nudge, tag: { add: [nudged] } } ]
"#;

#[test]
fn an_if_journals_each_test_with_what_it_found() {
    let mut w = World::new(&[VIP]);
    w.tag("vip");
    w.event("purchase", json!({}));
    w.event("checkout", json!({}));
    assert_eq!(
        trace(&w, Kind::Step, Some("big-spender")),
        json!({ "test": "all", "holds": false, "of": [
            { "test": "tag vip", "holds": true },
            { "test": "event purchase within 30d, count ≥ 2", "observed": 1, "holds": false },
            { "test": "field plan = pro", "observed": null, "holds": false },
        ]})
    );
    let entry = w
        .journal
        .iter()
        .find(|e| e.step.as_deref() == Some("big-spender"))
        .unwrap();
    assert_eq!(entry.branch.as_deref(), Some("else"));
    assert_eq!(
        entry.trace.as_ref().unwrap().reasons(),
        vec![
            "event purchase within 30d, count ≥ 2: 1 → false",
            "field plan = pro: none → false"
        ]
    );
}

const GOALS: &str = r#"
id: onboarding
entry: { triggers: [ { event: signed_up } ] }
exit_when: { tag: churned }
steps:
  - id: activated
    goal: { when: { event: { name: activated } }, otherwise: continue }
  - id: pause
    wait: { until: { score: { gte: 5 } }, timeout: 2d }
  - id: paid
    goal: { when: { list: customers }, scope: anywhere }
  - { id: later, wait: { for: 10d } }
"#;

#[test]
fn goals_waits_and_exits_carry_their_evidence() {
    let defs = "scoring:\n  - { event: clicked, points: 5 }\n";
    let mut w = World::with_definitions(&[GOALS], defs);
    w.event("signed_up", json!({}));
    // Walked onto a goal that does not hold: the goal step says why.
    assert_eq!(
        trace(&w, Kind::Step, Some("activated")),
        json!({ "test": "event activated, count ≥ 1", "observed": 0, "holds": false })
    );
    // The wait times out: what it waited for, still missing.
    w.days(2);
    assert_eq!(
        trace(&w, Kind::Woke, Some("pause")),
        json!({ "test": "score lead ≥ 5", "observed": 0, "holds": false })
    );
    // Joining the list jumps back to the goal (`scope: anywhere`).
    w.input(kairos_core::Input::Lists {
        join: vec!["customers".into()],
        leave: vec![],
    });
    assert_eq!(
        trace(&w, Kind::GoalAchieved, Some("paid")),
        json!({ "test": "list customers", "holds": true })
    );
    w.tag("churned");
    assert_eq!(
        trace(&w, Kind::Exited, None),
        json!({ "test": "tag churned", "holds": true })
    );

    // A condition wait that comes true says what made it.
    let mut w = World::with_definitions(&[GOALS], defs);
    w.event("signed_up", json!({}));
    w.event("clicked", json!({}));
    assert_eq!(
        trace(&w, Kind::Woke, Some("pause")),
        json!({ "test": "score lead ≥ 5", "observed": 5, "holds": true })
    );
}

const ENTRY: &str = r#"
id: high-intent
entry:
  triggers: [ { event: viewed, where: { seconds: { gt: 30 } } } ]
  segment: { segment: engaged }
  reentry: after_exit
steps:
  - { id: wait, wait: { for: 1d } }
"#;

#[test]
fn entries_and_refusals_say_why() {
    let defs = "segments:\n  engaged: { tag: engaged }\n";
    let mut w = World::with_definitions(&[ENTRY], defs);
    w.event("viewed", json!({ "seconds": 45 }));
    assert_eq!(
        trace(&w, Kind::EntryRefused, None),
        json!({ "test": "segment engaged", "holds": false, "of": [ { "test": "tag engaged", "holds": false } ] })
    );
    w.tag("engaged");
    w.clear();
    w.event("viewed", json!({ "seconds": 45 }));
    assert_eq!(
        trace(&w, Kind::Entered, None),
        json!({ "test": "all", "holds": true, "of": [
            { "test": "property seconds > 30", "observed": 45, "holds": true },
            { "test": "segment engaged", "holds": true, "of": [ { "test": "tag engaged", "holds": true } ] },
        ]})
    );
    w.clear();
    w.event("viewed", json!({ "seconds": 50 }));
    assert_eq!(
        trace(&w, Kind::EntryRefused, None),
        json!({ "test": "reentry after_exit: no run active", "observed": ["high-intent:1"], "holds": false })
    );
    let refusal = w
        .journal
        .iter()
        .find(|e| e.kind == Kind::EntryRefused)
        .unwrap();
    assert_eq!(refusal.reason.as_deref(), Some("reentry"));
    // A filter that does not match is no trigger at all: nothing to refuse.
    w.clear();
    w.event("viewed", json!({ "seconds": 5 }));
    assert!(w.journal.is_empty(), "{:?}", w.lines());
}

const SEGMENT: &str = r#"
id: lapsed
entry: { triggers: [ { segment_entered: lapsed } ] }
steps:
  - { id: hi, tag: { add: [win-back] } }
"#;

#[test]
fn segment_entry_and_exit_are_journaled_with_evidence() {
    let defs = "segments:\n  lapsed: { inactive_for: 30d }\n";
    let mut w = World::with_definitions(&[SEGMENT], defs);
    w.event("page_viewed", json!({}));
    w.clear();
    w.advance(Duration::days(31));
    assert_eq!(
        trace(&w, Kind::SegmentEntered, None),
        json!({ "test": "inactive for 30d (last engaged)", "observed": "2026-01-05T08:00:00+00:00", "holds": true })
    );
    let entry = w
        .journal
        .iter()
        .find(|e| e.kind == Kind::SegmentEntered)
        .unwrap();
    assert_eq!(entry.name.as_deref(), Some("lapsed"));
    w.event("page_viewed", json!({}));
    assert_eq!(trace(&w, Kind::SegmentLeft, None)["holds"], false);
}

#[test]
fn a_suppression_names_the_test_that_failed() {
    let defs = kairos_core::language::load_definitions(
        "definitions.yaml",
        "delivery:\n  frequency_cap: { email: { max: 1, per: 7d } }\n",
    )
    .unwrap();
    let mut state = kairos_core::ContactState::new(kairos_core::Contact::new("c1", t0()));
    state.contact.email = Some("c1@example.com".into());
    state
        .history
        .record(&kairos_core::Event::new("email_sent", t0()).with("category", "marketing"));
    let message: kairos_core::Message = serde_json::from_value(json!({
        "key": "k", "contact": "c1", "workflow": "w", "version": 1, "run": "w:1", "step": "s",
        "channel": "email", "template": "t", "category": "marketing", "due": t0()
    }))
    .unwrap();
    let Decision::Suppress(reason, trace) =
        decide(&message, &state, &defs, t0() + Duration::hours(1))
    else {
        panic!("the cap holds")
    };
    assert_eq!(reason.as_str(), "frequency_cap");
    assert_eq!(
        serde_json::to_value(trace).unwrap(),
        json!({ "test": "frequency cap email: fewer than 1 marketing messages in 1w", "observed": 1, "holds": false })
    );
}

#[test]
fn evidence_agrees_with_the_plain_evaluation() {
    let defs = kairos_core::language::load_definitions(
        "definitions.yaml",
        "segments:\n  fans: { any: [ { tag: fan }, { score: { gte: 3 } } ] }\n",
    )
    .unwrap();
    let mut state = kairos_core::ContactState::new(kairos_core::Contact::new("c1", t0()));
    state.contact.tags.insert("fan".into());
    state
        .history
        .record(&kairos_core::Event::new("purchase", t0()).with("amount", 30));
    let conditions = [
        json!({ "tag": "fan" }),
        json!({ "not": { "segment": "fans" } }),
        json!({ "any": [ { "list": "x" }, { "event": { "name": "purchase", "sum": { "of": "amount", "gt": 20 } } } ] }),
        json!({ "all": [ { "inactive_for": "1d" }, { "field": { "name": "email", "exists": false } } ] }),
        json!({ "event": { "name": "purchase", "within": "1h", "where": { "amount": { "lt": 10 } }, "count": { "eq": 0 } } }),
    ];
    for now in [t0(), t0() + Duration::days(2)] {
        let scope = Scope {
            state: &state,
            definitions: &defs,
            now,
            run: None,
        };
        for c in &conditions {
            let condition: Condition = kairos_core::language::parse::from_value(c.clone()).unwrap();
            let evidence: Trace = scope.evidence(&condition);
            assert_eq!(evidence.holds, scope.holds(&condition), "{c} at {now}");
        }
    }
}
