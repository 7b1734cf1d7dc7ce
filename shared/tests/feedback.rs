//! Provider feedback only reports read (a delivery no document names) is journaled on the
//! message's step without passing through the engine; once a document names it, it is an
//! input again; a deleted contact gets nothing, a redelivery one entry.

mod support;

use chrono::{DateTime, Utc};
use kairos_core::adapters::memory::MemoryStore;
use kairos_core::ports::{ContactStore, PortError};
use kairos_core::service::feedback::{journal_only, Handled};
use kairos_core::{Contact, ContactState, Event, JournalEntry, Kind};
use support::ready;

const SENDS: &str = r#"
id: welcome
entry: { triggers: [ { event: signed_up } ] }
steps: [ { id: hello, send: { channel: email, template: welcome } } ]
"#;

const LISTENS: &str = r#"
id: delivered
entry: { triggers: [ { event: email_delivered } ] }
steps: [ { id: mark, tag: { add: [reachable] } } ]
"#;

fn delivery(name: &str) -> Event {
    Event::new(name, Utc::now())
        .with("workflow", "welcome")
        .with("run", "welcome:1")
        .with("step", "hello")
        .with("template", "welcome")
}

fn store_with_ann() -> (MemoryStore, ContactState) {
    let store = MemoryStore::default();
    let mut ann = ContactState::new(Contact::new("ann", Utc::now()));
    ready(store.save(&mut ann)).unwrap();
    (store, ann)
}

#[test]
fn a_delivery_no_document_names_goes_to_the_journal_only() {
    let (store, ann) = store_with_ann();
    let catalog = support::catalog(&[SENDS], None);
    let event = delivery("email_delivered");
    for _ in 0..2 {
        // The notification redelivered: the same entry, kept once.
        let handled = ready(journal_only(&store, &catalog, "ann", &event)).unwrap();
        assert_eq!(handled, Handled::Journaled);
    }
    let journal = ready(store.journal("ann")).unwrap();
    assert_eq!(journal.len(), 1, "{journal:?}");
    let entry = &journal[0];
    assert_eq!(
        (
            entry.kind,
            entry.workflow.as_deref(),
            entry.step.as_deref(),
            entry.run.as_deref()
        ),
        (
            Kind::MessageDelivered,
            Some("welcome"),
            Some("hello"),
            Some("welcome:1")
        )
    );
    assert_eq!(entry.at, event.at);
    let stored = ready(store.load("ann")).unwrap().unwrap();
    assert_eq!(stored.version, ann.version, "the contact was not written");

    // Opens are engagement: always an input.
    let open = delivery("email_opened");
    let handled = ready(journal_only(&store, &catalog, "ann", &open)).unwrap();
    assert_eq!(handled, Handled::Input);
    // Deleted while the delivery is journaled (the store's append is when it happens):
    // the deletion runs again and takes the entry with it.
    struct DeletedDuringAppend(MemoryStore);
    impl ContactStore for DeletedDuringAppend {
        async fn load(&self, c: &str) -> Result<Option<ContactState>, PortError> {
            self.0.load(c).await
        }
        async fn save(&self, s: &mut ContactState) -> Result<(), PortError> {
            self.0.save(s).await
        }
        async fn delete(&self, c: &str, at: DateTime<Utc>) -> Result<(), PortError> {
            self.0.delete(c, at).await
        }
        async fn deleted_at(&self, c: &str) -> Result<Option<DateTime<Utc>>, PortError> {
            self.0.deleted_at(c).await
        }
        async fn contact_ids(&self) -> Result<Vec<String>, PortError> {
            self.0.contact_ids().await
        }
        async fn append_journal(&self, entries: &[JournalEntry]) -> Result<(), PortError> {
            self.0.append_journal(entries).await?;
            self.0.delete("ann", Utc::now()).await
        }
        async fn journal(&self, c: &str) -> Result<Vec<JournalEntry>, PortError> {
            self.0.journal(c).await
        }
        async fn workflow_journal(&self, w: &str) -> Result<Vec<JournalEntry>, PortError> {
            self.0.workflow_journal(w).await
        }
        async fn claim(&self, k: &str) -> Result<bool, PortError> {
            self.0.claim(k).await
        }
        async fn claimed(&self, k: &str) -> Result<bool, PortError> {
            self.0.claimed(k).await
        }
        async fn release(&self, k: &str) -> Result<(), PortError> {
            self.0.release(k).await
        }
        async fn contacts_by_email(&self, e: &str) -> Result<Vec<String>, PortError> {
            self.0.contacts_by_email(e).await
        }
    }
    let (inner, _) = store_with_ann();
    let racing = DeletedDuringAppend(inner);
    let handled = ready(journal_only(&racing, &catalog, "ann", &event)).unwrap();
    assert_eq!(handled, Handled::Journaled);
    assert!(
        ready(racing.journal("ann")).unwrap().is_empty(),
        "nothing left"
    );

    // A contact that is gone: nothing journaled, nothing to queue.
    let gone = ready(journal_only(&store, &catalog, "bo", &event)).unwrap();
    assert_eq!(gone, Handled::Journaled);
    assert!(ready(store.journal("bo")).unwrap().is_empty());
}

#[test]
fn a_delivery_a_workflow_names_is_an_input() {
    let (store, _) = store_with_ann();
    let catalog = support::catalog(&[SENDS, LISTENS], None);
    let event = delivery("email_delivered");
    let handled = ready(journal_only(&store, &catalog, "ann", &event)).unwrap();
    assert_eq!(handled, Handled::Input, "the trigger must see it");
    assert!(ready(store.journal("ann")).unwrap().is_empty());
}

/// Feedback whose tags name nothing deployed (an event posted with made-up tags, a
/// workflow from another system) is history, not a journal entry: stores find a
/// contact's entries under the workflows the catalog knows, so an entry naming another
/// would be out of reach of its journal and of its deletion.
#[test]
fn feedback_naming_nothing_deployed_is_history_not_journal() {
    let (store, mut ann) = store_with_ann();
    let catalog = support::catalog(&[SENDS], None);
    let forged = |name: &str| {
        Event::new(name, Utc::now())
            .with("workflow", "elsewhere")
            .with("step", "hello")
    };
    let delivered = forged("email_delivered");
    let handled = ready(journal_only(&store, &catalog, "ann", &delivered)).unwrap();
    assert_eq!(handled, Handled::Input, "left to the engine");
    assert!(ready(store.journal("ann")).unwrap().is_empty());
    let now = Utc::now();
    for event in [delivered, forged("email_opened")] {
        let out = kairos_core::engine::process(
            &catalog,
            &mut ann,
            kairos_core::engine::Input::Event(event),
            now,
        );
        assert!(out.journal.is_empty(), "{:?}", out.journal);
    }
    let opens = ann.history.log("email_opened").map_or(0, |log| log.total);
    assert_eq!(opens, 1, "in the history");
    // The same feedback about a deployed workflow's message is journaled.
    let out = kairos_core::engine::process(
        &catalog,
        &mut ann,
        kairos_core::engine::Input::Event(delivery("email_opened")),
        now,
    );
    assert_eq!(out.journal.len(), 1);
    assert_eq!(out.journal[0].kind, Kind::MessageOpened);
}
