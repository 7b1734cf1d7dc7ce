//! The in-memory adapters honour the port contracts the drivers rely on: optimistic
//! locking, claim-once keys, timers in due order, FIFO work, tombstones.

mod support;

use chrono::Duration;
use kairos_core::adapters::memory::{MemoryQueue, MemoryStore, MemoryTimers};
use kairos_core::ports::{ContactStore, PortError, TimerQueue, WorkItem, WorkQueue};
use kairos_core::{Contact, ContactState, Input, Timer, TimerKind};
use support::t0;

/// The in-memory ports never wait, so one poll completes them.
use support::ready;

#[test]
fn saves_are_conditional_on_the_version_read() {
    let store = MemoryStore::default();
    let mut first = ContactState::new(Contact::new("c1", t0()));
    ready(store.save(&mut first)).unwrap();
    assert_eq!(first.version, 1);
    let mut a = ready(store.load("c1")).unwrap().unwrap();
    let mut b = a.clone();
    a.contact.tags.insert("from-a".into());
    ready(store.save(&mut a)).unwrap();
    b.contact.tags.insert("from-b".into());
    assert_eq!(
        ready(store.save(&mut b)),
        Err(PortError::Conflict { expected: 1 })
    );
    let stored = ready(store.load("c1")).unwrap().unwrap();
    assert!(
        stored.contact.tags.contains("from-a") && !stored.contact.tags.contains("from-b"),
        "nothing of the loser was written"
    );
    assert!(PortError::Conflict { expected: 1 }.retryable());
}

#[test]
fn claims_succeed_once_per_key() {
    let store = MemoryStore::default();
    assert!(ready(store.claim("c1/welcome:1/hello/1")).unwrap());
    assert!(!ready(store.claim("c1/welcome:1/hello/1")).unwrap());
    assert!(ready(store.claim("c1/welcome:1/hello/5")).unwrap());
}

#[test]
fn delete_leaves_a_tombstone() {
    let store = MemoryStore::default();
    let mut state = ContactState::new(Contact::new("c1", t0()));
    ready(store.save(&mut state)).unwrap();
    ready(store.delete("c1", t0())).unwrap();
    assert_eq!(ready(store.load("c1")).unwrap(), None);
    assert_eq!(ready(store.deleted_at("c1")).unwrap(), Some(t0()));
}

#[test]
fn timers_come_out_in_due_order_and_only_when_due() {
    let timers = MemoryTimers::default();
    for (contact, hours) in [("b", 5), ("a", 1), ("c", 3)] {
        let kind = TimerKind::Run { run: 1, wait: 1 };
        ready(timers.schedule(Timer {
            contact: contact.into(),
            due: t0() + Duration::hours(hours),
            kind,
        }))
        .unwrap();
    }
    assert_eq!(
        ready(timers.next_due()).unwrap(),
        Some(t0() + Duration::hours(1))
    );
    let due: Vec<String> = ready(timers.take_due(t0() + Duration::hours(3)))
        .unwrap()
        .into_iter()
        .map(|t| t.contact)
        .collect();
    assert_eq!(due, vec!["a", "c"]);
    assert_eq!(timers.len(), 1);
}

#[test]
fn work_queue_is_fifo() {
    let queue = MemoryQueue::default();
    for c in ["c1", "c2", "c1"] {
        ready(queue.push(WorkItem {
            contact: c.into(),
            input: Input::Refresh,
            at: t0(),
        }))
        .unwrap();
    }
    let order: Vec<String> = std::iter::from_fn(|| ready(queue.pop()).unwrap())
        .map(|w| w.contact)
        .collect();
    assert_eq!(order, vec!["c1", "c2", "c1"]);
}
