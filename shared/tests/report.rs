//! Delivery feedback in the journal and the per-step report: delivered, opened and clicked
//! land on the message's step, once per run however often the contact opens.

mod support;

use kairos_core::report;
use kairos_core::Kind;
use serde_json::json;
use support::*;

const WELCOME: &str = r#"
id: welcome
entry: { triggers: [ { event: signed_up } ] }
steps:
  - { id: hello, send: { channel: email, template: welcome } }
  - { id: pause, wait: { for: 2d } }
"#;

fn feedback(world: &mut World, name: &str, run: &str) {
    world.event(
        name,
        json!({ "workflow": "welcome", "run": run, "step": "hello", "template": "welcome",
                "link": "https://shop.example.com/start" }),
    );
}

#[test]
fn feedback_naming_a_message_is_journaled_on_its_step() {
    let mut world = World::new(&[WELCOME]);
    world.event("signed_up", json!({}));
    let run = world.runs()[0].clone();
    world.clear();
    feedback(&mut world, "email_opened", &run);
    feedback(&mut world, "email_clicked", &run);
    let entries: Vec<_> = world
        .journal
        .iter()
        .map(|e| {
            (
                e.kind,
                e.step.as_deref(),
                e.run.as_deref() == Some(run.as_str()),
                e.url.is_some(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            (Kind::MessageOpened, Some("hello"), true, true),
            (Kind::MessageClicked, Some("hello"), true, true),
        ]
    );

    // Feedback that names no message (an open tracked elsewhere) is an event, not an entry.
    world.clear();
    world.event("email_opened", json!({}));
    assert!(world.journal.is_empty(), "{:?}", world.lines());
}

#[test]
fn the_report_counts_each_message_once_per_kind() {
    let mut world = World::new(&[WELCOME]);
    world.event("signed_up", json!({}));
    let run = world.runs()[0].clone();
    feedback(&mut world, "email_delivered", &run);
    feedback(&mut world, "email_delivered", &run); // SES retried the notification
    feedback(&mut world, "email_opened", &run);
    feedback(&mut world, "email_opened", &run); // opened again on another device
    feedback(&mut world, "email_opened", "welcome:other");
    let report = report::build(&world.journal, &world.catalog);
    let hello = &report.workflows[0].steps[0];
    assert_eq!(
        (hello.delivered, hello.opened, hello.clicked),
        (Some(1), Some(2), Some(0))
    );
    let pause = &report.workflows[0].steps[1];
    assert_eq!(
        (pause.delivered, pause.opened),
        (None, None),
        "only message steps"
    );
}

#[test]
fn runs_of_different_contacts_are_told_apart() {
    // Run ids count per contact: both contacts' first run is `welcome:1`.
    let mut ann = World::new(&[WELCOME]);
    ann.event("signed_up", json!({}));
    let mut bob = World::new(&[WELCOME]);
    bob.event("signed_up", json!({}));
    bob.days(3); // bob's run finishes; ann's still waits
    let mut journal = ann.journal.clone();
    journal.extend(bob.journal.iter().cloned().map(|mut e| {
        e.contact = "bob".into();
        e
    }));
    let report = report::build(&journal, &ann.catalog);
    let welcome = &report.workflows[0];
    assert_eq!((welcome.entered, welcome.active), (2, 1));
    let pause = &welcome.steps[1];
    assert_eq!((pause.entered, pause.now_at, pause.passed), (2, 1, 1));
}

#[test]
fn provider_rejections_and_delays_are_journaled_and_counted_once_per_run() {
    let mut world = World::new(&[WELCOME]);
    world.event("signed_up", json!({}));
    let run = world.runs()[0].clone();
    for name in [
        "email_rejected",
        "email_rejected",
        "email_rendering_failed",
        "email_delivery_delayed",
        "email_accepted",
    ] {
        feedback(&mut world, name, &run);
    }
    let kinds: Vec<Kind> = world
        .journal
        .iter()
        .filter(|e| e.step.as_deref() == Some("hello"))
        .map(|e| e.kind)
        .collect();
    for kind in [
        Kind::MessageRejected,
        Kind::MessageRenderFailed,
        Kind::MessageDelayedByProvider,
        Kind::MessageAccepted,
    ] {
        assert!(kinds.contains(&kind), "{kind:?}: {kinds:?}");
    }
    let report = report::build(&world.journal, &world.catalog);
    let hello = &report.workflows[0].steps[0];
    assert_eq!(
        hello.rejected,
        Some(2),
        "a rejection and a render failure, once each"
    );
    assert_eq!(hello.delayed_by_provider, Some(1));
}
