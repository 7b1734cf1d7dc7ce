//! Messages people can trust, through the simulator (the production pipeline on a virtual
//! clock): consent and suppression, transactional vs marketing, frequency caps, quiet hours
//! across DST, render errors — each a visible journal entry with its reason.

use kairos_cli::scenario;
use kairos_cli::simulate::{run, Virtual};
use kairos_core::{JournalEntry, Kind};

fn simulate(name: &str, yaml: &str) -> Vec<JournalEntry> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("delivery");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    let scenario = scenario::load(&path).unwrap_or_else(|e| panic!("{e:?}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut journal = Vec::new();
    runtime
        .block_on(run(
            scenario,
            &mut Virtual,
            &mut |e| journal.push(e.clone()),
            &mut |_| {},
        ))
        .unwrap();
    journal
}

/// `contact kind [reason|until]` for message outcomes.
fn outcomes(journal: &[JournalEntry]) -> Vec<String> {
    journal
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                Kind::MessageSent | Kind::MessageSuppressed | Kind::MessageDelayed
            )
        })
        .map(|e| {
            let kind = serde_json::to_value(e.kind)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string();
            let detail = e
                .reason
                .clone()
                .or(e.until.map(|u| u.to_rfc3339()))
                .unwrap_or_default();
            format!("{} {} {} {}", e.at.to_rfc3339(), e.contact, kind, detail)
                .trim_end()
                .to_string()
        })
        .collect()
}

const CONSENT: &str = r#"
start: "2026-01-05T08:00:00Z"
until: 1d
workflows:
  - id: promo
    entry: { triggers: [ { event: go } ] }
    steps:
      - { id: offer, send: { channel: email, template: offer } }
      - { id: receipt, send: { channel: email, template: receipt, category: transactional } }
definitions:
  templates:
    offer: { subject: "20% off", text: "Only today" }
    receipt: { subject: "Your receipt", text: "Thanks" }
contacts:
  - { id: unsub, email: u@example.com }
  - { id: bounced, email: b@example.com }
  - { id: complained, email: c@example.com }
  - { id: fine, email: f@example.com }
timeline:
  - { at: 0s, contact: unsub, unsubscribe: true }
  - { at: 0s, contact: bounced, bounce: hard }
  - { at: 0s, contact: complained, complaint: true }
  - { at: 1h, contact: unsub, event: go }
  - { at: 1h, contact: bounced, event: go }
  - { at: 1h, contact: complained, event: go }
  - { at: 1h, contact: fine, event: go }
"#;

#[test]
fn suppressed_contacts_get_no_marketing_and_transactional_respects_bounces() {
    let journal = simulate("consent", CONSENT);
    assert_eq!(
        outcomes(&journal),
        vec![
            "2026-01-05T09:00:00+00:00 unsub message_suppressed unsubscribed",
            "2026-01-05T09:00:00+00:00 unsub message_sent",
            "2026-01-05T09:00:00+00:00 bounced message_suppressed bounced",
            "2026-01-05T09:00:00+00:00 bounced message_suppressed bounced",
            "2026-01-05T09:00:00+00:00 complained message_suppressed complained",
            "2026-01-05T09:00:00+00:00 complained message_suppressed complained",
            "2026-01-05T09:00:00+00:00 fine message_sent",
            "2026-01-05T09:00:00+00:00 fine message_sent",
        ]
    );
    // The transactional receipt reached the unsubscribed (not bounced) contact.
    let unsub_sent: Vec<_> = journal
        .iter()
        .filter(|e| e.contact == "unsub" && e.kind == Kind::MessageSent)
        .collect();
    assert_eq!(unsub_sent[0].template.as_deref(), Some("receipt"));
}

#[test]
fn a_cap_of_two_per_week_suppresses_the_third() {
    let yaml = r#"
start: "2026-01-05T08:00:00Z"
until: 10d
workflows:
  - id: drip
    entry: { triggers: [ { event: go } ], reentry: concurrent }
    steps: [ { id: mail, send: { channel: email, template: t } } ]
definitions:
  templates: { t: { subject: "News", text: "…" } }
  delivery: { frequency_cap: { email: { max: 2, per: 7d } } }
contacts: [ { id: ann, email: ann@example.com } ]
timeline:
  - { at: 0s, contact: ann, event: go }
  - { at: 1d, contact: ann, event: go }
  - { at: 2d, contact: ann, event: go }
  - { at: 7d1h, contact: ann, event: go }
"#;
    assert_eq!(
        outcomes(&simulate("cap", yaml)),
        vec![
            "2026-01-05T08:00:00+00:00 ann message_sent",
            "2026-01-06T08:00:00+00:00 ann message_sent",
            "2026-01-07T08:00:00+00:00 ann message_suppressed frequency_cap",
            "2026-01-12T09:00:00+00:00 ann message_sent",
        ]
    );
}

#[test]
fn an_sms_due_in_quiet_hours_goes_at_eight_local_also_across_dst() {
    let yaml = r#"
start: "2026-03-28T21:00:00Z"
until: 2d
workflows:
  - id: reminder
    entry: { triggers: [ { event: go } ] }
    steps: [ { id: sms, send: { channel: sms, template: s } } ]
definitions:
  templates: { s: { sms: "Your cart misses you" } }
  delivery: { quiet_hours: { sms: { from: "21:00", to: "08:00" } } }
contacts:
  - { id: berlin, phone: "+4915100000001", timezone: Europe/Berlin }
  - { id: plain, phone: "+4915100000002", timezone: Europe/Berlin }
timeline:
  - { at: 1h, contact: berlin, event: go }
  - { at: 12h, contact: plain, event: go }
"#;
    // 2026-03-28 23:00 CET; the clocks go forward that night, so 08:00 CEST is 06:00 UTC.
    assert_eq!(
        outcomes(&simulate("quiet", yaml)),
        vec![
            "2026-03-28T22:00:00+00:00 berlin message_delayed 2026-03-29T06:00:00+00:00",
            "2026-03-29T06:00:00+00:00 berlin message_sent",
            "2026-03-29T09:00:00+00:00 plain message_sent",
        ]
    );
}

#[test]
fn a_template_that_cannot_render_is_suppressed_with_render_error() {
    let yaml = r#"
start: "2026-01-05T08:00:00Z"
until: 1d
workflows:
  - id: hello
    entry: { triggers: [ { event: go } ] }
    steps: [ { id: mail, send: { channel: email, template: t } } ]
definitions:
  templates: { t: { subject: "Hi {{ contact.first_name }}", text: "{{ contact.first_name | default: 'friend' }}" } }
contacts:
  - { id: named, email: n@example.com, fields: { first_name: Nia } }
  - { id: nameless, email: x@example.com }
timeline:
  - { at: 0s, contact: named, event: go }
  - { at: 0s, contact: nameless, event: go }
"#;
    let journal = simulate("render", yaml);
    assert_eq!(
        outcomes(&journal),
        vec![
            "2026-01-05T08:00:00+00:00 named message_sent",
            "2026-01-05T08:00:00+00:00 nameless message_suppressed render_error"
        ]
    );
    let error = journal
        .iter()
        .find(|e| e.reason.as_deref() == Some("render_error"))
        .unwrap();
    assert!(
        error
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("first_name"),
        "{error:?}"
    );
}

#[test]
fn a_template_that_is_not_defined_is_suppressed_not_sent_blank() {
    // Without definitions the scenario cannot check template names; the send still must
    // not go out empty.
    let yaml = r#"
start: "2026-01-05T08:00:00Z"
until: 1d
workflows:
  - id: hello
    entry: { triggers: [ { event: go } ] }
    steps: [ { id: mail, send: { channel: email, template: nosuch } } ]
contacts: [ { id: ann, email: a@example.com } ]
timeline: [ { at: 0s, contact: ann, event: go } ]
"#;
    let journal = simulate("undefined-template", yaml);
    assert_eq!(
        outcomes(&journal),
        vec!["2026-01-05T08:00:00+00:00 ann message_suppressed render_error"]
    );
    let entry = journal.iter().find(|e| e.kind == Kind::MessageSuppressed);
    assert!(
        entry
            .and_then(|e| e.message.as_deref())
            .is_some_and(|m| m.contains("no template `nosuch`")),
        "{entry:?}"
    );
}

#[test]
fn invalid_phone_numbers_are_not_texted() {
    let yaml = r#"
start: "2026-01-05T12:00:00Z"
until: 1d
workflows:
  - id: t
    entry: { triggers: [ { event: go } ] }
    steps: [ { id: sms, send: { channel: sms, template: s, category: transactional } } ]
definitions:
  templates: { s: { sms: "Code 1234" } }
contacts: [ { id: a, phone: "0151 234" } ]
timeline: [ { at: 0s, contact: a, event: go } ]
"#;
    assert_eq!(
        outcomes(&simulate("phone", yaml)),
        vec!["2026-01-05T12:00:00+00:00 a message_suppressed invalid_phone"]
    );
}

/// A held message belongs to its run (2026-12): released only into a run still under way
/// — not after `exit_when` ended it, nor after a goal it was heading for was achieved.
#[test]
fn a_held_message_is_not_released_after_its_run_ended_or_reached_its_goal() {
    let yaml = r#"
start: "2026-01-05T20:00:00Z"
until: 2d
workflows:
  - id: cart
    entry: { triggers: [ { event: cart } ], reentry: concurrent }
    exit_when: { event: { name: purchase, since: run_start } }
    steps:
      - { id: nudge, send: { channel: sms, template: s } }
      - { id: linger, wait: { for: 3d } }
  - id: course
    entry: { triggers: [ { event: interested } ] }
    steps:
      - { id: promo, send: { channel: sms, template: s } }
      - { id: think, wait: { for: 3d } }
      - { id: enrolled, goal: { when: { tag: enrolled }, scope: below, otherwise: end } }
      - { id: welcome, send: { channel: sms, template: s, category: transactional } }
definitions:
  templates: { s: { sms: "Hello" } }
  delivery: { quiet_hours: { sms: { from: "21:00", to: "08:00" } } }
contacts:
  - { id: buyer, phone: "+4915100000001", timezone: UTC }
  - { id: student, phone: "+4915100000002", timezone: UTC }
  - { id: patient, phone: "+4915100000003", timezone: UTC }
timeline:
  - { at: 2h, contact: buyer, event: cart }
  - { at: 4h, contact: buyer, event: purchase }
  - { at: 2h, contact: student, event: interested }
  - { at: 3h, contact: student, tag_added: enrolled }
  - { at: 2h, contact: patient, event: cart }
"#;
    assert_eq!(
        outcomes(&simulate("held", yaml)),
        vec![
            "2026-01-05T22:00:00+00:00 buyer message_delayed 2026-01-06T08:00:00+00:00",
            "2026-01-05T22:00:00+00:00 student message_delayed 2026-01-06T08:00:00+00:00",
            "2026-01-05T22:00:00+00:00 patient message_delayed 2026-01-06T08:00:00+00:00",
            "2026-01-05T23:00:00+00:00 student message_sent",
            "2026-01-06T08:00:00+00:00 buyer message_suppressed run_ended",
            "2026-01-06T08:00:00+00:00 student message_suppressed goal_achieved",
            "2026-01-06T08:00:00+00:00 patient message_sent",
        ]
    );
}

/// The same for a run stopped by another workflow and one ended by a goal's
/// `otherwise: end`: the held message is `run_ended`.
#[test]
fn a_held_message_of_a_stopped_run_or_a_goal_end_is_not_released() {
    let yaml = r#"
start: "2026-01-05T20:00:00Z"
until: 2d
workflows:
  - id: nurture
    entry: { triggers: [ { event: signup } ] }
    steps:
      - { id: tip, send: { channel: sms, template: s } }
      - { id: linger, wait: { for: 3d } }
  - id: unsubscribe-all
    entry: { triggers: [ { event: opt_out } ] }
    steps:
      - { id: halt, stop: nurture }
  - id: trial
    entry: { triggers: [ { event: trial } ] }
    steps:
      - { id: offer, send: { channel: sms, template: s } }
      - { id: converted, goal: { when: { tag: paid }, scope: below, otherwise: end } }
definitions:
  templates: { s: { sms: "Hello" } }
  delivery: { quiet_hours: { sms: { from: "21:00", to: "08:00" } } }
contacts:
  - { id: stopped, phone: "+4915100000001", timezone: UTC }
  - { id: lapsed, phone: "+4915100000002", timezone: UTC }
timeline:
  - { at: 2h, contact: stopped, event: signup }
  - { at: 3h, contact: stopped, event: opt_out }
  - { at: 2h, contact: lapsed, event: trial }
"#;
    assert_eq!(
        outcomes(&simulate("held-stop", yaml)),
        vec![
            "2026-01-05T22:00:00+00:00 stopped message_delayed 2026-01-06T08:00:00+00:00",
            "2026-01-05T22:00:00+00:00 lapsed message_delayed 2026-01-06T08:00:00+00:00",
            "2026-01-06T08:00:00+00:00 stopped message_suppressed run_ended",
            "2026-01-06T08:00:00+00:00 lapsed message_suppressed run_ended",
        ]
    );
}
