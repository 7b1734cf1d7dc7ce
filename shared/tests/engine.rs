//! Engine behaviour through the public API: every step kind, trigger, reentry mode, key,
//! `exit_when`, scoring and migration, each asserting the exact journal.

mod support;

use chrono::Duration;
use kairos_core::{Effect, Input, Kind, TimerKind};
use serde_json::json;
use support::*;

const WELCOME: &str = r#"
id: welcome
entry: { triggers: [ { event: signed_up } ] }
steps:
  - { id: hello, send: { channel: email, template: welcome } }
  - { id: pause, wait: { for: 2d } }
  - { id: tips, send: { channel: email, template: tips } }
"#;

#[test]
fn send_wait_send_then_complete() {
    let mut w = World::new(&[WELCOME]);
    w.event("signed_up", json!({}));
    assert_eq!(
        w.lines(),
        vec![
            "entered welcome signed_up",
            "step hello",
            "step pause",
            "waiting pause 2026-01-07T08:00:00Z"
        ]
    );
    assert_eq!(w.sends(), vec!["hello welcome"]);
    w.clear();
    w.days(2);
    assert_eq!(
        w.lines(),
        vec!["woke pause time", "step tips", "exited tips completed"]
    );
    assert_eq!(w.sends(), vec!["tips tips"]);
    assert!(w.state.runs.is_empty());
}

#[test]
fn message_keys_are_deterministic_per_run_step_and_visit() {
    let mut w = World::new(&[WELCOME]);
    w.event("signed_up", json!({}));
    let Some(Effect::Send(m)) = w.effects.iter().find(|e| matches!(e, Effect::Send(_))) else {
        panic!()
    };
    let born = w.state.contact.created_at.timestamp_micros();
    assert_eq!(m.key, format!("c1/{born}/welcome:1/hello/1"));
    assert_eq!(m.run, "welcome:1");
}

#[test]
fn stale_timers_do_nothing() {
    let mut w = World::new(&[WELCOME]);
    w.event("signed_up", json!({}));
    let timer = w.timers.first().cloned().unwrap();
    w.days(2);
    w.clear();
    // The same timer delivered again (SQS at-least-once) after the run moved on.
    w.input(Input::Timer(timer));
    assert!(w.journal.is_empty());
    assert!(w.effects.is_empty());
}

#[test]
fn early_timer_is_ignored() {
    let mut w = World::new(&[WELCOME]);
    w.event("signed_up", json!({}));
    let timer = w.timers.first().cloned().unwrap();
    w.clear();
    w.input(Input::Timer(timer)); // delivered before its due time
    assert!(w.journal.is_empty());
}

#[test]
fn wait_until_a_date_in_the_past_does_not_wait() {
    let wf = r#"
id: promo
entry: { triggers: [ { event: go } ] }
steps:
  - { id: past, wait: { until: "2025-12-24T09:00:00Z" } }
  - { id: future, wait: { until: "2026-12-24T09:00:00Z" } }
  - { id: done, tag: { add: [xmas] } }
"#;
    let mut w = World::new(&[wf]);
    w.event("go", json!({}));
    assert_eq!(
        w.lines()[1..],
        [
            "step past",
            "step future",
            "waiting future 2026-12-24T09:00:00Z"
        ]
    );
    w.clear();
    w.days(400);
    assert_eq!(
        w.lines(),
        vec![
            "woke future time",
            "step done",
            "tag_added done xmas",
            "exited done completed"
        ]
    );
}

#[test]
fn until_time_uses_the_contact_timezone_and_weekdays_across_dst() {
    let wf = r#"
id: digest
entry: { triggers: [ { event: go } ] }
steps:
  - { id: morning, wait: { until_time: "09:00", days: [mon], tz: contact } }
  - { id: done, end: true }
"#;
    let mut w = World::new(&[wf]);
    w.state.contact.timezone = "America/New_York".parse().unwrap();
    // Saturday 2026-03-07 15:00 UTC = 10:00 EST; DST starts Sunday 03-08.
    w.now = "2026-03-07T15:00:00Z".parse().unwrap();
    w.event("go", json!({}));
    assert_eq!(
        w.lines().last().unwrap(),
        "waiting morning 2026-03-09T13:00:00Z"
    );
    // A named zone overrides the contact's.
    let wf_berlin = wf
        .replace("id: digest", "id: digest2")
        .replace("tz: contact", "tz: Europe/Berlin");
    let mut w = World::new(&[&wf_berlin]);
    w.now = "2026-03-28T10:00:00Z".parse().unwrap(); // Saturday; CEST starts Sunday 03-29
    w.event("go", json!({}));
    assert_eq!(
        w.lines().last().unwrap(),
        "waiting morning 2026-03-30T07:00:00Z"
    );
}

#[test]
fn until_time_at_the_exact_minute_does_not_wait() {
    let wf = r#"
id: now
entry: { triggers: [ { event: go } ] }
steps:
  - { id: nine, wait: { until_time: "08:00" } }
"#;
    let mut w = World::new(&[wf]);
    w.event("go", json!({})); // t0 is 08:00 UTC
    assert_eq!(
        w.lines(),
        vec!["entered now go", "step nine", "exited nine completed"]
    );
}

const WAIT_FOR_PURCHASE: &str = r#"
id: cart
entry: { triggers: [ { event: cart_updated } ] }
steps:
  - { id: hold, wait: { until: { event: { name: purchase, since: run_start } }, timeout: 3d } }
  - { id: after, tag: { add: [checked] } }
"#;

#[test]
fn condition_wait_passes_when_the_condition_becomes_true() {
    let mut w = World::new(&[WAIT_FOR_PURCHASE]);
    w.event("cart_updated", json!({}));
    assert_eq!(
        w.lines().last().unwrap(),
        "waiting hold 2026-01-08T08:00:00Z"
    );
    w.clear();
    w.days(1);
    w.event("purchase", json!({}));
    assert_eq!(
        w.lines(),
        vec![
            "woke hold condition",
            "step after",
            "tag_added after checked",
            "exited after completed"
        ]
    );
    w.clear();
    w.days(5); // the timeout timer is stale now
    assert!(w.journal.is_empty());
}

#[test]
fn condition_wait_times_out_and_continues() {
    let mut w = World::new(&[WAIT_FOR_PURCHASE]);
    w.event("cart_updated", json!({}));
    w.clear();
    w.days(3);
    assert_eq!(
        w.lines(),
        vec![
            "woke hold timeout",
            "step after",
            "tag_added after checked",
            "exited after completed"
        ]
    );
}

#[test]
fn condition_wait_without_timeout_waits_forever() {
    let wf = WAIT_FOR_PURCHASE.replace(", timeout: 3d", "");
    let mut w = World::new(&[&wf]);
    w.event("cart_updated", json!({}));
    assert_eq!(w.lines().last().unwrap(), "waiting hold");
    assert!(w.timers.is_empty());
    w.days(365);
    assert_eq!(w.runs(), vec!["cart:1"]);
}

#[test]
fn condition_already_true_does_not_wait() {
    let mut w = World::new(&[WAIT_FOR_PURCHASE
        .replace("since: run_start", "within: 1d")
        .as_str()]);
    w.event("purchase", json!({}));
    w.event("cart_updated", json!({}));
    assert_eq!(
        w.lines(),
        vec![
            "entered cart cart_updated",
            "step hold",
            "step after",
            "tag_added after checked",
            "exited after completed"
        ]
    );
}

#[test]
fn if_branches_and_continues_after_the_enclosing_step() {
    let wf = r#"
id: branch
entry: { triggers: [ { event: go } ] }
steps:
  - id: vip
    if: { tag: vip }
    then: [ { id: gold, tag: { add: [gold] } } ]
    else: [ { id: std, tag: { add: [standard] } } ]
  - { id: last, tag: { add: [done] } }
"#;
    let mut w = World::new(&[wf]);
    w.tag("vip");
    w.clear();
    w.event("go", json!({}));
    assert_eq!(
        w.lines(),
        vec![
            "entered branch go",
            "step vip then",
            "step gold",
            "tag_added gold gold",
            "step last",
            "tag_added last done",
            "exited last completed"
        ]
    );
    let mut w = World::new(&[wf]);
    w.event("go", json!({}));
    assert_eq!(
        w.only(&[Kind::Step]),
        vec!["step vip else", "step std", "step last"]
    );
}

#[test]
fn empty_branch_goes_straight_on() {
    let wf = r#"
id: branch
entry: { triggers: [ { event: go } ] }
steps:
  - { id: check, if: { tag: vip }, then: [ { id: gold, tag: { add: [gold] } } ] }
  - { id: last, end: true }
"#;
    let mut w = World::new(&[wf]);
    w.event("go", json!({}));
    assert_eq!(
        w.only(&[Kind::Step, Kind::Exited]),
        vec!["step check else", "step last", "exited last ended"]
    );
}

const SPLIT: &str = r#"
id: ab
entry: { triggers: [ { event: go } ], reentry: concurrent }
steps:
  - id: test
    split:
      - { weight: 50, steps: [ { id: a, tag: { add: [a] } } ] }
      - { weight: 50, steps: [ { id: b, tag: { add: [b] } } ] }
  - { id: after, end: true }
"#;

#[test]
fn split_is_stable_per_contact_and_run_and_follows_weights() {
    let mut counts = [0usize; 2];
    for i in 0..2000 {
        let mut w = World::new(&[SPLIT]);
        w.state.contact.id = format!("c{i}");
        w.event("go", json!({}));
        let branch = w
            .journal
            .iter()
            .find(|e| e.step.as_deref() == Some("test"))
            .unwrap()
            .branch
            .clone()
            .unwrap();
        // Same contact and run → same branch, every time.
        let mut again = World::new(&[SPLIT]);
        again.state.contact.id = format!("c{i}");
        again.event("go", json!({}));
        assert_eq!(
            again
                .journal
                .iter()
                .find(|e| e.step.as_deref() == Some("test"))
                .unwrap()
                .branch
                .clone()
                .unwrap(),
            branch
        );
        counts[branch.parse::<usize>().unwrap()] += 1;
    }
    assert!((900..=1100).contains(&counts[0]), "{counts:?}");
    let lopsided =
        SPLIT
            .replacen("weight: 50", "weight: 100", 1)
            .replacen("weight: 50", "weight: 0", 1);
    for i in 0..50 {
        let mut w = World::new(&[&lopsided]);
        w.state.contact.id = format!("c{i}");
        w.event("go", json!({}));
        assert!(w.lines().contains(&"step a".to_string()));
    }
}

#[test]
fn tag_list_score_and_set_steps_record_real_changes_only() {
    let wf = r#"
id: actions
entry: { triggers: [ { event: go } ] }
steps:
  - { id: t, tag: { add: [customer, lead], remove: [prospect] } }
  - { id: l, list: { join: [buyers], leave: [trial] } }
  - { id: s1, score: { add: 10 } }
  - { id: s2, score: { set: 3, name: engagement } }
  - { id: f, set: { lifecycle_stage: customer, plan: pro } }
"#;
    let mut w = World::new(&[wf]);
    w.state.contact.tags.insert("lead".into());
    w.state.contact.tags.insert("prospect".into());
    w.state.contact.lists.insert("trial".into());
    w.state.contact.fields.insert("plan".into(), json!("pro"));
    w.event("go", json!({}));
    assert_eq!(
        w.only(&[
            Kind::TagAdded,
            Kind::TagRemoved,
            Kind::ListJoined,
            Kind::ListLeft,
            Kind::ScoreChanged,
            Kind::FieldSet
        ]),
        vec![
            "tag_added t customer",
            "tag_removed t prospect",
            "list_joined l buyers",
            "list_left l trial",
            "score_changed s1 10",
            "score_changed s2 3",
            "field_set f lifecycle_stage",
        ]
    );
    assert_eq!(w.state.contact.score("lead", w.now), 10);
    assert_eq!(w.state.contact.score("engagement", w.now), 3);
    assert_eq!(w.state.contact.fields["lifecycle_stage"], json!("customer"));
}

#[test]
fn start_and_stop_other_workflows() {
    let a = r#"
id: a
entry: { triggers: [ { event: go } ] }
steps:
  - { id: kick, start: b }
  - { id: halt, stop: c }
"#;
    let b = r#"
id: b
steps: [ { id: b1, wait: { for: 1d } } ]
"#;
    let c = r#"
id: c
entry: { triggers: [ { event: enter_c } ] }
steps: [ { id: c1, wait: { for: 10d } } ]
"#;
    let mut w = World::new(&[a, b, c]);
    w.event("enter_c", json!({}));
    w.clear();
    w.event("go", json!({}));
    assert_eq!(
        w.lines(),
        vec![
            "entered a go",
            "step kick",
            "step halt",
            "exited halt completed",
            "entered b go",
            "step b1",
            "waiting b1 2026-01-06T08:00:00Z",
            "exited c1 stopped",
        ]
    );
    assert_eq!(w.runs(), vec!["b:3"]);
}

#[test]
fn webhook_carries_contact_and_run() {
    let wf = r#"
id: hook
entry: { triggers: [ { event: go } ] }
steps: [ { id: notify, webhook: { url: "https://crm.example.com/hook" } } ]
"#;
    let mut w = World::new(&[wf]);
    w.event("go", json!({"plan": "pro"}));
    let Some(Effect::Webhook(call)) = w.effects.first() else {
        panic!("{:?}", w.effects)
    };
    assert_eq!(call.url, "https://crm.example.com/hook");
    let born = w.state.contact.created_at.timestamp_micros();
    assert_eq!(call.key, format!("c1/{born}/hook:1/notify/1"));
    assert_eq!(call.body["run"]["id"], "hook:1");
    assert_eq!(call.body["contact"]["id"], "c1");
    assert_eq!(call.body["event"]["props"]["plan"], "pro");
}

#[test]
fn goto_loops_through_a_wait() {
    let wf = r#"
id: loop
entry: { triggers: [ { event: go } ] }
steps:
  - { id: nudge, send: { channel: sms, template: nudge } }
  - { id: pause, wait: { for: 1d } }
  - { id: again, if: { tag: stop }, then: [ { id: bye, end: true } ] }
  - { id: back, goto: nudge }
"#;
    let mut w = World::new(&[wf]);
    w.event("go", json!({}));
    w.days(2);
    w.tag("stop");
    w.days(1);
    assert_eq!(w.sends(), vec!["nudge nudge", "nudge nudge", "nudge nudge"]);
    let keys: Vec<String> = w
        .effects
        .iter()
        .filter_map(|e| {
            if let Effect::Send(m) = e {
                Some(m.key.clone())
            } else {
                None
            }
        })
        .collect();
    let born = w.state.contact.created_at.timestamp_micros();
    assert_eq!(
        keys,
        [1, 5, 9].map(|visit| format!("c1/{born}/loop:1/nudge/{visit}"))
    );
    assert_eq!(w.lines().last().unwrap(), "exited bye ended");
}

#[test]
fn exit_when_leaves_at_once() {
    let wf = r#"
id: nurture
entry: { triggers: [ { event: go } ] }
exit_when: { tag: customer }
steps:
  - { id: w1, wait: { for: 7d } }
  - { id: m1, send: { channel: email, template: t } }
"#;
    let mut w = World::new(&[wf]);
    w.event("go", json!({}));
    w.days(1);
    w.clear();
    w.tag("customer");
    assert_eq!(w.lines(), vec!["tag_added customer", "exited w1 exit_when"]);
    w.days(10);
    assert!(w.sends().is_empty());
}

// ---- triggers ----

fn entered(w: &World) -> Vec<String> {
    w.only(&[Kind::Entered])
}

#[test]
fn event_trigger_with_where_filter() {
    let wf = r#"
id: pro
entry: { triggers: [ { event: signed_up, where: { plan: { eq: pro } } } ], reentry: concurrent }
steps: [ { id: x, end: true } ]
"#;
    let mut w = World::new(&[wf]);
    w.event("signed_up", json!({"plan": "free"}));
    assert!(entered(&w).is_empty());
    w.event("signed_up", json!({"plan": "pro"}));
    assert_eq!(entered(&w), vec!["entered pro signed_up"]);
}

#[test]
fn tag_list_and_field_triggers() {
    let wfs = [
        "id: ta\nentry: { triggers: [ { tag_added: vip } ] }\nsteps: [ { id: x, end: true } ]",
        "id: tr\nentry: { triggers: [ { tag_removed: lead } ] }\nsteps: [ { id: x, end: true } ]",
        "id: lj\nentry: { triggers: [ { list_joined: news } ] }\nsteps: [ { id: x, end: true } ]",
        "id: ll\nentry: { triggers: [ { list_left: news } ] }\nsteps: [ { id: x, end: true } ]",
        "id: fc\nentry: { triggers: [ { field_changed: stage, to: customer } ] }\nsteps: [ { id: x, end: true } ]",
    ];
    let mut w = World::new(&wfs);
    w.tag("vip");
    w.tag("lead");
    w.untag("lead");
    w.input(Input::Lists {
        join: vec!["news".into()],
        leave: vec![],
    });
    w.input(Input::Lists {
        join: vec![],
        leave: vec!["news".into()],
    });
    w.input(Input::Identify(kairos_core::Profile {
        fields: [("stage".to_string(), json!("lead"))].into(),
        ..Default::default()
    }));
    assert_eq!(entered(&w).len(), 4);
    w.input(Input::Identify(kairos_core::Profile {
        fields: [("stage".to_string(), json!("customer"))].into(),
        ..Default::default()
    }));
    assert_eq!(
        entered(&w),
        vec![
            "entered ta tag_added",
            "entered tr tag_removed",
            "entered lj list_joined",
            "entered ll list_left",
            "entered fc field_changed"
        ]
    );
}

const BIRTHDAY: &str = r#"
id: birthday
entry:
  triggers: [ { date: { field: birthday, each_year: true, at: "09:00", offset: -1d } } ]
  reentry: after_exit
steps: [ { id: card, send: { channel: email, template: birthday } } ]
"#;

#[test]
fn date_trigger_fires_each_year_in_the_contact_timezone() {
    let mut w = World::new(&[BIRTHDAY]);
    w.state.contact.timezone = "Europe/Berlin".parse().unwrap();
    w.input(Input::Identify(kairos_core::Profile {
        fields: [("birthday".to_string(), json!("1990-03-30"))].into(),
        ..Default::default()
    }));
    // The day before, 09:00 Berlin: 2026-03-29 is the DST switch day (CEST, UTC+2).
    let due: Vec<String> = w.timers.iter().map(|t| t.due.to_rfc3339()).collect();
    assert_eq!(due, vec!["2026-03-29T07:00:00+00:00"]);
    w.days(90);
    assert_eq!(w.sends(), vec!["card birthday"]);
    assert_eq!(
        w.timers.first().unwrap().due.to_rfc3339(),
        "2027-03-29T07:00:00+00:00"
    );
    w.days(365);
    assert_eq!(w.sends().len(), 2);
}

#[test]
fn date_trigger_follows_a_changed_date() {
    let mut w = World::new(&[BIRTHDAY]);
    w.input(Input::Identify(kairos_core::Profile {
        fields: [("birthday".to_string(), json!("1990-02-01"))].into(),
        ..Default::default()
    }));
    w.input(Input::Identify(kairos_core::Profile {
        fields: [("birthday".to_string(), json!("1990-06-01"))].into(),
        ..Default::default()
    }));
    w.days(100);
    assert!(w.sends().is_empty(), "the old date's timer is stale");
    w.days(100);
    assert_eq!(w.sends(), vec!["card birthday"]);
    assert_eq!(
        w.journal
            .iter()
            .find(|e| e.kind == Kind::Entered)
            .unwrap()
            .at
            .to_rfc3339(),
        "2026-05-31T09:00:00+00:00"
    );
}

/// Contacts who spent over 100 in all.
const BIG_SPENDER: &str = r#"
segments:
  big-spender: { event: { name: purchase, sum: { of: amount, gt: 100 } } }
"#;

#[test]
fn segment_entered_trigger_fires_on_entry_only() {
    let wf = r#"
id: vip
entry: { triggers: [ { segment_entered: big-spender } ], reentry: concurrent }
steps: [ { id: x, tag: { add: [vip] } } ]
"#;
    let mut w = World::with_definitions(&[wf], BIG_SPENDER);
    w.event("purchase", json!({"amount": 60}));
    assert!(entered(&w).is_empty());
    w.event("purchase", json!({"amount": 60}));
    assert_eq!(entered(&w), vec!["entered vip segment_entered"]);
    w.event("purchase", json!({"amount": 60}));
    assert_eq!(
        entered(&w).len(),
        1,
        "still in the segment: no second entry"
    );
}

/// A lifetime sum stays exact when the history's budget has dropped the events it adds up
/// (big events push the old purchases out; the aggregate keeps them), while a windowed
/// sum counts the events kept.
#[test]
fn a_lifetime_sum_outlives_the_events_the_budget_dropped() {
    let wf = r#"
id: vip
entry: { triggers: [ { segment_entered: big-spender } ] }
steps: [ { id: x, tag: { add: [vip] } } ]
"#;
    let mut w = World::with_definitions(&[wf], BIG_SPENDER);
    w.event("purchase", json!({"amount": 60}));
    // Each page view carries 32 properties of 256 bytes: ~8 KB stored; six push the
    // first purchase out of the 48 KB the history keeps.
    let wide: serde_json::Map<String, serde_json::Value> = (0..32)
        .map(|i| (format!("p{i:02}"), json!("x".repeat(256))))
        .collect();
    for _ in 0..8 {
        w.days(1);
        w.event("page_viewed", serde_json::Value::Object(wide.clone()));
    }
    let log = w.state.history.log("purchase");
    assert!(
        log.is_none_or(|l| l.recent.is_empty()),
        "the purchase left the log"
    );
    w.event("purchase", json!({"amount": "50"}));
    assert_eq!(
        entered(&w),
        vec!["entered vip segment_entered"],
        "60 + 50 > 100 over the lifetime"
    );
}

#[test]
fn enroll_existing_without_trigger_respects_the_segment() {
    let wf = r#"
id: engagement
entry: { enroll_existing: true, segment: { list: newsletter } }
steps: [ { id: x, tag: { add: [engaged] } } ]
"#;
    let mut w = World::new(&[wf]);
    w.input(Input::EnrollExisting {
        workflow: "engagement".into(),
    });
    assert!(entered(&w).is_empty());
    w.state.contact.lists.insert("newsletter".into());
    w.input(Input::EnrollExisting {
        workflow: "engagement".into(),
    });
    assert_eq!(entered(&w), vec!["entered engagement"]);
}

// ---- reentry and keys ----

const REENTRY: &str = r#"
id: r
entry: { triggers: [ { event: go } ], reentry: MODE }
steps: [ { id: hold, wait: { for: 1d } } ]
"#;

fn enrollments(mode: &str) -> usize {
    let mut w = World::new(&[&REENTRY.replace("MODE", mode)]);
    w.event("go", json!({}));
    w.event("go", json!({})); // while the first run waits
    w.days(2);
    w.event("go", json!({})); // after it ended
    entered(&w).len()
}

#[test]
fn reentry_modes() {
    assert_eq!(enrollments("once"), 1);
    assert_eq!(enrollments("after_exit"), 2);
    assert_eq!(enrollments("concurrent"), 3);
}

const CART: &str = r#"
id: cart
entry: { triggers: [ { event: cart_updated } ], reentry: concurrent, key: cart_id }
steps:
  - { id: hold, wait: { until: { event: { name: purchase, match_key: true, since: run_start } }, timeout: 1d } }
  - id: check
    if: { event: { name: purchase, match_key: true, since: run_start } }
    then: [ { id: thanks, end: true } ]
  - { id: remind, send: { channel: email, template: cart } }
"#;

#[test]
fn keyed_runs_one_per_key_and_match_key_counts_only_their_own_events() {
    let mut w = World::new(&[CART]);
    w.event("cart_updated", json!({"cart_id": 1}));
    w.event("cart_updated", json!({"cart_id": 1}));
    w.event("cart_updated", json!({"cart_id": 2}));
    assert_eq!(w.runs(), vec!["cart:1", "cart:2"]);
    w.event("purchase", json!({"cart_id": 2}));
    w.days(1);
    assert_eq!(
        w.sends(),
        vec!["remind cart"],
        "cart 1 is reminded, cart 2 was bought"
    );
    let exits = w.only(&[Kind::Exited]);
    assert_eq!(
        exits,
        vec!["exited thanks ended", "exited remind completed"]
    );
}

// ---- scoring ----

#[test]
fn scoring_rules_add_points_that_expire() {
    let defs = r#"
scoring:
  - { event: email_opened, points: 1 }
  - { event: page_viewed, where: { url: { contains: /pricing } }, points: 5, expires: 30d }
"#;
    let wf = "id: noop\nsteps: [ { id: x, end: true } ]";
    let mut w = World::with_definitions(&[wf], defs);
    w.event("email_opened", json!({}));
    w.event("page_viewed", json!({"url": "/blog"}));
    w.event("page_viewed", json!({"url": "/pricing"}));
    assert_eq!(w.state.contact.score("lead", w.now), 6);
    assert_eq!(
        w.only(&[Kind::ScoreChanged]),
        [
            "score_changed event email_opened 1",
            "score_changed event page_viewed 6"
        ]
    );
    w.days(31);
    assert_eq!(w.state.contact.score("lead", w.now), 1);
}

// ---- versions ----

#[test]
fn runs_stay_on_their_version_unless_migrated() {
    let v1 = r#"
id: flow
entry: { triggers: [ { event: go } ] }
steps:
  - { id: w, wait: { for: 2d } }
  - { id: old, tag: { add: [old] } }
"#;
    let v2 = r#"
id: flow
entry: { triggers: [ { event: go } ] }
steps:
  - { id: w, wait: { for: 5d } }
  - { id: new, tag: { add: [new] } }
"#;
    let mut w = World::new(&[v1]);
    w.event("go", json!({}));
    let wf2 = kairos_core::language::load_workflow("v2.yaml", v2, Default::default()).unwrap();
    assert_eq!(
        w.catalog.deploy(wf2).unwrap(),
        kairos_core::Deployed::New(2)
    );
    w.days(3);
    assert!(
        w.state.contact.tags.contains("old"),
        "the run stayed on version 1"
    );

    let v3 = format!("{v2}migrate: {{ from: 1, steps: {{ w: w }} }}\n");
    let mut w = World::new(&[v1]);
    w.event("go", json!({}));
    let wf3 = kairos_core::language::load_workflow("v3.yaml", &v3, Default::default()).unwrap();
    w.catalog.deploy(wf3).unwrap();
    w.days(1);
    w.days(2);
    assert!(
        w.state.contact.tags.contains("new"),
        "migrated, and the wake-up time (2d) was kept"
    );
    assert_eq!(w.only(&[Kind::Migrated]), vec!["migrated w"]);
    assert_eq!(
        w.journal
            .iter()
            .find(|e| e.kind == Kind::Woke)
            .unwrap()
            .at
            .to_rfc3339(),
        "2026-01-07T08:00:00+00:00"
    );
}

#[test]
fn redeploying_an_unchanged_workflow_keeps_the_version() {
    let mut c = catalog(&[WELCOME], None);
    let again =
        kairos_core::language::load_workflow("w.yaml", WELCOME, Default::default()).unwrap();
    assert_eq!(
        c.deploy(again).unwrap(),
        kairos_core::Deployed::Unchanged(1)
    );
    let bad = kairos_core::language::load_workflow(
        "w.yaml",
        &format!("{}migrate: {{ from: 7 }}\n", WELCOME.replace("2d", "3d")),
        Default::default(),
    )
    .unwrap();
    assert!(c.deploy(bad).unwrap_err().contains("version 7"));
}

#[test]
fn timers_carry_the_run_and_wait() {
    let mut w = World::new(&[WELCOME]);
    w.event("signed_up", json!({}));
    let t = w.timers.first().unwrap();
    assert_eq!(t.kind, TimerKind::Run { run: 1, wait: 2 });
    assert_eq!(t.due, t0() + Duration::days(2));
}

// ---- found in review ----

#[test]
fn a_loop_whose_only_wait_does_not_wait_is_rejected() {
    let wf = r#"
id: storm
entry: { triggers: [ { event: go } ] }
steps:
  - { id: s, send: { channel: email, template: t } }
  - { id: w, wait: { for: 0s } }
  - { id: g, goto: s }
"#;
    let err =
        kairos_core::language::load_workflow("storm.yaml", wf, Default::default()).unwrap_err();
    assert!(
        err[0].message.contains("loop with no wait in it"),
        "{err:?}"
    );
}

#[test]
fn a_loop_through_a_met_condition_wait_stops_after_one_lap() {
    let wf = r#"
id: storm
entry: { triggers: [ { event: go } ] }
steps:
  - { id: s, send: { channel: email, template: t } }
  - { id: w, wait: { until: { tag: vip }, timeout: 1d } }
  - { id: w2, wait: { for: 1d } }
  - { id: g, if: { tag: vip }, then: [ { id: back, goto: s } ] }
"#;
    let relaxed = wf.replace("  - { id: w2, wait: { for: 1d } }\n", "");
    // Valid only with the real wait; without it validation refuses the loop.
    assert!(kairos_core::language::load_workflow("r.yaml", &relaxed, Default::default()).is_err());
    let mut w = World::new(&[wf]);
    w.tag("vip");
    w.event("go", json!({}));
    w.days(3);
    assert_eq!(w.sends().len(), 4, "one send a day, never a storm");
}

#[test]
fn a_timer_makes_every_run_check_its_goals() {
    let a = "id: a\nentry: { triggers: [ { event: go } ] }\nsteps: [ { id: long, wait: { for: 30d } } ]\n";
    let b = r#"
id: b
entry: { triggers: [ { event: go } ] }
steps:
  - { id: quiet, goal: { when: { inactive_for: 7d }, otherwise: wait } }
  - { id: done, tag: { add: [quiet] } }
"#;
    let mut w = World::new(&[a, b]);
    w.event("page_viewed", json!({}));
    w.event("go", json!({}));
    assert!(!w.state.contact.tags.contains("quiet"));
    w.days(31); // only a's timer fires; b must still notice it is 7 days quiet
    assert!(w.state.contact.tags.contains("quiet"));
}

#[test]
fn exit_when_applies_on_entry_before_any_step() {
    let wf = r#"
id: nurture
entry: { triggers: [ { event: go } ] }
exit_when: { tag: customer }
steps: [ { id: hello, send: { channel: email, template: hello } } ]
"#;
    let mut w = World::new(&[wf]);
    w.tag("customer");
    w.clear();
    w.event("go", json!({}));
    assert_eq!(
        w.lines(),
        vec!["entered nurture go", "exited hello exit_when"]
    );
    assert!(w.sends().is_empty());
}

#[test]
fn match_key_matches_nothing_when_the_run_has_no_key() {
    let mut w = World::new(&[CART]);
    w.event("cart_updated", json!({})); // no cart_id
    w.event("purchase", json!({})); // no cart_id either: not "this run's cart"
    w.days(1);
    assert_eq!(w.sends(), vec!["remind cart"]);
}

#[test]
fn a_date_trigger_fires_once_even_when_more_happens_at_that_instant() {
    let mut w = World::new(&[BIRTHDAY]);
    w.input(Input::Identify(kairos_core::Profile {
        fields: [("birthday".to_string(), json!("1990-02-01"))].into(),
        ..Default::default()
    }));
    w.advance(Duration::days(26) + Duration::hours(1)); // 2026-01-31 09:00 UTC: the day before, at 09:00
    w.event("email_sent", json!({})); // something else at the same instant
    w.tag("x");
    assert_eq!(w.sends(), vec!["card birthday"]);
    assert_eq!(
        w.timers
            .iter()
            .filter(|t| matches!(t.kind, TimerKind::Date { .. }))
            .count(),
        1
    );
    assert_eq!(
        w.state.date_timers.values().next().unwrap().to_rfc3339(),
        "2027-01-31T09:00:00+00:00"
    );
}

#[test]
fn time_dependent_conditions_are_rechecked_without_new_data() {
    let wf = r#"
id: drift
entry: { triggers: [ { event: go } ] }
steps:
  - { id: quiet, wait: { until: { inactive_for: 7d } } }
  - { id: marked, tag: { add: [at-risk] } }
"#;
    let mut w = World::new(&[wf]);
    w.event("go", json!({}));
    w.days(5);
    w.event("page_viewed", json!({})); // engagement on day 5 pushes the threshold to day 12
    w.days(6);
    assert!(!w.state.contact.tags.contains("at-risk"));
    w.days(1);
    let tagged = w
        .journal
        .iter()
        .find(|e| e.tag.as_deref() == Some("at-risk"))
        .unwrap();
    assert_eq!(tagged.at.to_rfc3339(), "2026-01-17T08:00:00+00:00");
}

#[test]
fn an_event_leaving_its_window_is_noticed_on_time() {
    let wf = r#"
id: lapse
entry: { triggers: [ { event: go } ] }
steps:
  - { id: window, wait: { until: { not: { event: { name: purchase, within: 3d } } } } }
  - { id: lapsed, tag: { add: [lapsed] } }
"#;
    let mut w = World::new(&[wf]);
    w.event("purchase", json!({}));
    w.event("go", json!({}));
    w.days(3);
    assert!(!w.state.contact.tags.contains("lapsed"));
    w.days(1);
    let tagged = w
        .journal
        .iter()
        .find(|e| e.tag.as_deref() == Some("lapsed"))
        .unwrap();
    assert_eq!(tagged.at.to_rfc3339(), "2026-01-08T08:00:01+00:00");
}

/// 10,000 events of 30 names over 100 days keep the contact within its budget, and its
/// conditions answer as documented: lifetime counts and sums exact, windows over the
/// events the history kept (the newest), so a short window is exact and a long one sees
/// only what is kept.
#[test]
fn ten_thousand_events_of_thirty_names_stay_within_the_budget() {
    let wf = r#"
id: probe
entry: { triggers: [ { event: probe } ], reentry: concurrent }
steps:
  - id: count
    if: { event: { name: n07, count: { gte: 334 } } }
    then: [ { id: t1, tag: { add: [count-334] } } ]
  - id: more
    if: { event: { name: n07, count: { gte: 335 } } }
    then: [ { id: t2, tag: { add: [count-335] } } ]
  - id: sum
    if: { event: { name: n07, sum: { of: amount, gte: 3340 } } }
    then: [ { id: t3, tag: { add: [sum-3340] } } ]
  - id: day
    if: { event: { name: n07, within: 1d, count: { gte: 3 } } }
    then: [ { id: t4, tag: { add: [day-3] } } ]
  - id: month
    if: { event: { name: n07, within: 30d, count: { gte: 90 } } }
    then: [ { id: t5, tag: { add: [month-90] } } ]
"#;
    let mut w = World::new(&[wf]);
    // One event every 864 s: 100 a day, n07 every 30th (334 in all, about 3.3 a day).
    for i in 0..10_000 {
        w.advance(Duration::seconds(864));
        w.event(
            &format!("n{:02}", i % 30),
            json!({"amount": 10, "url": format!("/pages/{i}"), "plan": "pro"}),
        );
    }
    let size = serde_json::to_string(&w.state).unwrap().len();
    assert!(size < 64 * 1024, "the contact is {size} bytes");
    assert_eq!(w.state.history.names().count(), 30);
    let total: u64 = w.state.history.names().map(|(_, log)| log.total).sum();
    assert_eq!(total, 10_000, "every event counted");
    w.event("probe", json!({}));
    let tags = &w.state.contact.tags;
    assert!(
        tags.contains("count-334"),
        "the lifetime count is exact: {tags:?}"
    );
    assert!(!tags.contains("count-335"));
    assert!(tags.contains("sum-3340"), "the lifetime sum is exact");
    assert!(tags.contains("day-3"), "a day's window is in the log");
    // 30 days hold 100 n07 events; the log keeps the newest few days of them.
    let kept = w.state.history.log("n07").unwrap().recent.len();
    assert!(kept < 90, "{kept} kept");
    assert!(
        !tags.contains("month-90"),
        "a long window sees the events kept"
    );
}
