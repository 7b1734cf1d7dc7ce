//! Broadcasts through the whole pipeline on the in-memory ports: every member of the
//! audience gets the message exactly once — also when a fan-out page fails after it was
//! queued and is offered again — with the business event's values; non-members get
//! nothing; the throttle holds; cancel stops what has not gone out; a filter that cannot
//! be evaluated fires nothing and says why; a repeated event id fires once.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, Duration, Utc};
use kairos_core::adapters::memory::{
    MemoryCatalog, MemoryDispatch, MemoryMailer, MemoryQueue, MemoryStore, MemoryTimers,
    RecordingWebhooks,
};
use kairos_core::failpoint::{self, Action};
use kairos_core::language::load_definitions;
use kairos_core::pipeline::Pipeline;
use kairos_core::ports::{CatalogStore, ContactStore};
use kairos_core::service::broadcasts::{self, Control};
use kairos_core::{Catalog, Contact, Event, Kind};

fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an in-memory port should never be pending"),
    }
}

fn t0() -> DateTime<Utc> {
    "2026-12-07T12:00:00Z".parse().unwrap()
}

fn definitions(throttle: &str) -> String {
    format!(
        r#"
templates:
  drop: {{ subject: "{{{{ broadcast.event.product_name }}}} now {{{{ broadcast.event.new_price }}}}", text: "Cheaper." }}
broadcasts:
  price-drop:
    on: {{ business_event: price_changed, where: {{ expr: "(old_price - new_price) / old_price > 0.15" }} }}
    audience: {{ list: newsletter }}
    send: {{ channel: email, template: drop }}
    {throttle}
"#
    )
}

type TestPipeline = Pipeline<
    MemoryStore,
    MemoryTimers,
    MemoryQueue,
    MemoryDispatch,
    MemoryMailer,
    RecordingWebhooks,
>;

/// `contacts` contacts, every other one on the newsletter.
fn world(contacts: usize, throttle: &str) -> (TestPipeline, MemoryCatalog) {
    let defs = load_definitions("definitions.yaml", &definitions(throttle)).unwrap();
    let catalog = Catalog::new(defs);
    let pipeline = Pipeline {
        catalog: catalog.clone(),
        links: None,
        store: MemoryStore::default(),
        timers: MemoryTimers::default(),
        work: MemoryQueue::default(),
        dispatch: MemoryDispatch::default(),
        mailer: MemoryMailer::default(),
        webhooks: RecordingWebhooks::default(),
    };
    for i in 0..contacts {
        let mut contact = Contact::new(format!("c{i:05}"), t0() - Duration::days(1));
        contact.email = Some(format!("c{i}@example.com"));
        if i % 2 == 0 {
            contact.lists.insert("newsletter".into());
        }
        ready(pipeline.put_contact(contact)).unwrap();
    }
    (pipeline, MemoryCatalog::new(catalog))
}

fn drop_event(id: &str, old: f64, new: f64) -> Event {
    let mut event = Event::new("price_changed", t0())
        .with("product_name", "Trail Shoe")
        .with("old_price", old)
        .with("new_price", new);
    event.id = Some(id.into());
    event
}

/// Works the fan-out to its end, retrying after failures (a crashed page is offered
/// again), then lets the pipeline run to `until`; how many times a page failed.
fn fan_out_and_run(
    pipeline: &mut TestPipeline,
    catalogs: &MemoryCatalog,
    until: DateTime<Utc>,
) -> i64 {
    let mut failures = 0i64;
    loop {
        match ready(broadcasts::work(
            catalogs,
            &pipeline.store,
            &pipeline.work,
            t0() + Duration::seconds(failures),
            4,
        )) {
            Ok((0, _)) => break,
            Ok(_) => {}
            Err(_) => failures += 1,
        }
        assert!(failures < 10, "the fan-out keeps failing");
    }
    pipeline.catalog = ready(catalogs.catalog()).unwrap();
    ready(pipeline.drain(t0())).unwrap();
    ready(pipeline.advance_to(until)).unwrap();
    failures
}

fn sends_per_contact(pipeline: &TestPipeline) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for sent in pipeline.mailer.sent.lock().unwrap().iter() {
        *counts.entry(sent.message.contact.clone()).or_default() += 1;
    }
    counts
}

#[test]
fn every_member_gets_it_once_with_the_events_values_also_when_a_page_is_offered_again() {
    let (mut pipeline, catalogs) = world(10_000, "");
    let fired = ready(broadcasts::fire(
        &catalogs,
        &pipeline.store,
        drop_event("e1", 120.0, 96.0),
        t0(),
    ))
    .unwrap();
    assert_eq!(fired.runs.len(), 1);
    // The second page fails after its members were queued, before its position was stored.
    failpoint::arm("broadcast.after_page", Action::Error, 2);
    let failures = fan_out_and_run(&mut pipeline, &catalogs, t0() + Duration::hours(1));
    failpoint::disarm_all();
    assert_eq!(failures, 1, "the page failed once and was offered again");

    let counts = sends_per_contact(&pipeline);
    assert_eq!(counts.len(), 5_000, "every member, and only members");
    assert!(counts.values().all(|n| *n == 1), "nobody twice");
    assert!(counts
        .keys()
        .all(|c| c[1..].parse::<usize>().unwrap() % 2 == 0));
    let sent = pipeline.mailer.sent.lock().unwrap();
    assert_eq!(sent[0].subject.as_deref(), Some("Trail Shoe now 96"));
    drop(sent);
    // Each member's journal says it once, also on the page offered again (a second later).
    let journal = ready(pipeline.store.journal("c00600")).unwrap();
    let received = journal
        .iter()
        .filter(|e| e.kind == Kind::BroadcastReceived)
        .count();
    assert_eq!(received, 1, "{journal:#?}");

    let catalog = ready(catalogs.catalog()).unwrap();
    let status = ready(broadcasts::status(&catalog, &pipeline.store, "price-drop")).unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(
        (status[0].audience, status[0].sent, status[0].queued),
        (5_000, 5_000, 0)
    );
    assert!(status[0].fanned_out);
}

#[test]
fn a_small_drop_fires_nothing_a_missing_prop_says_why_a_repeated_id_fires_once() {
    let (pipeline, catalogs) = world(10, "");
    let small = ready(broadcasts::fire(
        &catalogs,
        &pipeline.store,
        drop_event("e1", 100.0, 90.0),
        t0(),
    ))
    .unwrap();
    assert!(small.runs.is_empty() && small.journal.is_empty());

    let mut missing = Event::new("price_changed", t0()).with("old_price", 20);
    missing.id = Some("e2".into());
    let skipped = ready(broadcasts::fire(&catalogs, &pipeline.store, missing, t0())).unwrap();
    assert!(skipped.runs.is_empty());
    assert_eq!(skipped.journal[0].kind, Kind::BroadcastSkipped);
    assert!(skipped.journal[0]
        .message
        .as_deref()
        .unwrap()
        .contains("new_price"));

    let first = ready(broadcasts::fire(
        &catalogs,
        &pipeline.store,
        drop_event("e3", 100.0, 50.0),
        t0(),
    ))
    .unwrap();
    let again = ready(broadcasts::fire(
        &catalogs,
        &pipeline.store,
        drop_event("e3", 100.0, 50.0),
        t0(),
    ))
    .unwrap();
    let other = ready(broadcasts::fire(
        &catalogs,
        &pipeline.store,
        drop_event("e4", 100.0, 50.0),
        t0(),
    ))
    .unwrap();
    assert_eq!(first.runs[0].id(), "price-drop:1");
    assert!(again.runs.is_empty(), "the same id fires once");
    assert_eq!(other.runs[0].id(), "price-drop:2");
}

#[test]
fn the_throttle_spreads_the_sends_and_cancel_stops_the_rest() {
    let (mut pipeline, catalogs) = world(1_000, "throttle: { per_minute: 100 }");
    ready(broadcasts::fire(
        &catalogs,
        &pipeline.store,
        drop_event("e1", 120.0, 96.0),
        t0(),
    ))
    .unwrap();
    fan_out_and_run(
        &mut pipeline,
        &catalogs,
        t0() + Duration::minutes(3) - Duration::seconds(1),
    );
    // 500 members at 100 a minute: three minutes in, 300 have gone, 100 (±5 %) a minute.
    let journal: Vec<_> = ready(pipeline.store.workflow_journal("broadcast:price-drop"))
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == Kind::MessageSent)
        .collect();
    for minute in 0..3 {
        let start = t0() + Duration::minutes(minute);
        let n = journal
            .iter()
            .filter(|e| e.at >= start && e.at < start + Duration::minutes(1))
            .count();
        assert!((95..=105).contains(&n), "minute {minute}: {n} sends");
    }
    ready(broadcasts::control(
        &catalogs,
        "price-drop",
        Control::Cancel,
    ))
    .unwrap();
    pipeline.catalog = ready(catalogs.catalog()).unwrap();
    ready(pipeline.advance_to(t0() + Duration::hours(1))).unwrap();
    assert_eq!(
        sends_per_contact(&pipeline).len(),
        journal.len(),
        "nothing more after cancel"
    );
    let status = ready(broadcasts::status(
        &pipeline.catalog,
        &pipeline.store,
        "price-drop",
    ))
    .unwrap();
    assert_eq!(status[0].state, "cancelled");
    let cancelled = status[0].suppressed.get("broadcast_cancelled").copied();
    assert_eq!(cancelled, Some(500 - journal.len() as u64));
    assert_eq!(status[0].queued, 0);
}
