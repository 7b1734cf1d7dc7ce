//! A provider that throttles (SES's sending rate, its daily quota, an outage): the message
//! waits and tries again, longer each time — journaled as delayed, never failed into a
//! dead-letter queue — and goes out once when the provider takes it.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Duration;
use kairos_core::adapters::memory::{
    MemoryDispatch, MemoryMailer, MemoryQueue, MemoryStore, MemoryTimers, RecordingWebhooks,
};
use kairos_core::pipeline::Pipeline;
use kairos_core::ports::{ContactStore, Mailer, Outgoing, PortError, WorkItem};
use kairos_core::{Contact, Event, Input, Kind};
use support::{catalog, ready, t0};

/// A mailer that refuses the first `refusals` sends as throttled.
struct Throttled {
    inner: MemoryMailer,
    refusals: AtomicUsize,
}

impl Mailer for Throttled {
    async fn send(&self, outgoing: &Outgoing) -> Result<String, PortError> {
        if self
            .refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(PortError::Unavailable {
                what: "SES".into(),
                detail: "TooManyRequestsException: Maximum sending rate exceeded".into(),
            });
        }
        self.inner.send(outgoing).await
    }
}

const WELCOME: &str = r#"
id: welcome
entry: { triggers: [ { event: signed_up } ] }
steps: [ { id: hello, send: { channel: email, template: welcome, category: transactional } } ]
"#;

/// The welcome on an in-memory pipeline sending through `mailer`.
type Welcome<M> =
    Pipeline<MemoryStore, MemoryTimers, MemoryQueue, MemoryDispatch, M, RecordingWebhooks>;

/// Ann signs up at `t0` on a pipeline sending through `mailer`, and the work is drained.
fn ann_signs_up<M: Mailer>(mailer: M) -> Welcome<M> {
    let p = Pipeline {
        catalog: catalog(
            &[WELCOME],
            Some("templates:\n  welcome: { subject: Hi, text: Hello }\n"),
        ),
        links: None,
        store: MemoryStore::default(),
        timers: MemoryTimers::default(),
        work: MemoryQueue::default(),
        dispatch: MemoryDispatch::default(),
        mailer,
        webhooks: RecordingWebhooks::default(),
    };
    let mut ann = Contact::new("ann", t0());
    ann.email = Some("ann@example.com".into());
    ready(p.put_contact(ann)).unwrap();
    let item = WorkItem {
        contact: "ann".into(),
        input: Input::Event(Event::new("signed_up", t0())),
        at: t0(),
    };
    ready(p.submit(item)).unwrap();
    ready(p.drain(t0())).unwrap();
    p
}

#[test]
fn a_throttled_message_waits_longer_each_time_and_goes_out_once() {
    let p = ann_signs_up(Throttled {
        inner: MemoryMailer::default(),
        refusals: AtomicUsize::new(4),
    });
    ready(p.advance_to(t0() + Duration::hours(1))).unwrap();

    assert_eq!(p.mailer.inner.sent.lock().unwrap().len(), 1, "sent once");
    let journal = ready(p.store.journal("ann")).unwrap();
    let delayed: Vec<_> = journal
        .iter()
        .filter(|e| e.kind == Kind::MessageDelayed)
        .collect();
    assert_eq!(delayed.len(), 4, "{journal:#?}");
    assert!(delayed
        .iter()
        .all(|e| e.reason.as_deref() == Some("provider_unavailable")));
    // Waits of 0 s, 30 s, 60 s, 120 s after each refusal.
    let waits: Vec<i64> = delayed
        .iter()
        .map(|e| (e.until.unwrap() - e.at).num_seconds())
        .collect();
    assert_eq!(waits, [0, 30, 60, 120]);
    let sent = journal
        .iter()
        .filter(|e| e.kind == Kind::MessageSent)
        .count();
    assert_eq!(sent, 1);
}

/// A mailer at a sending rate whose next turn is a minute off, once: it answers when.
struct Paced {
    inner: MemoryMailer,
    turns_asked: AtomicUsize,
}

impl Mailer for Paced {
    async fn send(&self, outgoing: &Outgoing) -> Result<String, PortError> {
        self.inner.send(outgoing).await
    }

    async fn turn(&self, _outgoing: &Outgoing) -> Option<chrono::DateTime<chrono::Utc>> {
        (self.turns_asked.fetch_add(1, Ordering::SeqCst) == 0).then(|| t0() + Duration::minutes(1))
    }
}

/// A send whose turn at the sending rate is further off than a send waits: held until
/// that turn (journaled once, reason `sending_rate`; nothing claimed — else the send at
/// its turn would be taken for a repeat) and at its turn it goes without asking for
/// another.
#[test]
fn a_paced_message_is_held_until_its_reserved_turn_and_goes_then() {
    let p = ann_signs_up(Paced {
        inner: MemoryMailer::default(),
        turns_asked: AtomicUsize::new(0),
    });
    assert!(p.mailer.inner.sent.lock().unwrap().is_empty(), "held");
    ready(p.advance_to(t0() + Duration::seconds(30))).unwrap();
    assert!(
        p.mailer.inner.sent.lock().unwrap().is_empty(),
        "not before its turn"
    );
    ready(p.advance_to(t0() + Duration::hours(1))).unwrap();
    assert_eq!(
        p.mailer.inner.sent.lock().unwrap().len(),
        1,
        "sent at its turn"
    );
    assert_eq!(
        p.mailer.turns_asked.load(Ordering::SeqCst),
        1,
        "one turn asked"
    );
    let journal = ready(p.store.journal("ann")).unwrap();
    let delayed: Vec<_> = journal
        .iter()
        .filter(|e| e.kind == Kind::MessageDelayed)
        .collect();
    assert_eq!(delayed.len(), 1, "{journal:#?}");
    assert_eq!(delayed[0].reason.as_deref(), Some("sending_rate"));
    assert_eq!(delayed[0].until, Some(t0() + Duration::minutes(1)));
    let sent: Vec<_> = journal
        .iter()
        .filter(|e| e.kind == Kind::MessageSent)
        .collect();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].at >= t0() + Duration::minutes(1),
        "{:?}",
        sent[0].at
    );
}
