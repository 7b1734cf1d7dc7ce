//! At-least-once delivery and retries through the pipeline: a failure after the contact's
//! state is saved neither loses an effect (the outbox is handed on by the retry) nor applies
//! the input twice (the item's key is remembered), and the journal has no duplicates. Work
//! still queued when a contact is deleted does not bring it back.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use kairos_core::adapters::memory::{
    MemoryDispatch, MemoryMailer, MemoryQueue, MemoryStore, MemoryTimers, RecordingWebhooks,
};
use kairos_core::pipeline::Pipeline;
use kairos_core::ports::{ContactStore, PortError, TimerQueue, WorkItem};
use kairos_core::{Event, Input, Kind, Timer};
use support::{catalog, t0};

/// The in-memory ports never wait, so one poll completes them.
use support::ready;

/// Timers that refuse the first `failures` schedules, as a throttled queue would.
struct FlakyTimers {
    inner: MemoryTimers,
    failures: AtomicUsize,
}

impl TimerQueue for FlakyTimers {
    async fn schedule(&self, timer: Timer) -> Result<(), PortError> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(PortError::Unavailable {
                what: "timer queue".into(),
                detail: "throttled".into(),
            });
        }
        self.inner.schedule(timer).await
    }

    async fn take_due(&self, now: DateTime<Utc>) -> Result<Vec<Timer>, PortError> {
        self.inner.take_due(now).await
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        self.inner.next_due().await
    }
}

const WELCOME: &str = r#"
id: welcome
entry: { triggers: [ { event: signed_up } ] }
steps:
  - { id: hello, tag: { add: [welcomed] } }
  - { id: pause, wait: { for: 1d } }
  - { id: bye, tag: { add: [done] } }
"#;

type TestPipeline = Pipeline<
    MemoryStore,
    FlakyTimers,
    MemoryQueue,
    MemoryDispatch,
    MemoryMailer,
    RecordingWebhooks,
>;

fn pipeline(timer_failures: usize) -> TestPipeline {
    Pipeline {
        catalog: catalog(
            &[WELCOME],
            Some("scoring:\n  - { event: signed_up, points: 10 }\n"),
        ),
        links: None,
        store: MemoryStore::default(),
        timers: FlakyTimers {
            inner: MemoryTimers::default(),
            failures: AtomicUsize::new(timer_failures),
        },
        work: MemoryQueue::default(),
        dispatch: MemoryDispatch::default(),
        mailer: MemoryMailer::default(),
        webhooks: RecordingWebhooks::default(),
    }
}

fn signed_up() -> WorkItem {
    WorkItem {
        contact: "ann".into(),
        input: Input::Event(Event::new("signed_up", t0())),
        at: t0(),
    }
}

fn kinds(p: &TestPipeline) -> Vec<Kind> {
    ready(p.store.journal("ann"))
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect()
}

#[test]
fn a_failure_after_the_save_is_finished_by_the_retry_not_repeated() {
    let p = pipeline(1);
    let error = ready(p.handle(signed_up())).unwrap_err();
    assert!(error.retryable(), "{error}");
    let state = ready(p.store.load("ann")).unwrap().unwrap();
    assert!(state.outbox.is_some(), "the effects wait in the outbox");
    assert!(p.timers.inner.is_empty(), "the wait's timer was refused");

    // The queue delivers the same item again.
    ready(p.handle(signed_up())).unwrap();
    let state = ready(p.store.load("ann")).unwrap().unwrap();
    assert_eq!(state.outbox, None, "handed on and cleared");
    assert_eq!(p.timers.inner.len(), 1, "the wait's timer is scheduled");
    assert_eq!(
        state.contact.score("lead", t0()),
        10,
        "the event counted once"
    );
    assert_eq!(state.runs.len(), 1);
    assert_eq!(
        kinds(&p),
        vec![
            Kind::ScoreChanged,
            Kind::Entered,
            Kind::Step,
            Kind::TagAdded,
            Kind::Step,
            Kind::Waiting
        ],
        "each entry once"
    );
}

#[test]
fn a_redelivered_item_after_success_changes_nothing() {
    let p = pipeline(0);
    let first = ready(p.handle(signed_up())).unwrap();
    assert!(!first.is_empty());
    let before = ready(p.store.load("ann")).unwrap().unwrap();
    let again = ready(p.handle(signed_up())).unwrap();
    assert!(again.is_empty(), "{again:?}");
    let after = ready(p.store.load("ann")).unwrap().unwrap();
    assert_eq!(after.contact, before.contact);
    assert_eq!(after.runs, before.runs);
    assert_eq!(p.timers.inner.len(), 1);
    assert_eq!(kinds(&p).len(), first.len());

    // A different event at another time is new work.
    let at = t0() + chrono::Duration::hours(1);
    let later = WorkItem {
        input: Input::Event(Event::new("signed_up", at)),
        at,
        ..signed_up()
    };
    ready(p.handle(later)).unwrap();
    let state = ready(p.store.load("ann")).unwrap().unwrap();
    assert_eq!(state.contact.score("lead", at), 20);
}

#[test]
fn work_queued_before_a_deletion_does_not_bring_the_contact_back() {
    let p = pipeline(0);
    ready(p.handle(signed_up())).unwrap();
    let deleted = t0() + chrono::Duration::hours(1);
    ready(p.store.delete("ann", deleted)).unwrap();
    let event_at = |at| WorkItem {
        input: Input::Event(Event::new("clicked", at)),
        at,
        ..signed_up()
    };
    // Sent before the deletion, delivered after it.
    ready(p.handle(event_at(t0() + chrono::Duration::minutes(30)))).unwrap();
    assert_eq!(ready(p.store.load("ann")).unwrap(), None);
    // Something new after the deletion is a new contact.
    let later = deleted + chrono::Duration::hours(1);
    ready(p.handle(event_at(later))).unwrap();
    let state = ready(p.store.load("ann")).unwrap().expect("a new contact");
    assert_eq!(state.contact.created_at, later);
    assert!(state.runs.is_empty(), "nothing of the old contact");
}
