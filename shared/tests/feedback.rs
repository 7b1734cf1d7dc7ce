//! Provider feedback only reports read (a delivery no document names) is journaled on the
//! message's step without passing through the engine; once a document names it, it is an
//! input again; a deleted contact gets nothing, a redelivery one entry.

mod support;

use chrono::Utc;
use kairos_core::adapters::memory::MemoryStore;
use kairos_core::ports::ContactStore;
use kairos_core::service::feedback::{journal_only, Handled};
use kairos_core::{Contact, ContactState, Event, Kind};
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
