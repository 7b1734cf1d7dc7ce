//! The workflow language: every validation error names the file, path and line; lint
//! warns; every condition operator evaluates exactly.

mod support;

use std::collections::BTreeSet;

use chrono::Duration;
use kairos_core::engine::eval::Scope;
use kairos_core::language::condition::Condition;
use kairos_core::language::definitions::Definitions;
use kairos_core::language::lint::lint_workflow;
use kairos_core::language::parse::parse_document;
use kairos_core::language::validate::References;
use kairos_core::language::{load_definitions, load_workflow};
use kairos_core::{Contact, ContactState, Event};
use serde_json::json;
use support::t0;

fn errors(text: &str) -> Vec<String> {
    errors_with(text, References::default())
}

fn errors_with(text: &str, refs: References<'_>) -> Vec<String> {
    match load_workflow("flow.yaml", text, refs) {
        Ok(_) => vec![],
        Err(diags) => diags.iter().map(|d| d.to_string()).collect(),
    }
}

fn one_step(step: &str) -> String {
    format!("id: flow\nentry: {{ triggers: [ {{ event: go }} ] }}\nsteps:\n  - {step}\n")
}

#[test]
fn parse_errors_name_file_path_and_line() {
    assert_eq!(
        errors("id: flow\nsteps:\n  - id: a\n    wait: { for: 3x }\n"),
        vec!["flow.yaml:4: error at steps[0].wait.for: bad duration \"3x\": 'x' is not a unit; expected a number followed by s, m, h, d or w, e.g. 90s, 15m, 2h, 3d, 2w or 1d12h"]
    );
    let unknown = errors("id: flow\nsteps:\n  - id: a\n    tag: { add: [x] }\n    colour: red\n");
    assert_eq!(unknown.len(), 1);
    assert!(unknown[0].starts_with("flow.yaml:5: error at steps[0].colour: unknown field `colour`, expected one of `id`, `send`"), "{unknown:?}");
    let syntax = errors("id: flow\nsteps: [\n  - id: a\n");
    assert!(
        syntax[0].starts_with("flow.yaml:") && syntax[0].contains("YAML syntax"),
        "{syntax:?}"
    );
    let json = match load_workflow("flow.json", "{\n \"id\": \"flow\",\n \"steps\": [\n  {\"id\": \"a\", \"wait\": {\"for\": \"-2d\"}}\n ]\n}", References::default()) {
        Err(d) => d[0].to_string(),
        Ok(_) => panic!(),
    };
    assert_eq!(
        json,
        "flow.json:4: error at steps[0].wait.for: bad duration \"-2d\": it cannot be negative"
    );
    assert_eq!(errors(""), vec!["flow.yaml: error: the file is empty"]);
}

#[test]
fn validation_errors() {
    let cases: Vec<(String, &str)> = vec![
        (format!("{}  - {{ id: a, end: true }}\n", one_step("{ id: a, tag: { add: [x] } }")), "at steps[1].id: duplicate step id `a` (first used at steps[0])"),
        (one_step("{ id: a, tag: { add: [x] }, end: true }"), "at steps[0]: a step has exactly one kind"),
        (one_step("{ id: a }"), "found: none"),
        (one_step("{ id: a, goto: nowhere }"), "at steps[0].goto: goto names an unknown step `nowhere`"),
        (
            format!("{}  - {{ id: b, goto: a }}\n", one_step("{ id: a, tag: { add: [x] } }")),
            "at steps[1].goto: this goto makes a loop with no wait in it (through a → b)",
        ),
        (one_step("{ id: a, wait: { for: 1q } }"), "at steps[0].wait.for: bad duration"),
        (one_step("{ id: a, split: [ { weight: -1, steps: [] }, { weight: 2, steps: [] } ] }"), "at steps[0].split[0].weight: a weight must be zero or more, not -1"),
        (one_step("{ id: a, split: [ { weight: 0, steps: [] }, { weight: 0, steps: [] } ] }"), "at steps[0].split: all split weights are zero"),
        (one_step("{ id: a, goal: { when: { tag: x }, scope: sideways } }"), "at steps[0].goal.scope: unknown variant `sideways`, expected `below` or `anywhere`"),
        (one_step("{ id: a, goal: { when: { tag: x }, otherwise: retry } }"), "at steps[0].goal.otherwise: unknown variant `retry`"),
        (one_step("{ id: a, wait: { for: 1d, until_time: \"09:00\" } }"), "a wait needs exactly one of"),
        (one_step("{ id: a, wait: { until_time: \"25:00\" } }"), "at steps[0].wait.until_time: bad local time \"25:00\""),
        (one_step("{ id: a, wait: { until_time: \"09:00\", tz: Mars/Base } }"), "unknown timezone \"Mars/Base\""),
        (one_step("{ id: a, wait: { until: \"next tuesday\" } }"), "bad timestamp \"next tuesday\""),
        (one_step("{ id: a, wait: { for: 1d, timeout: 2d } }"), "`timeout` belongs to `wait: { until: <condition> }`"),
        (one_step("{ id: a, score: { add: 1, set: 2 } }"), "give exactly one of `add` or `set`"),
        (one_step("{ id: a, webhook: { url: ftp://x } }"), "is not an http(s) URL"),
        (one_step("{ id: A B, end: true }"), "must be a slug"),
        (one_step("{ id: a, if: { event: { name: buy, match_key: true } } }"), "`match_key` compares with the run's key, but the workflow has no `entry.key`"),
        (one_step("{ id: a, if: { field: { name: x } } }"), "at steps[0].if.field: no test given"),
        (one_step("{ id: a, if: { field: { name: x, equals: 3 } } }"), "unknown field `equals`"),
        (one_step("{ id: a, if: { score: { gte: lots } } }"), "expected a number"),
        ("id: flow\nentry: { triggers: [ { event: a, tag_added: b } ] }\nsteps: [ { id: a, end: true } ]\n".into(), "at entry.triggers[0]: a trigger needs exactly one of"),
        ("id: flow\nentry: { segment: { event: { name: a, since: run_start } } }\nsteps: [ { id: a, end: true } ]\n".into(), "at entry.segment.event.since: `since` counts from a run's start"),
        ("id: flow\nsteps: []\n".into(), "a workflow needs at least one step"),
    ];
    for (text, expected) in cases {
        let found = errors(&text);
        assert!(
            found.iter().any(|e| e.contains(expected)),
            "expected `{expected}` in {found:?}\n{text}"
        );
        assert!(
            found.iter().all(|e| e.starts_with("flow.yaml:")),
            "{found:?}"
        );
    }
}

#[test]
fn nested_paths_point_inside_branches() {
    let text = "id: flow\nsteps:\n  - id: a\n    if: { tag: x }\n    then:\n      - id: b\n        wait: { for: 1d }\n      - id: c\n        goto: zz\n";
    assert_eq!(
        errors(text),
        vec!["flow.yaml:9: error at steps[0].then[1].goto: goto names an unknown step `zz`"]
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let text = "id: flow\nsteps:\n  - { id: a, goto: x }\n  - { id: a, goto: y }\n";
    assert_eq!(errors(text).len(), 3);
}

#[test]
fn references_are_checked_when_known() {
    let defs = load_definitions(
        "defs.yaml",
        "segments: { vip: { tag: vip } }\ntemplates: { welcome: { subject: Hi, text: Hello }, sms1: { sms: Hi } }\n",
    )
    .unwrap();
    let workflows: BTreeSet<String> = ["other".to_string()].into();
    let refs = References {
        definitions: Some(&defs),
        workflows: Some(&workflows),
    };
    assert!(errors_with(&one_step("{ id: a, if: { segment: vip } }"), refs).is_empty());
    assert!(
        errors_with(&one_step("{ id: a, if: { segment: nope } }"), refs)[0]
            .contains("unknown segment `nope` (defined: vip)")
    );
    assert!(errors_with(
        &one_step("{ id: a, send: { channel: email, template: nope } }"),
        refs
    )[0]
    .contains("unknown template `nope`"));
    assert!(errors_with(
        &one_step("{ id: a, send: { channel: sms, template: welcome } }"),
        refs
    )[0]
    .contains("template `welcome` has no sms content"));
    assert!(errors_with(&one_step("{ id: a, start: ghost }"), refs)[0]
        .contains("unknown workflow `ghost`"));
    assert!(errors_with(&one_step("{ id: a, stop: other }"), refs).is_empty());
    // Without definitions nothing is checked.
    assert!(errors(&one_step("{ id: a, if: { segment: nope } }")).is_empty());
}

#[test]
fn definitions_errors() {
    let err = load_definitions(
        "defs.yaml",
        "segments:\n  a: { segment: b }\n  b: { segment: a }\n",
    )
    .unwrap_err();
    assert!(
        err[0].to_string().starts_with(
            "defs.yaml:2: error at segments.a: segments refer to each other in a circle: a → b → a"
        ),
        "{err:?}"
    );
    let err = load_definitions(
        "defs.yaml",
        "delivery:\n  quiet_hours: { sms: { from: \"9pm\", to: \"08:00\" } }\n",
    )
    .unwrap_err();
    assert!(
        err[0]
            .to_string()
            .contains("delivery.quiet_hours.sms.from: bad local time"),
        "{err:?}"
    );
    let err = load_definitions("defs.yaml", "templates:\n  t: { subject: Hi }\n").unwrap_err();
    assert!(err[0]
        .to_string()
        .contains("needs a subject and an html or text body"));
}

#[test]
fn lint_warnings() {
    let defs: Definitions = parse_document(
        "defs.yaml",
        "templates: { t: { subject: \"Hi {{ contact.first_name }} {{ contact.nick | default: 'you' }}\", text: \"{{ contact.email }}\" } }\ncontact_schema: { last_name: string }\n",
    )
    .unwrap();
    let text = r#"
id: flow
entry: { triggers: [ { event: go } ], reentry: concurrent }
steps:
  - { id: w, wait: { until: { tag: x } } }
  - { id: s, send: { channel: email, template: t } }
  - { id: stop, end: true }
  - { id: g, goal: { when: { tag: y }, timeout: 3d } }
"#;
    let wf = load_workflow("flow.yaml", text, References::default()).unwrap();
    let warnings: Vec<String> = lint_workflow(&wf, "flow.yaml", Some(&defs))
        .iter()
        .map(|d| d.message.clone())
        .collect();
    let expect = [
        "`reentry: concurrent` without `entry.key`",
        "`wait: until` with no `timeout` waits forever",
        "goal `g` can never be reached",
        "`timeout` only applies with `otherwise: wait`",
        "step `g` comes after an unconditional `end`",
        "uses contact.first_name, which the contact schema does not have",
    ];
    for e in expect {
        assert!(
            warnings.iter().any(|w| w.contains(e)),
            "expected `{e}` in {warnings:#?}"
        );
    }
    assert_eq!(warnings.len(), expect.len(), "{warnings:#?}");
}

// ---- conditions ----

fn holds(condition: &str, state: &ContactState, defs: &Definitions, minutes_later: i64) -> bool {
    let c: Condition = parse_document("c.yaml", condition).unwrap_or_else(|e| panic!("{e}"));
    Scope {
        state,
        definitions: defs,
        now: t0() + Duration::minutes(minutes_later),
        run: None,
    }
    .holds(&c)
}

fn sample() -> ContactState {
    let mut contact = Contact::new("c1", t0() - Duration::days(40));
    contact.email = Some("ann@example.com".into());
    contact.fields.insert("country".into(), json!("DE"));
    contact.fields.insert("age".into(), json!(42));
    contact.fields.insert("zip".into(), json!("10115"));
    contact
        .fields
        .insert("interests".into(), json!(["yoga", "tea"]));
    contact
        .fields
        .insert("signed_up_at".into(), json!("2025-11-01T00:00:00Z"));
    contact.tags.insert("vip".into());
    contact.lists.insert("newsletter".into());
    contact.scores.entry("lead".into()).or_default().base = 55;
    let mut state = ContactState::new(contact);
    for (days_ago, amount) in [(40, 10), (20, 30), (5, 45)] {
        state.history.record(
            &Event::new("purchase", t0() - Duration::days(days_ago))
                .with("amount", amount)
                .with("sku", "A1"),
        );
    }
    state
        .history
        .record(&Event::new("email_opened", t0() - Duration::days(3)).with("step", "welcome"));
    state
}

#[test]
fn field_operators() {
    let (s, d) = (sample(), Definitions::default());
    let cases = [
        ("field: { name: country, eq: DE }", true),
        ("field: { name: country, eq: FR }", false),
        ("field: { name: country, ne: FR }", true),
        ("field: { name: age, gt: 41 }", true),
        ("field: { name: age, gt: 42 }", false),
        ("field: { name: age, gte: 42 }", true),
        ("field: { name: age, lt: 42 }", false),
        ("field: { name: age, lte: 42 }", true),
        ("field: { name: zip, gt: 10000 }", true),
        ("field: { name: age, eq: \"42\" }", true),
        ("field: { name: country, in: [AT, DE, CH] }", true),
        ("field: { name: country, in: [AT, CH] }", false),
        ("field: { name: email, contains: \"@example.com\" }", true),
        ("field: { name: interests, contains: tea }", true),
        ("field: { name: interests, contains: golf }", false),
        ("field: { name: email, starts_with: ann }", true),
        ("field: { name: email, starts_with: bob }", false),
        ("field: { name: country, exists: true }", true),
        ("field: { name: phone, exists: false }", true),
        ("field: { name: missing, exists: true }", false),
        ("field: { name: missing, eq: 1 }", false),
        ("field: { name: missing, ne: 1 }", true),
        ("field: { name: signed_up_at, older_than: 30d }", true),
        ("field: { name: signed_up_at, older_than: 90d }", false),
        ("field: { name: signed_up_at, within_last: 90d }", true),
        ("field: { name: signed_up_at, within_last: 30d }", false),
        ("field: { name: age, gt: 40, lt: 50 }", true),
    ];
    for (c, expected) in cases {
        assert_eq!(holds(c, &s, &d, 0), expected, "{c}");
    }
}

#[test]
fn tag_list_score_segment_and_logic() {
    let s = sample();
    let d: Definitions = parse_document(
        "d.yaml",
        "segments: { engaged: { all: [ { tag: vip }, { score: { gte: 50 } } ] } }",
    )
    .unwrap();
    let cases = [
        ("tag: vip", true),
        ("tag: lead", false),
        ("list: newsletter", true),
        ("list: trial", false),
        ("score: { gte: 55 }", true),
        ("score: { gt: 55 }", false),
        ("score: { name: other, eq: 0 }", true),
        ("segment: engaged", true),
        ("segment: undefined", false),
        ("all: [ { tag: vip }, { list: newsletter } ]", true),
        ("all: [ { tag: vip }, { list: trial } ]", false),
        ("any: [ { tag: nope }, { list: newsletter } ]", true),
        ("any: [ { tag: nope }, { list: trial } ]", false),
        ("not: { tag: vip }", false),
        ("not: { tag: nope }", true),
    ];
    for (c, expected) in cases {
        assert_eq!(holds(c, &s, &d, 0), expected, "{c}");
    }
}

#[test]
fn event_conditions() {
    let (s, d) = (sample(), Definitions::default());
    let cases = [
        ("event: { name: purchase }", true),
        ("event: { name: refund }", false),
        ("event: { name: refund, count: { eq: 0 } }", true),
        ("event: { name: purchase, count: { eq: 3 } }", true),
        (
            "event: { name: purchase, within: 30d, count: { eq: 2 } }",
            true,
        ),
        (
            "event: { name: purchase, within: 7d, count: { eq: 1 } }",
            true,
        ),
        (
            "event: { name: purchase, within: 30d, sum: { of: amount, gt: 70 } }",
            true,
        ),
        (
            "event: { name: purchase, within: 30d, sum: { of: amount, gt: 75 } }",
            false,
        ),
        (
            "event: { name: purchase, sum: { of: amount, eq: 85 } }",
            true,
        ),
        (
            "event: { name: purchase, where: { amount: { gt: 20 } }, count: { gte: 2 } }",
            true,
        ),
        (
            "event: { name: purchase, where: { amount: { gt: 40 } }, count: { gte: 2 } }",
            false,
        ),
        (
            "event: { name: purchase, where: { sku: A1 }, within: 10d }",
            true,
        ),
        (
            "event: { name: email_opened, where: { step: welcome } }",
            true,
        ),
        (
            "event: { name: email_opened, where: { step: other } }",
            false,
        ),
        ("inactive_for: 2d", true),
        ("inactive_for: 4d", false),
    ];
    for (c, expected) in cases {
        assert_eq!(holds(c, &s, &d, 0), expected, "{c}");
    }
    // The window moves with the clock: 16 days later the 20-day-old purchase is 36 days old.
    assert!(!holds(
        "event: { name: purchase, within: 30d, count: { eq: 2 } }",
        &s,
        &d,
        16 * 24 * 60
    ));
}

#[test]
fn inactive_for_counts_from_creation_without_engagement() {
    let state = ContactState::new(Contact::new("c2", t0()));
    let d = Definitions::default();
    assert!(!holds("inactive_for: 7d", &state, &d, 6 * 24 * 60));
    assert!(holds("inactive_for: 7d", &state, &d, 7 * 24 * 60));
}

/// Hostile nesting (the body limit of the API is 256 KB) is refused by the nesting guard
/// before the YAML parser sees it. The bound is a stall guard, not a speed target: the
/// parser alone took 18–43 s on 60 KB of `[` and over three minutes on 240 KB.
#[test]
fn hostile_nesting_is_refused_at_once() {
    let flow = "[".repeat(240 * 1024);
    let block: String = (0..2000).map(|_| "- ").collect::<String>() + "x\n";
    let mapping: String = (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    for (name, text) in [
        ("wf.yaml", flow.clone()),
        ("wf.json", flow),
        ("wf.yaml", block),
        ("wf.yaml", mapping),
    ] {
        let started = std::time::Instant::now();
        let err = kairos_core::language::parse::parse_document::<serde_json::Value>(name, &text)
            .unwrap_err();
        assert!(
            err.message.contains("nests deeper than 64"),
            "{name}: {err}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{name}: {:?}",
            started.elapsed()
        );
    }
}
