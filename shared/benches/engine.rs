//! Engine throughput: contact-steps per second on one core for a realistic 10-step workflow
//! whose conditions read event history. Run: `cargo bench -p kairos-core --bench engine`.

use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kairos_core::language::validate::References;
use kairos_core::language::{load_definitions, load_workflow};
use kairos_core::{process, Catalog, Contact, ContactState, Effect, Event, Input, Kind};

const FLOW: &str = r#"
id: nurture
entry: { triggers: [ { event: signed_up } ] }
exit_when: { tag: unsubscribed }
steps:
  - { id: welcome, send: { channel: email, template: welcome } }
  - { id: pause, wait: { for: 1d } }
  - id: buyer
    if: { event: { name: purchase, within: 30d, count: { gte: 2 } } }
    then: [ { id: vip, tag: { add: [vip] } } ]
    else: [ { id: warm, score: { add: 5 } } ]
  - { id: spent, goal: { when: { event: { name: purchase, within: 30d, sum: { of: amount, gt: 10000 } } }, scope: anywhere } }
  - { id: offer, send: { channel: email, template: offer } }
  - { id: opened, wait: { until: { event: { name: email_opened, where: { template: offer }, since: run_start } }, timeout: 2d } }
  - { id: engaged, if: { segment: active }, then: [ { id: mark, tag: { add: [engaged] } } ] }
  - { id: stage, set: { stage: nurtured } }
  - { id: last, send: { channel: email, template: last } }
"#;

const DEFS: &str = r#"
segments:
  active: { any: [ { event: { name: page_viewed, within: 7d, count: { gte: 3 } } }, { score: { gte: 10 } } ] }
templates:
  welcome: { subject: "Welcome {{ contact.first_name }}", text: "Hi" }
  offer: { subject: "An offer", text: "20% off" }
  last: { subject: "Last call", text: "Bye" }
scoring:
  - { event: page_viewed, where: { url: { contains: /pricing } }, points: 2, expires: 30d }
"#;

fn start() -> DateTime<Utc> {
    "2026-01-05T08:00:00Z".parse().unwrap()
}

/// A contact with 60 days of history: purchases, page views and opens (~120 events).
fn contact() -> ContactState {
    let mut state = ContactState::new(Contact::new("c1", start() - Duration::days(90)));
    for day in 0..60 {
        let at = start() - Duration::days(60 - day);
        state.history.record(
            &Event::new("page_viewed", at)
                .with("url", if day % 3 == 0 { "/pricing" } else { "/blog" }),
        );
        if day % 2 == 0 {
            state
                .history
                .record(&Event::new("email_opened", at).with("template", "digest"));
        }
        if day % 7 == 0 {
            state
                .history
                .record(&Event::new("purchase", at).with("amount", 40));
        }
    }
    state
}

/// Enrolls the contact and fires its timers until the run completes; returns steps taken.
fn journey(catalog: &Catalog, mut state: ContactState) -> usize {
    let mut now = start();
    let mut steps = 0;
    let mut out = process(
        catalog,
        &mut state,
        Input::Event(Event::new("signed_up", now)),
        now,
    );
    loop {
        steps += out.journal.iter().filter(|e| e.kind == Kind::Step).count();
        let Some(timer) = out.effects.iter().find_map(|e| {
            if let Effect::Timer(t) = e {
                Some(t.clone())
            } else {
                None
            }
        }) else {
            break;
        };
        now = timer.due;
        out = process(catalog, &mut state, Input::Timer(timer), now);
    }
    steps
}

fn bench(c: &mut Criterion) {
    let defs = load_definitions("defs.yaml", DEFS).expect("definitions");
    let wf = load_workflow(
        "flow.yaml",
        FLOW,
        References {
            definitions: Some(&defs),
            workflows: None,
        },
    )
    .expect("workflow");
    let mut catalog = Catalog::new(defs);
    catalog.deploy(wf).expect("deploy");
    let template = contact();
    let steps = journey(&catalog, template.clone());
    assert!(steps >= 10, "the journey takes {steps} steps");
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(steps as u64));
    group.bench_function("10-step journey (contact-steps)", |b| {
        b.iter_batched(
            || template.clone(),
            |state| journey(&catalog, state),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
