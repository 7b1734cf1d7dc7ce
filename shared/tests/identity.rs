//! Merging profiles through the pipeline on the memory ports: an anonymous visitor's
//! history, score, consent and runs land on the contact it identifies as, exactly once,
//! whatever the order, however often the merge repeats, and across a crash between the
//! two partitions' writes.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, Utc};
use kairos_core::adapters::memory::{
    MemoryDispatch, MemoryMailer, MemoryQueue, MemoryStore, MemoryTimers, RecordingWebhooks,
};
use kairos_core::engine::eval::Scope;
use kairos_core::pipeline::Pipeline;
use kairos_core::ports::{ContactStore, PortError, WorkItem, WorkQueue};
use kairos_core::{ContactState, Event, Input, Kind};
use support::{catalog, t0};

use support::ready;

/// A work queue that refuses the first `failures` pushes (a crash or throttling between
/// the source's save and the hand-over to the target).
#[derive(Default)]
struct FlakyWork {
    inner: MemoryQueue,
    failures: AtomicUsize,
}

impl WorkQueue for FlakyWork {
    async fn push(&self, item: WorkItem) -> Result<(), PortError> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(PortError::Unavailable {
                what: "work queue".into(),
                detail: "throttled".into(),
            });
        }
        self.inner.push(item).await
    }

    async fn pop(&self) -> Result<Option<WorkItem>, PortError> {
        self.inner.pop().await
    }
}

type TestPipeline =
    Pipeline<MemoryStore, MemoryTimers, FlakyWork, MemoryDispatch, MemoryMailer, RecordingWebhooks>;

/// Visitors who view pages are welcomed after a day, one run at a time.
const VISIT: &str = r#"
id: visit
entry:
  triggers: [ { event: page_viewed } ]
  reentry: after_exit
steps:
  - { id: pause, wait: { for: 1d } }
  - { id: welcomed, tag: { add: [welcomed] } }
"#;

const DEFINITIONS: &str = "scoring:\n  - { event: page_viewed, points: 5 }\n";

fn pipeline() -> TestPipeline {
    Pipeline {
        catalog: catalog(&[VISIT], Some(DEFINITIONS)),
        links: None,
        store: MemoryStore::default(),
        timers: MemoryTimers::default(),
        work: FlakyWork::default(),
        dispatch: MemoryDispatch::default(),
        mailer: MemoryMailer::default(),
        webhooks: RecordingWebhooks::default(),
    }
}

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

fn item(contact: &str, input: Input, when: DateTime<Utc>) -> WorkItem {
    WorkItem {
        contact: contact.into(),
        input,
        at: when,
    }
}

fn page_view(contact: &str, when: DateTime<Utc>) -> WorkItem {
    item(contact, Input::Event(Event::new("page_viewed", when)), when)
}

fn merge(source: &str, into: &str, when: DateTime<Utc>) -> WorkItem {
    let input = Input::MergeInto {
        into: into.into(),
        only_anonymous: false,
    };
    item(source, input, when)
}

fn run(p: &TestPipeline, items: Vec<WorkItem>, now: DateTime<Utc>) {
    for i in items {
        ready(p.submit(i)).unwrap();
    }
    ready(p.drain(now)).unwrap();
}

fn state(p: &TestPipeline, id: &str) -> ContactState {
    ready(p.store.load(id)).unwrap().unwrap()
}

fn page_views(p: &TestPipeline, id: &str) -> u64 {
    state(p, id)
        .history
        .log("page_viewed")
        .map_or(0, |l| l.total)
}

/// The anonymous visitor `anon` viewed two pages (10 points, a run waiting), the known
/// contact `ann` one (5 points, a run waiting); then `anon` merges into `ann`.
fn visitor_and_contact() -> TestPipeline {
    let p = pipeline();
    run(
        &p,
        vec![
            page_view("ann", at(0)),
            page_view("anon", at(1)),
            page_view("anon", at(2)),
        ],
        at(2),
    );
    p
}

#[test]
fn a_visitor_merges_history_score_and_runs_into_the_contact() {
    let p = visitor_and_contact();
    run(&p, vec![merge("anon", "ann", at(3))], at(3));

    let ann = state(&p, "ann");
    assert_eq!(page_views(&p, "ann"), 3, "both histories count");
    assert_eq!(ann.contact.score("lead", at(3)), 15, "scores are added");
    assert!(ann.aliases.contains("anon"));
    // Windows see the union, in time order.
    let log = ann.history.log("page_viewed").unwrap();
    let times: Vec<_> = log.recent.iter().map(|e| e.at).collect();
    assert_eq!(times, vec![at(0), at(1), at(2)]);
    let scope = Scope {
        state: &ann,
        definitions: p.catalog.definitions(),
        now: at(3),
        run: None,
    };
    let condition = kairos_core::language::parse::from_value(serde_json::json!(
        { "event": { "name": "page_viewed", "within": "1h", "count": { "gte": 3 } } }
    ))
    .unwrap();
    assert!(scope.holds(&condition));

    // `after_exit`: one run of `visit` at a time, so the visitor's ends `merged`.
    assert_eq!(ann.runs.len(), 1);
    let anon_journal = ready(p.store.journal("anon")).unwrap();
    let exited: Vec<_> = anon_journal
        .iter()
        .filter(|e| e.kind == Kind::Exited)
        .map(|e| e.reason.clone().unwrap_or_default())
        .collect();
    assert_eq!(exited, vec!["merged"]);
    for id in ["anon", "ann"] {
        let journal = ready(p.store.journal(id)).unwrap();
        let merged = journal.iter().find(|e| e.kind == Kind::Merged).unwrap();
        assert_eq!(merged.from.as_deref(), Some("anon"), "{id}");
        assert_eq!(merged.into.as_deref(), Some("ann"), "{id}");
    }
    let anon = state(&p, "anon");
    assert_eq!(anon.merged_into.as_deref(), Some("ann"));
    assert!(
        anon.history.log("page_viewed").is_none(),
        "the source keeps nothing"
    );
}

#[test]
fn a_run_the_target_lacks_moves_over_and_finishes_there() {
    let p = pipeline();
    run(&p, vec![page_view("anon", at(0))], at(0));
    // `ann` exists but never visited: the visitor's run continues on `ann`.
    let ident = item(
        "ann",
        Input::Tags {
            add: vec!["vip".into()],
            remove: vec![],
        },
        at(1),
    );
    run(&p, vec![ident, merge("anon", "ann", at(2))], at(2));
    assert_eq!(state(&p, "ann").runs.len(), 1);
    ready(p.advance_to(at(0) + Duration::days(1))).unwrap();
    let ann = state(&p, "ann");
    assert!(ann.runs.is_empty(), "the moved run woke on ann's timer");
    assert!(ann.contact.tags.contains("welcomed"));
}

#[test]
fn the_same_merge_twice_counts_everything_once() {
    let p = visitor_and_contact();
    run(
        &p,
        vec![merge("anon", "ann", at(3)), merge("anon", "ann", at(4))],
        at(4),
    );
    // A redelivered hand-over too.
    assert_eq!(page_views(&p, "ann"), 3);
    assert_eq!(state(&p, "ann").contact.score("lead", at(4)), 15);
    let merged = ready(p.store.journal("ann"))
        .unwrap()
        .iter()
        .filter(|e| e.kind == Kind::Merged)
        .count();
    assert_eq!(merged, 1);
}

#[test]
fn events_for_the_visitor_after_the_merge_reach_the_contact() {
    let p = visitor_and_contact();
    run(&p, vec![merge("anon", "ann", at(3))], at(3));
    run(&p, vec![page_view("anon", at(4))], at(4));
    assert_eq!(page_views(&p, "ann"), 4);
    assert_eq!(state(&p, "ann").contact.score("lead", at(4)), 20);
    assert!(state(&p, "anon").history.log("page_viewed").is_none());
}

#[test]
fn an_event_forwarded_before_the_hand_over_arrives_counts_once() {
    let p = visitor_and_contact();
    // The source merges; an event for it is forwarded while the hand-over is still
    // queued: the target sees the event first, then the history — each once.
    ready(p.handle(merge("anon", "ann", at(3)))).unwrap();
    let hand_over = ready(p.work.pop()).unwrap().unwrap();
    ready(p.handle(page_view("anon", at(4)))).unwrap();
    let forwarded = ready(p.work.pop()).unwrap().unwrap();
    assert_eq!(forwarded.contact, "ann");
    ready(p.handle(forwarded.clone())).unwrap();
    ready(p.handle(hand_over.clone())).unwrap();
    // Both delivered again.
    ready(p.handle(forwarded)).unwrap();
    ready(p.handle(hand_over)).unwrap();
    assert_eq!(page_views(&p, "ann"), 4);
    assert_eq!(state(&p, "ann").contact.score("lead", at(4)), 20);
}

#[test]
fn an_unsubscribed_visitor_stays_unsubscribed_on_the_contact() {
    let p = visitor_and_contact();
    let unsubscribed = Input::Event(Event::new("unsubscribed", at(3)));
    run(&p, vec![item("anon", unsubscribed, at(3))], at(3));
    assert!(!state(&p, "ann").contact.consent.unsubscribed);
    run(&p, vec![merge("anon", "ann", at(4))], at(4));
    assert!(state(&p, "ann").contact.consent.unsubscribed);
}

#[test]
fn a_failure_between_the_two_partitions_is_finished_by_the_retry() {
    let p = visitor_and_contact();
    p.work.failures.store(1, Ordering::SeqCst);
    let error = ready(p.handle(merge("anon", "ann", at(3)))).unwrap_err();
    assert!(error.retryable(), "{error}");
    // The source has saved the merge; the hand-over waits in its outbox.
    let anon = state(&p, "anon");
    assert_eq!(anon.merged_into.as_deref(), Some("ann"));
    assert_eq!(anon.outbox.as_ref().map(|o| o.work.len()), Some(1));
    assert_eq!(page_views(&p, "ann"), 1, "nothing reached the target yet");
    // The queue delivers the merge again.
    run(&p, vec![merge("anon", "ann", at(3))], at(3));
    assert_eq!(page_views(&p, "ann"), 3);
    assert_eq!(state(&p, "ann").contact.score("lead", at(3)), 15);
    assert!(state(&p, "anon").outbox.is_none());
}

#[test]
fn deleting_the_contact_deletes_its_aliases() {
    let p = visitor_and_contact();
    run(&p, vec![merge("anon", "ann", at(3))], at(3));
    ready(kairos_core::identity::delete(&p.store, "anon", at(4))).unwrap();
    for id in ["ann", "anon"] {
        assert!(ready(p.store.load(id)).unwrap().is_none(), "{id}");
    }
    // Queued work for either id does not bring them back.
    run(&p, vec![page_view("anon", at(2))], at(5));
    assert!(ready(p.store.load("ann")).unwrap().is_none());
}

#[test]
fn merging_back_into_a_profile_already_taken_in_is_refused() {
    let p = pipeline();
    run(
        &p,
        vec![page_view("a", at(0)), page_view("b", at(0))],
        at(0),
    );
    // a into b, then b into a: the second would close a cycle.
    run(
        &p,
        vec![merge("a", "b", at(1)), merge("b", "a", at(2))],
        at(2),
    );
    let b = state(&p, "b");
    assert!(b.merged_into.is_none());
    assert_eq!(page_views(&p, "b"), 2);
    let warning = ready(p.store.journal("b"))
        .unwrap()
        .into_iter()
        .find(|e| e.kind == Kind::Warning)
        .expect("the refusal is journaled");
    assert!(warning.message.unwrap().contains("already part of b"));
    // Events for either id still land once, on b.
    run(&p, vec![page_view("a", at(3))], at(3));
    assert_eq!(page_views(&p, "b"), 3);
}

#[test]
fn the_write_key_merges_only_anonymous_profiles_that_exist() {
    let p = visitor_and_contact();
    let known = Input::Identify(kairos_core::Profile {
        email: Some("eve@example.com".into()),
        ..Default::default()
    });
    run(&p, vec![item("eve", known, at(3))], at(3));
    let write_key = |source: &str, into: &str, when| {
        let input = Input::MergeInto {
            into: into.into(),
            only_anonymous: true,
        };
        item(source, input, when)
    };
    run(
        &p,
        vec![
            // A known contact cannot be taken over with the public key …
            write_key("eve", "mallory", at(4)),
            // … nor an id reserved before it exists.
            write_key("future-user", "mallory", at(4)),
            // An anonymous visitor can.
            write_key("anon", "ann", at(4)),
        ],
        at(4),
    );
    assert!(state(&p, "eve").merged_into.is_none());
    assert!(ready(p.store.load("future-user")).unwrap().is_none());
    assert!(ready(p.store.load("mallory")).unwrap().is_none());
    assert_eq!(page_views(&p, "ann"), 3);
}

#[test]
fn an_event_handled_before_the_merge_and_redelivered_after_it_counts_once() {
    let p = pipeline();
    let view = page_view("anon", at(0));
    run(&p, vec![page_view("ann", at(0)), view.clone()], at(0));
    run(&p, vec![merge("anon", "ann", at(1))], at(1));
    // SQS delivers the first page view again.
    run(&p, vec![view], at(2));
    assert_eq!(page_views(&p, "ann"), 2);
}
