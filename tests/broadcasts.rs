//! A broadcast on moto through the real adapters: the business event over intake's
//! router, the fan-out by the sweep function a bounded page at a time (one page failing
//! after its members were queued, as a crash or timeout would leave it, then resumed by
//! the next sweep), evaluate and dispatch from the real queues, SES through moto. Every
//! member gets exactly one email with the product's values; nobody else gets any.
//!
//! 600 contacts (two fan-out pages) and 60 members: moto takes about a quarter of a
//! second per member through evaluate and dispatch, so the 10,000-contact exactness runs
//! on the in-memory pipeline (`shared/tests/broadcasts.rs`) and the 100,000-contact
//! figure on the embedded store (`cargo bench`).

use std::collections::BTreeMap;

use chrono::Utc;
use kairos_aws::handlers::sweep::Sweep;
use kairos_core::failpoint::{self, Action};
use kairos_core::ports::ContactStore;
use kairos_core::{Contact, ContactState};
use kairos_tests::{call, run_until_quiet, stack, Moto};
use serde_json::Value;

const CONTACTS: usize = 600;

const DEFINITIONS: &str = r#"
templates:
  drop: { subject: "{{ broadcast.event.product_name }} now {{ broadcast.event.new_price }}", text: "Cheaper." }
broadcasts:
  price-drop:
    on: { business_event: price_changed, where: { expr: "(old_price - new_price) / old_price > 0.15" } }
    audience: { list: newsletter }
    send: { channel: email, template: drop, category: transactional }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_reaches_each_member_once_through_the_sweeps_fan_out_on_moto() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let (status, body) = call(
        &aws,
        "PUT",
        "/v1/definitions",
        "application/yaml",
        DEFINITIONS,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Contacts written straight to the table (the API would take minutes on moto).
    for i in 0..CONTACTS {
        let mut contact = Contact::new(format!("c{i:05}"), Utc::now());
        contact.email = Some(format!("c{i:05}@example.com"));
        if i % 10 == 0 {
            contact.lists.insert("newsletter".into());
        }
        aws.table
            .save(&mut ContactState::new(contact))
            .await
            .unwrap();
    }
    let event = r#"{"id": "sku-1", "event": "price_changed", "props": {"product_name": "Trail Shoe", "old_price": 120, "new_price": 96}}"#;
    let (status, fired) = call(
        &aws,
        "POST",
        "/v1/business-events",
        "application/json",
        event,
    )
    .await;
    assert_eq!(status, 202, "{fired}");
    assert_eq!(fired["runs"][0], "price-drop:1");

    // The second page fails after its members were queued: that sweep fails; the next
    // one offers the page again and goes on.
    let sweep = Sweep { aws: aws.clone() };
    failpoint::arm("broadcast.after_page", Action::Error, 2);
    assert!(
        sweep.run(Utc::now()).await.is_err(),
        "the failure reached the sweep"
    );
    failpoint::disarm_all();
    let mut sweeps = 0;
    loop {
        let swept = sweep.run(Utc::now()).await.unwrap();
        sweeps += 1;
        if swept.broadcast_pages == 0 {
            break;
        }
        assert!(sweeps < 20, "the fan-out never ends");
    }
    run_until_quiet(&aws).await;

    let mut per_recipient: BTreeMap<String, usize> = BTreeMap::new();
    for email in moto.sent_emails().await {
        let text = email.to_string();
        assert!(text.contains("Trail Shoe now 96"), "{text}");
        let to = email["destinations"]["ToAddresses"][0]
            .as_str()
            .or_else(|| email["destinations"][0].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| recipient(&email));
        *per_recipient.entry(to).or_default() += 1;
    }
    let members = CONTACTS.div_ceil(10);
    assert_eq!(per_recipient.len(), members, "every member, only members");
    assert!(
        per_recipient.values().all(|n| *n == 1),
        "nobody twice: {per_recipient:?}"
    );

    let (_, status) = call(
        &aws,
        "GET",
        "/v1/broadcasts/price-drop",
        "application/json",
        "",
    )
    .await;
    let run = &status["runs"][0];
    assert_eq!(run["audience"], members as u64, "{status}");
    assert_eq!(run["sent"], members as u64, "{status}");
    assert_eq!(run["fanned_out"], true);
}

/// The recipient of a raw message moto recorded (its `To:` header).
fn recipient(email: &Value) -> String {
    let raw = email["raw_data"].as_str().unwrap_or_default();
    raw.lines()
        .find_map(|l| l.strip_prefix("To: "))
        .unwrap_or_default()
        .trim()
        .to_string()
}
