//! A broadcast to 100,000 contacts on the embedded store (SQLite, `FULL` durability, as
//! `kairos serve` runs it): the time to fan out (every contact offered, members queued)
//! and the time until every member's message is in the local outbox. One run, printed;
//! run: `cargo bench -p kairos --bench broadcast`. Under `cargo test --all-targets` it
//! runs once with 300 contacts as a smoke test.

use std::time::Instant;

use chrono::Utc;
use kairos_cli::embedded::Embedded;
use kairos_core::engine::{Input, Profile};
use kairos_core::language::load_definitions;
use kairos_core::ports::{CatalogStore, WorkItem, WorkQueue};
use kairos_core::service::broadcasts;
use kairos_core::Event;

const DEFINITIONS: &str = r#"
templates:
  drop: { subject: "{{ broadcast.event.product_name }} now {{ broadcast.event.new_price }}", text: "Cheaper." }
broadcasts:
  price-drop:
    on: { business_event: price_changed }
    audience: { list: newsletter }
    send: { channel: email, template: drop, category: transactional }
"#;

fn main() {
    let contacts: usize = if std::env::args().any(|a| a == "--bench") {
        100_000
    } else {
        300
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(contacts));
}

async fn run(contacts: usize) {
    let dir = std::env::temp_dir().join(format!("kairos-bench-broadcast-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let embedded = Embedded::open(dir.clone(), "http://127.0.0.1:8080".into())
        .await
        .unwrap();
    let definitions = load_definitions("definitions.yaml", DEFINITIONS).unwrap();
    embedded.store.put_definitions(&definitions).await.unwrap();

    // The contacts, as the API would queue them: a profile and the newsletter each.
    let started = Instant::now();
    let now = Utc::now();
    for chunk in (0..contacts).collect::<Vec<_>>().chunks(10_000) {
        let mut items = Vec::new();
        for i in chunk {
            let contact = format!("c{i:07}");
            let profile = Profile {
                email: Some(format!("{contact}@example.com")),
                ..Profile::default()
            };
            items.push(WorkItem {
                contact: contact.clone(),
                input: Input::Identify(profile),
                at: now,
            });
            items.push(WorkItem {
                contact,
                input: Input::Lists {
                    join: vec!["newsletter".into()],
                    leave: vec![],
                },
                at: now,
            });
        }
        embedded.work.push_all(items).await.unwrap();
    }
    while embedded.round(Utc::now()).await.unwrap() > 0 {}
    let seeded = started.elapsed();

    let event = Event::new("price_changed", Utc::now())
        .with("product_name", "Trail Shoe")
        .with("new_price", 96);
    let started = Instant::now();
    let fired = broadcasts::fire(&embedded.store, &embedded.store, event, Utc::now())
        .await
        .unwrap();
    assert_eq!(fired.runs.len(), 1);
    while embedded.work_broadcasts(Utc::now()).await.unwrap() {}
    let fanned_out = started.elapsed();
    while embedded.round(Utc::now()).await.unwrap() > 0 {}
    let sent_in = started.elapsed();

    let catalog = embedded.store.catalog().await.unwrap();
    let status = broadcasts::status(&catalog, &embedded.store, "price-drop")
        .await
        .unwrap();
    assert_eq!(status[0].sent as usize, contacts, "{status:?}");
    println!(
        "broadcast to {contacts} contacts (embedded store, FULL): seeded in {:.1} s; fanned out in {:.1} s; all {} sent {:.1} s after the business event ({:.0} messages/s)",
        seeded.as_secs_f64(),
        fanned_out.as_secs_f64(),
        status[0].sent,
        sent_in.as_secs_f64(),
        contacts as f64 / sent_in.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
