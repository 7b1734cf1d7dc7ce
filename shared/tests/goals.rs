//! Goal semantics (ActiveCampaign): `below` vs `anywhere` × `continue` / `wait` / `end`,
//! with and without timeout, reached by walking and by jumping.

mod support;

use kairos_core::Kind;
use serde_json::json;
use support::*;

/// welcome → wait 3d → promo → wait 3d → goal (enrolled) → thanks
fn course(scope: &str, otherwise: &str, timeout: &str) -> String {
    format!(
        r#"
id: course
entry: {{ triggers: [ {{ event: go }} ] }}
steps:
  - {{ id: intro, send: {{ channel: email, template: intro }} }}
  - {{ id: w1, wait: {{ for: 3d }} }}
  - {{ id: promo, send: {{ channel: email, template: promo }} }}
  - {{ id: w2, wait: {{ for: 3d }} }}
  - {{ id: enrolled, goal: {{ when: {{ tag: enrolled }}, scope: {scope}, otherwise: {otherwise} {timeout} }} }}
  - {{ id: thanks, send: {{ channel: email, template: thanks }} }}
"#
    )
}

fn flow(w: &World) -> Vec<String> {
    w.only(&[
        Kind::Step,
        Kind::GoalAchieved,
        Kind::Waiting,
        Kind::Woke,
        Kind::Exited,
    ])
}

#[test]
fn jump_below_skips_the_steps_between_and_cancels_the_wait() {
    for otherwise in ["continue", "wait", "end"] {
        let mut w = World::new(&[&course("below", otherwise, "")]);
        w.event("go", json!({}));
        w.days(1);
        w.clear();
        w.tag("enrolled");
        assert_eq!(
            flow(&w),
            vec![
                "step enrolled",
                "goal_achieved enrolled",
                "step thanks",
                "exited thanks completed"
            ],
            "otherwise: {otherwise}"
        );
        w.days(10);
        assert_eq!(
            w.sends(),
            vec!["thanks thanks"],
            "promo never sent; the cancelled wait's timer is stale"
        );
    }
}

#[test]
fn walking_onto_a_met_goal_passes_through() {
    for otherwise in ["continue", "wait", "end"] {
        // The run itself meets the goal one step before walking onto it: no check runs in
        // between, so the goal is reached by walking, not by a jump.
        let wf = course("below", otherwise, "").replace(
            "  - { id: enrolled,",
            "  - { id: mark, tag: { add: [enrolled] } }\n  - { id: enrolled,",
        );
        let mut w = World::new(&[&wf]);
        w.event("go", json!({}));
        w.days(6);
        assert_eq!(
            &flow(&w)[8..],
            [
                "step mark",
                "step enrolled",
                "goal_achieved enrolled",
                "step thanks",
                "exited thanks completed"
            ],
            "otherwise: {otherwise}"
        );
        assert_eq!(
            w.sends(),
            vec!["intro intro", "promo promo", "thanks thanks"]
        );
    }
}

/// The contract (2026-12): goals are checked on entry. A contact who already meets the
/// goal jumps to it before any step runs — no intro is sent (this test asserted the
/// earlier behaviour, where the intro went out first and the jump came at the first check).
#[test]
fn a_goal_met_before_entry_is_jumped_to_before_any_step() {
    let mut w = World::new(&[&course("below", "continue", "")]);
    w.tag("enrolled");
    w.event("go", json!({}));
    w.days(3);
    assert_eq!(w.sends(), vec!["thanks thanks"]);
    let flow = flow(&w);
    let goal = flow
        .iter()
        .position(|l| l == "goal_achieved enrolled")
        .expect("the goal");
    assert!(
        !flow[..goal].iter().any(|l| l.starts_with("step intro")),
        "no step ran before the jump: {flow:?}"
    );
}

#[test]
fn walking_onto_an_unmet_goal_continue_goes_on() {
    let mut w = World::new(&[&course("below", "continue", "")]);
    w.event("go", json!({}));
    w.days(6);
    assert_eq!(
        &flow(&w)[8..],
        ["step enrolled", "step thanks", "exited thanks completed"]
    );
    assert!(!flow(&w).iter().any(|l| l.starts_with("goal_achieved")));
}

#[test]
fn walking_onto_an_unmet_goal_end_ends_the_run() {
    let mut w = World::new(&[&course("below", "end", "")]);
    w.event("go", json!({}));
    w.days(6);
    assert_eq!(
        &flow(&w)[8..],
        ["step enrolled", "exited enrolled goal_end"]
    );
    assert_eq!(w.sends(), vec!["intro intro", "promo promo"]);
}

#[test]
fn walking_onto_an_unmet_goal_wait_holds_until_met() {
    let mut w = World::new(&[&course("below", "wait", "")]);
    w.event("go", json!({}));
    w.days(6);
    assert_eq!(&flow(&w)[8..], ["step enrolled", "waiting enrolled"]);
    w.days(100);
    w.clear();
    w.tag("enrolled");
    assert_eq!(
        flow(&w),
        vec![
            "goal_achieved enrolled",
            "step thanks",
            "exited thanks completed"
        ]
    );
}

#[test]
fn goal_wait_with_timeout_continues_not_achieved() {
    let mut w = World::new(&[&course("below", "wait", ", timeout: 5d")]);
    w.event("go", json!({}));
    w.days(6);
    assert_eq!(
        flow(&w).last().unwrap(),
        "waiting enrolled 2026-01-16T08:00:00Z"
    );
    w.clear();
    w.days(5);
    assert_eq!(
        flow(&w),
        vec![
            "woke enrolled timeout",
            "step thanks",
            "exited thanks completed"
        ]
    );
}

#[test]
fn goal_wait_with_timeout_met_before_the_timeout() {
    let mut w = World::new(&[&course("below", "wait", ", timeout: 5d")]);
    w.event("go", json!({}));
    w.days(7);
    w.clear();
    w.tag("enrolled");
    assert_eq!(
        flow(&w),
        vec![
            "goal_achieved enrolled",
            "step thanks",
            "exited thanks completed"
        ]
    );
    w.days(10);
    assert_eq!(
        w.sends(),
        vec!["thanks thanks"],
        "sent once; the timeout timer is stale"
    );
}

#[test]
fn goal_timeout_with_continue_or_end_changes_nothing() {
    for (otherwise, last) in [
        ("continue", "exited thanks completed"),
        ("end", "exited enrolled goal_end"),
    ] {
        let mut w = World::new(&[&course("below", otherwise, ", timeout: 5d")]);
        w.event("go", json!({}));
        w.days(6);
        assert_eq!(flow(&w).last().unwrap(), last);
    }
}

/// A goal on the `else` branch: only `anywhere` can reach it from the `then` branch, and a
/// passed goal can only be jumped back to with `anywhere`.
fn branched(scope: &str) -> String {
    format!(
        r#"
id: paths
entry: {{ triggers: [ {{ event: go }} ] }}
steps:
  - id: fork
    if: {{ tag: vip }}
    then:
      - {{ id: vip-wait, wait: {{ for: 10d }} }}
    else:
      - {{ id: bought, goal: {{ when: {{ tag: customer }}, scope: {scope}, otherwise: continue }} }}
      - {{ id: std-wait, wait: {{ for: 10d }} }}
  - {{ id: after, tag: {{ add: [done] }} }}
"#
    )
}

#[test]
fn below_cannot_reach_a_goal_on_another_branch() {
    let mut w = World::new(&[&branched("below")]);
    w.tag("vip");
    w.event("go", json!({}));
    w.clear();
    w.tag("customer");
    assert_eq!(flow(&w), Vec::<String>::new());
    assert_eq!(w.runs(), vec!["paths:1"]);
}

#[test]
fn anywhere_reaches_a_goal_on_another_branch() {
    let mut w = World::new(&[&branched("anywhere")]);
    w.tag("vip");
    w.event("go", json!({}));
    w.clear();
    w.tag("customer");
    assert_eq!(
        flow(&w),
        vec![
            "step bought",
            "goal_achieved bought",
            "step std-wait",
            "waiting std-wait 2026-01-15T08:00:00Z"
        ]
    );
}

#[test]
fn below_cannot_jump_back_to_a_passed_goal_but_anywhere_can() {
    let mut w = World::new(&[&branched("below")]);
    w.event("go", json!({})); // else branch: walks past `bought` (continue), waits at std-wait
    w.clear();
    w.tag("customer");
    assert_eq!(flow(&w), Vec::<String>::new());

    let mut w = World::new(&[&branched("anywhere")]);
    w.event("go", json!({}));
    w.clear();
    w.tag("customer");
    assert_eq!(
        flow(&w),
        vec![
            "step bought",
            "goal_achieved bought",
            "step std-wait",
            "waiting std-wait 2026-01-15T08:00:00Z"
        ]
    );
    w.clear();
    w.tag("other");
    assert_eq!(
        flow(&w),
        Vec::<String>::new(),
        "a goal is achieved once per run"
    );
}

#[test]
fn the_furthest_goal_wins_when_several_are_met() {
    let wf = r#"
id: two
entry: { triggers: [ { event: go } ] }
steps:
  - { id: hold, wait: { for: 10d } }
  - { id: g1, goal: { when: { tag: a } } }
  - { id: mid, tag: { add: [mid] } }
  - { id: g2, goal: { when: { tag: a } } }
  - { id: end, tag: { add: [end] } }
"#;
    let mut w = World::new(&[wf]);
    w.event("go", json!({}));
    w.clear();
    w.tag("a");
    assert_eq!(
        flow(&w),
        vec![
            "step g2",
            "goal_achieved g2",
            "step end",
            "exited end completed"
        ]
    );
    assert!(!w.state.contact.tags.contains("mid"));
}

#[test]
fn goals_check_on_timers_too() {
    // The goal depends on time (an event window), not on a data change.
    let wf = r#"
id: timed
entry: { triggers: [ { event: go } ] }
steps:
  - { id: w1, wait: { for: 1d } }
  - { id: w2, wait: { for: 30d } }
  - { id: quiet, goal: { when: { inactive_for: 2d } } }
  - { id: after, tag: { add: [quiet] } }
"#;
    let mut w = World::new(&[wf]);
    w.event("page_viewed", json!({}));
    w.event("go", json!({}));
    w.days(1); // the w1 timer fires at 1d: inactive 1d, not yet
    assert!(!w.state.contact.tags.contains("quiet"));
    w.days(30); // the w2 timer at 31d: the goal holds and the run jumps
    assert!(flow(&w).contains(&"goal_achieved quiet".to_string()));
    assert!(w.state.contact.tags.contains("quiet"));
}

#[test]
fn goal_achieved_is_recorded_as_an_event() {
    let mut w = World::new(&[&course("below", "continue", "")]);
    w.event("go", json!({}));
    w.tag("enrolled");
    let log = w.state.history.log("goal_achieved").unwrap();
    assert_eq!(log.recent[0].props["step"], json!("enrolled"));
    assert_eq!(log.recent[0].props["workflow"], json!("course"));
}
