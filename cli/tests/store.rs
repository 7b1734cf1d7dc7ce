//! The embedded store on its own: a data directory of the earlier file store is carried
//! over on the first open, a panic inside a transaction leaves the database usable, and
//! a batch's own writes do not wait for the write turn it holds.

use chrono::{TimeZone, Utc};
use kairos_cli::store::{Durability, Store};
use kairos_core::ports::{ContactStore, WorkItem};
use kairos_core::{Contact, ContactState, Event, Input};

fn key() -> kairos_core::keys::StoreKey {
    kairos_core::keys::StoreKey::new(*b"a store key of thirty-two bytes!").unwrap()
}

#[tokio::test]
async fn a_file_store_directory_is_carried_over_once() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("migrate-file-store");
    let _ = std::fs::remove_dir_all(&dir);
    let at = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
    for folder in [
        "contacts", "journal", "work", "catalog", "claims", "deleted",
    ] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
    }
    let mut ann = ContactState::new(Contact::new("ann", at));
    ann.contact.email = Some("Ann@Example.com".into());
    ann.version = 3;
    std::fs::write(
        dir.join("contacts/ann-1.json"),
        serde_json::to_string(&ann).unwrap(),
    )
    .unwrap();
    let item = WorkItem {
        contact: "ann".into(),
        input: Input::Event(Event::new("signup", at)),
        at,
    };
    std::fs::write(
        dir.join("work/00000000000000000001.json"),
        serde_json::to_string(&item).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("catalog/DEFS.json"), "{}").unwrap();

    let store = Store::open(&dir, key(), Durability::Normal).await.unwrap();
    let loaded = store
        .load("ann")
        .await
        .unwrap()
        .expect("the contact came over");
    assert_eq!(loaded.version, 3);
    assert_eq!(
        store.contacts_by_email("ann@example.com").await.unwrap(),
        vec!["ann"]
    );
    let (_, queued) = store
        .next_work()
        .unwrap()
        .expect("the queued work came over");
    assert_eq!(queued, item);
    assert!(
        !dir.join("contacts").exists(),
        "the old folders moved aside"
    );
    assert!(dir.join("file-store-migrated/contacts/ann-1.json").exists());
    drop(store);
    // Opening again does not migrate again (or fail).
    let again = Store::open(&dir, key(), Durability::Normal).await.unwrap();
    assert!(again.load("ann").await.unwrap().is_some());
}

#[tokio::test]
async fn a_panic_inside_a_transaction_rolls_it_back() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("store-panic");
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir, key(), Durability::Normal).await.unwrap();
    let runner = store.handle().unwrap();
    let panicking = runner.clone();
    let outcome = tokio::spawn(async move {
        panicking
            .atomically(async {
                let mut state = ContactState::new(Contact::new("ghost", Utc::now()));
                ContactStore::save(&panicking, &mut state).await?;
                panic!("a bug in the middle of a batch");
                #[allow(unreachable_code)]
                Ok(())
            })
            .await
    })
    .await;
    assert!(outcome.unwrap_err().is_panic());
    assert!(store.load("ghost").await.unwrap().is_none(), "rolled back");
    // The pipeline's handle is usable again, and the other handle can write.
    let mut state = ContactState::new(Contact::new("ann", Utc::now()));
    runner
        .atomically(async { ContactStore::save(&runner, &mut state).await })
        .await
        .unwrap();
    let mut other = ContactState::new(Contact::new("bob", Utc::now()));
    store.save(&mut other).await.unwrap();
}

/// Inside its own transaction, a pipeline batch's handle queues work without waiting for
/// itself (the write turn is its already: waiting would hang the batch, and this test
/// times out); a request's insert waits until the batch ends and goes in after it.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_queues_work_within_its_turn_and_a_request_goes_after_it() {
    use kairos_core::ports::WorkQueue;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("store-turns");
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir, key(), Durability::Normal).await.unwrap();
    let runner = store.handle().unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
    let item = |contact: &str| WorkItem {
        contact: contact.into(),
        input: Input::Event(Event::new("signup", at)),
        at,
    };
    let (begun, has_begun) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let batch = runner.clone();
    let in_batch = item("in-batch");
    let holding = tokio::spawn(async move {
        batch
            .atomically(async {
                WorkQueue::push_all(&batch, vec![in_batch]).await?;
                let _ = begun.send(());
                let _ = released.await;
                Ok(())
            })
            .await
    });
    let within = std::time::Duration::from_secs(10);
    tokio::time::timeout(within, has_begun)
        .await
        .expect("the batch queued its work inside its transaction")
        .unwrap();
    let request = {
        let store = store.clone();
        let queued = item("request");
        tokio::spawn(async move { WorkQueue::push_all(&store, vec![queued]).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!request.is_finished(), "the request waits for the batch");
    release.send(()).unwrap();
    tokio::time::timeout(within, holding)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    tokio::time::timeout(within, request)
        .await
        .expect("the request goes in once the batch ends")
        .unwrap()
        .unwrap();
    let mut order = Vec::new();
    while let Some((seq, queued)) = store.next_work().unwrap() {
        order.push(queued.contact);
        store.ack_work(seq).unwrap();
    }
    assert_eq!(order, ["in-batch", "request"]);
}

/// The embedded store answers a workflow's report from counters it brings up to date
/// with what was stored since it last answered: the same report as one built from the
/// whole journal, nothing counted from a batch rolled back, and a deleted contact's
/// entries no longer counted.
#[tokio::test]
async fn report_counters_count_what_is_stored_and_forget_a_deleted_contact() {
    use kairos_core::language::validate::References;
    use kairos_core::{Catalog, JournalEntry, Kind};
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("store-report");
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir, key(), Durability::Normal).await.unwrap();
    let workflow = kairos_core::language::load_workflow(
        "w.yaml",
        "id: w\nentry: { triggers: [ { event: signed_up } ] }\nsteps:\n  - { id: pause, wait: { for: 1d } }\n",
        References::default(),
    )
    .unwrap();
    let mut catalog = Catalog::default();
    catalog.deploy(workflow).unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
    let entered = |contact: &str| {
        let mut entered = JournalEntry::new(at, contact, Kind::Entered);
        entered.workflow = Some("w".into());
        entered.run = Some("w:1".into());
        let mut step = entered.clone();
        step.kind = Kind::Step;
        step.step = Some("pause".into());
        vec![entered, step]
    };
    let from_journal = |journal: &[JournalEntry]| {
        kairos_core::report::build(journal, &catalog)
            .workflows
            .into_iter()
            .find(|w| w.workflow == "w")
    };
    let report = |store: &Store| {
        let store = store.clone();
        let catalog = catalog.clone();
        async move { store.workflow_report("w", &catalog).await.unwrap().unwrap() }
    };
    assert_eq!(report(&store).await.entered, 0);
    store.append_journal(&entered("ann")).await.unwrap();
    assert_eq!(report(&store).await.entered, 1);
    // Appended in a batch that is rolled back: never counted.
    let runner = store.handle().unwrap();
    let failed = runner
        .atomically(async {
            runner.append_journal(&entered("ghost")).await?;
            Err::<(), _>(kairos_core::ports::PortError::Failed {
                what: "the batch".into(),
                detail: "failed after appending".into(),
            })
        })
        .await;
    assert!(failed.is_err());
    for contact in ["bob", "cem"] {
        store.append_journal(&entered(contact)).await.unwrap();
    }
    let counted = report(&store).await;
    assert_eq!((counted.entered, counted.active), (3, 3));
    assert_eq!(counted.steps[0].now_at, 3);
    let journal = store.workflow_journal("w").await.unwrap();
    assert_eq!(
        Some(counted),
        from_journal(&journal),
        "as if built from the journal"
    );
    // Bob asks to be forgotten: his entries leave the journal and the counters.
    store.delete("bob", at).await.unwrap();
    let counted = report(&store).await;
    assert_eq!(counted.entered, 2);
    let journal = store.workflow_journal("w").await.unwrap();
    assert_eq!(Some(counted), from_journal(&journal));
}
