//! The functions against moto's server through the real SDK adapters: the full flow from
//! `POST /v1/events` to an email in the emulator's SES, conditional-write conflicts,
//! delay-queue wake-ups, exactly-once sends under redelivery, poison messages in the DLQ,
//! feedback, and item sizes.

mod events;
mod template;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use kairos_aws::app::Aws;
use kairos_aws::local::provision::dead_letter_queue_url;
use kairos_core::ports::{CatalogStore, ContactStore, PortError, TimerQueue};
use kairos_core::{Contact, ContactState, Timer, TimerKind};
use kairos_tests::{call, receive, run_until_quiet, settle, stack, Moto, API_KEY as KEY};
use serde_json::{json, Value};
use tower::ServiceExt;

const WELCOME: &str = r#"
id: welcome
entry: { triggers: [ { event: signed_up } ] }
steps:
  - { id: hello, send: { channel: email, template: welcome } }
  - { id: pause, wait: { for: 2d } }
  - { id: tips, send: { channel: email, template: tips } }
"#;

const DEFINITIONS: &str = r#"
templates:
  welcome: { subject: "Welcome to the shop", text: "Glad you are here." }
  tips: { subject: "Three tips", text: "Tip one" }
"#;

async fn deploy(aws: &Aws) {
    assert_eq!(
        call(
            aws,
            "PUT",
            "/v1/definitions",
            "application/yaml",
            DEFINITIONS
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, body) = call(
        aws,
        "PUT",
        "/v1/workflows/welcome",
        "application/yaml",
        WELCOME,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 1);
}

/// Erasure on AWS: after `DELETE /v1/contacts/{id}` nothing in the table names the contact
/// or its address but a far timer (in the index until due) — its tombstone and the claims
/// of its sends, which stay 30 days, are keyed by HMACs under the store key — and the
/// tombstone still stops work queued before. Signing up again afterwards makes a new
/// contact: the tombstone is lifted and the welcome is sent again.
#[tokio::test]
async fn a_deleted_contact_leaves_no_address_in_the_table() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    deploy(&aws).await;
    let email = "erase.me@example.com";
    let put_contact = || async {
        let (status, _) = call(
            &aws,
            "PUT",
            &format!("/v1/contacts/{email}"),
            "application/json",
            &format!(r#"{{"email": "{email}"}}"#),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    };
    put_contact().await;
    let event = format!(r#"{{"id": "e1", "contact": "{email}", "event": "signed_up"}}"#);
    call(&aws, "POST", "/v1/events", "application/json", &event).await;
    run_until_quiet(&aws).await;
    assert_eq!(moto.sent_emails().await.len(), 1);

    let items = || async {
        aws.table
            .client
            .scan()
            .table_name(&aws.table.name)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    };
    let mentions = |items: &[kairos_aws::table::Item]| {
        items
            .iter()
            .filter(|item| format!("{item:?}").contains("erase.me"))
            .count()
    };
    assert!(
        mentions(&items().await) > 1,
        "the contact, its journal, claims"
    );
    let (status, _) = call(
        &aws,
        "DELETE",
        &format!("/v1/contacts/{email}"),
        "application/json",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let after = items().await;
    // The one exception (README, "GDPR"): the 2-day wait's timer, in the index until due.
    let (timers, rest): (Vec<_>, Vec<_>) = after.iter().cloned().partition(|item| {
        item.get("pk")
            .and_then(|k| k.as_s().ok())
            .is_some_and(|k| k.starts_with("T#"))
    });
    assert_eq!(mentions(&rest), 0, "{rest:#?}");
    assert_eq!(timers.len(), 1, "{timers:#?}");
    let keys: Vec<String> = after
        .iter()
        .filter_map(|item| item.get("pk")?.as_s().ok().cloned())
        .collect();
    assert!(
        keys.iter().any(|k| k.starts_with("X#")),
        "a tombstone: {keys:?}"
    );
    assert!(keys.iter().any(|k| k.starts_with("K#")), "claims: {keys:?}");
    assert!(aws.table.deleted_at(email).await.unwrap().is_some());
    // The same event again (a late redelivery) neither resurrects the contact nor sends.
    call(&aws, "POST", "/v1/events", "application/json", &event).await;
    run_until_quiet(&aws).await;
    assert_eq!(moto.sent_emails().await.len(), 1);
    let (status, _) = call(
        &aws,
        "GET",
        &format!("/v1/contacts/{email}"),
        "application/json",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Signing up again after the deletion starts a new contact, whose first save lifts the
    // tombstone (the engine read it, so the save knows there is one to lift).
    put_contact().await;
    let again = format!(r#"{{"id": "e2", "contact": "{email}", "event": "signed_up"}}"#);
    call(&aws, "POST", "/v1/events", "application/json", &again).await;
    run_until_quiet(&aws).await;
    assert_eq!(aws.table.deleted_at(email).await.unwrap(), None);
    let state = aws.table.load(email).await.unwrap().expect("created again");
    assert_eq!(state.runs.len(), 1, "a new contact with one run: {state:?}");
    // Its runs count from 1 again: its welcome's claim is not the erased contact's.
    assert_eq!(
        moto.sent_emails().await.len(),
        2,
        "the new contact's welcome"
    );
}

#[tokio::test]
async fn an_event_becomes_an_email_in_the_emulator() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    deploy(&aws).await;
    let (status, _) = call(
        &aws,
        "PUT",
        "/v1/contacts/ann",
        "application/json",
        r#"{"email": "ann@example.com", "timezone": "Europe/Berlin"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &aws,
        "POST",
        "/v1/events",
        "application/json",
        r#"{"id": "e1", "contact": "ann", "event": "signed_up"}"#,
    )
    .await;
    assert_eq!(
        (status, body["accepted"].clone()),
        (StatusCode::ACCEPTED, json!(1))
    );
    run_until_quiet(&aws).await;

    let sent = moto.sent_emails().await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let text = sent[0].to_string();
    assert!(
        text.contains("ann@example.com") && text.contains("Welcome to the shop"),
        "{text}"
    );

    let (_, journal) = call(
        &aws,
        "GET",
        "/v1/contacts/ann/journal",
        "application/json",
        "",
    )
    .await;
    let kinds: Vec<&str> = journal["journal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"message_sent") && kinds.contains(&"waiting"),
        "{kinds:?}"
    );
    let (_, contact) = call(&aws, "GET", "/v1/contacts/ann", "application/json", "").await;
    assert_eq!(contact["runs"][0]["workflow"], "welcome");
    assert_eq!(contact["runs"][0]["step"], "pause", "{contact}");
    assert!(contact["runs"][0]["waiting_until"].is_string(), "{contact}");
    // The two-day wait is far beyond the delay queue: its timer sits in the index.
    assert!(aws.table.next_timer().await.unwrap().is_some());
    // No personal data on the queues: the work item is stored, the message names it.
    let (status, _) = call(
        &aws,
        "POST",
        "/v1/events",
        "application/json",
        r#"{"id": "e1", "contact": "ann", "event": "signed_up"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let event = receive(&aws, &aws.names.work_queue_url).await.event;
    assert!(
        event.records.is_empty(),
        "the same event id twice is accepted once"
    );
}

/// How many messages `queue`'s dead-letter queue holds.
async fn dead_letters(aws: &Aws, config: &aws_config::SdkConfig, queue: &str) -> usize {
    let dlq = dead_letter_queue_url(config, "kairos", queue)
        .await
        .unwrap();
    kairos_tests::queue_depth(aws, &dlq).await
}

/// Signs `ids` up with addresses (`<id>@example.com`): each starts the welcome.
async fn sign_up(aws: &Aws, ids: &[String]) {
    for id in ids {
        let body = json!({ "email": format!("{id}@example.com") }).to_string();
        let path = format!("/v1/contacts/{id}");
        let (status, _) = call(aws, "PUT", &path, "application/json", &body).await;
        assert_eq!(status, StatusCode::OK);
        let event = json!({ "contact": id, "event": "signed_up" }).to_string();
        let (status, _) = call(aws, "POST", "/v1/events", "application/json", &event).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
}

/// Runs `queue`'s records through `handle` until none is visible.
async fn poll_until_empty<F, Fut>(aws: &Aws, queue: &str, handle: F)
where
    F: Fn(aws_lambda_events::event::sqs::SqsEvent) -> Fut,
    Fut: std::future::Future<Output = aws_lambda_events::event::sqs::SqsBatchResponse>,
{
    use kairos_aws::local::event_source;
    while event_source::poll(&aws.queues.sqs, queue, 0, &handle)
        .await
        .unwrap()
        > 0
    {}
}

/// Emails go out at the instance's share of SES's sending rate: eight at 2/s (a burst of
/// two saved up) take at least three seconds of dispatching, each sent once. At a rate
/// whose next turn is further off than a send may wait, the message is held until its
/// turn — journaled as delayed by the sending rate, nothing claimed — and sent then; no
/// dead letter.
#[tokio::test]
async fn emails_are_paced_to_the_sending_rate() {
    use kairos_aws::handlers::{dispatch::Dispatch, evaluate::Evaluate};
    let moto = Moto::start();
    let (mut aws, config) = stack(&moto).await;
    aws.mailer.pace = Arc::new(kairos_aws::pace::Pacing::fixed(2.0));
    deploy(&aws).await;
    let ids: Vec<String> = (0..8).map(|i| format!("p{i}")).collect();
    sign_up(&aws, &ids).await;
    let evaluate = Evaluate::new(aws.clone());
    poll_until_empty(&aws, &aws.names.work_queue_url, |e| evaluate.handle(e)).await;
    let dispatch = Dispatch::new(aws.clone()).unwrap();
    let started = std::time::Instant::now();
    poll_until_empty(&aws, &aws.names.dispatch_queue_url, |e| {
        dispatch.handle(e, Utc::now())
    })
    .await;
    let took = started.elapsed();
    assert_eq!(moto.sent_emails().await.len(), 8);
    assert!(took >= Duration::from_secs(3), "eight at 2/s in {took:?}");

    // 0.4/s: one now, the next 2.5 s off — more than a send waits.
    aws.mailer.pace = Arc::new(kairos_aws::pace::Pacing::fixed(0.4));
    let dispatch = Dispatch::new(aws.clone()).unwrap();
    let late: Vec<String> = vec!["q0".into(), "q1".into()];
    sign_up(&aws, &late).await;
    poll_until_empty(&aws, &aws.names.work_queue_url, |e| evaluate.handle(e)).await;
    poll_until_empty(&aws, &aws.names.dispatch_queue_url, |e| {
        dispatch.handle(e, Utc::now())
    })
    .await;
    assert_eq!(moto.sent_emails().await.len(), 9, "one of the two sent");
    let mut held = Vec::new();
    for id in &late {
        held.extend(
            aws.table
                .journal(id)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| {
                    e.kind == kairos_core::Kind::MessageDelayed
                        && e.reason.as_deref() == Some("sending_rate")
                }),
        );
    }
    assert_eq!(held.len(), 1, "the other held for its turn: {held:?}");
    // Its turn comes: sent, once.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        poll_until_empty(&aws, &aws.names.dispatch_queue_url, |e| {
            dispatch.handle(e, Utc::now())
        })
        .await;
        if moto.sent_emails().await.len() == 10 {
            break;
        }
    }
    assert_eq!(moto.sent_emails().await.len(), 10, "the held one sent");
    for queue in ["dispatch", "work"] {
        assert_eq!(dead_letters(&aws, &config, queue).await, 0, "{queue} DLQ");
    }
}

/// Dispatch and feedback take the catalog as checked within a second: a deploy made
/// elsewhere (another function instance) reaches them once that has passed, one made
/// through the same table at once; `catalog()` (evaluate, the API) always reads the stamp.
#[tokio::test]
async fn a_consumer_catalog_is_at_most_its_age_behind() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    deploy(&aws).await;
    let elsewhere = kairos_aws::table::Table::new(
        aws.table.client.clone(),
        aws.table.name.clone(),
        kairos_tests::store_key(),
    );
    let version = |id: &str| {
        let doc = WELCOME.replace("id: welcome", &format!("id: {id}"));
        let refs = kairos_core::language::validate::References::default();
        kairos_core::language::load_workflow("w.yaml", &doc, refs).unwrap()
    };
    let hour = Duration::from_secs(3600);
    assert!(aws
        .table
        .catalog_within(hour)
        .await
        .unwrap()
        .latest("welcome")
        .is_some());
    elsewhere.put_workflow(&version("later")).await.unwrap();
    let known = |c: kairos_core::Catalog| c.latest("later").is_some();
    assert!(
        !known(aws.table.catalog_within(hour).await.unwrap()),
        "checked just now"
    );
    assert!(known(aws.table.catalog().await.unwrap()), "the stamp read");
    aws.table.put_workflow(&version("mine")).await.unwrap();
    let now = aws.table.catalog_within(hour).await.unwrap();
    assert!(now.latest("mine").is_some(), "its own write at once");
    elsewhere.put_workflow(&version("aged")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let aged = aws
        .table
        .catalog_within(Duration::from_millis(10))
        .await
        .unwrap();
    assert!(
        aged.latest("aged").is_some(),
        "older than its age: checked again"
    );
}

/// A deploy made through another instance a moment ago adds a template and a workflow
/// sending it; evaluate (which reads the stamp) queues the message, and dispatch, whose
/// catalog was checked just before the deploy, looks again instead of suppressing the
/// message for an unknown template.
#[tokio::test]
async fn dispatch_looks_again_for_a_template_deployed_a_moment_ago() {
    use kairos_aws::handlers::dispatch::Dispatch;
    let moto = Moto::start();
    let (aws, config) = stack(&moto).await;
    deploy(&aws).await;
    // Dispatch as its own instance (its own table and catalog cache), checked just now.
    let dispatching = Aws::new(&config, aws.names.clone(), kairos_tests::store_key());
    let dispatch = Dispatch::new(dispatching.clone()).unwrap();
    let hour = Duration::from_secs(3600);
    dispatching.table.catalog_within(hour).await.unwrap();
    let elsewhere = Aws::new(&config, aws.names.clone(), kairos_tests::store_key());
    let definitions =
        format!("{DEFINITIONS}  fresh: {{ subject: \"Just deployed\", text: \"New.\" }}\n");
    let yaml = "application/yaml";
    let (status, body) = call(&elsewhere, "PUT", "/v1/definitions", yaml, &definitions).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let workflow = "id: fresh\nentry: { triggers: [ { event: tried } ] }\nsteps:\n  - { id: now, send: { channel: email, template: fresh } }\n";
    let (status, body) = call(&elsewhere, "PUT", "/v1/workflows/fresh", yaml, workflow).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body = json!({ "email": "new@example.com" }).to_string();
    call(&aws, "PUT", "/v1/contacts/new", "application/json", &body).await;
    let event = json!({ "contact": "new", "event": "tried" }).to_string();
    call(&aws, "POST", "/v1/events", "application/json", &event).await;
    let evaluate = kairos_aws::handlers::evaluate::Evaluate::new(aws.clone());
    poll_until_empty(&aws, &aws.names.work_queue_url, |e| evaluate.handle(e)).await;
    poll_until_empty(&aws, &aws.names.dispatch_queue_url, |e| {
        dispatch.handle(e, Utc::now())
    })
    .await;
    let sent = moto.sent_emails().await;
    let fresh = sent.iter().any(|m| m.to_string().contains("Just deployed"));
    assert!(fresh, "{sent:#?}");
}

/// A contact's inputs in one work-queue batch: the second starts from the state the
/// first saved (one read of the contact for both), and when someone wrote the contact in
/// between, the second's save is a conflict and it starts again from the store — nothing
/// of either write is lost.
#[tokio::test]
async fn a_batch_reads_a_contact_once_and_a_write_in_between_is_not_lost() {
    use kairos_core::pipeline::{Evaluator, Recent};
    use kairos_core::ports::WorkItem;
    use kairos_core::Input;
    let moto = Moto::start();
    let meter = kairos_tests::meter::Meter::default();
    let plain = aws_smithy_http_client::Builder::new().build_http();
    let settings = kairos_aws::local::provision::QueueSettings {
        visibility_timeout: 30,
        max_receive_count: 5,
    };
    let (aws, _) = kairos_tests::stack_through(&moto, meter.client(plain), settings).await;
    deploy(&aws).await;
    sign_up(&aws, &["ann".to_string()]).await;
    meter.reset();
    let evaluate = kairos_aws::handlers::evaluate::Evaluate::new(aws.clone());
    let batch = receive(&aws, &aws.names.work_queue_url).await;
    assert_eq!(batch.event.records.len(), 2, "the profile and the event");
    let response = evaluate.handle(batch.event.clone()).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    settle(&aws, &aws.names.work_queue_url, &batch, &response).await;
    let reads = meter
        .by_item()
        .get(&("C/STATE".to_string(), "GetItem".to_string()))
        .map_or(0, |u| u.requests);
    assert_eq!(reads, 1, "one read of the contact for its two inputs");
    let ann = aws.table.load("ann").await.unwrap().unwrap();
    assert_eq!(ann.contact.email.as_deref(), Some("ann@example.com"));
    assert_eq!(ann.runs.len(), 1, "the sign-up started the welcome");

    // Someone writes ann between two inputs of a batch: the kept state is stale.
    let catalog = aws.table.catalog().await.unwrap();
    let recent = Recent::default();
    let evaluator = Evaluator {
        catalog: &catalog,
        store: &aws.table,
        timers: &aws.queues,
        dispatch: &aws.queues,
        work: &aws.queues,
        recent: Some(&recent),
    };
    let tag = |tag: &str| WorkItem {
        contact: "ann".into(),
        input: Input::Tags {
            add: vec![tag.into()],
            remove: vec![],
        },
        at: Utc::now(),
    };
    evaluator.handle(tag("first")).await.unwrap();
    let mut other = aws.table.load("ann").await.unwrap().unwrap();
    other.contact.tags.insert("by-someone-else".into());
    aws.table.save(&mut other).await.unwrap();
    evaluator.handle(tag("second")).await.unwrap();
    let ann = aws.table.load("ann").await.unwrap().unwrap();
    for tag in ["first", "by-someone-else", "second"] {
        assert!(
            ann.contact.tags.contains(tag),
            "{tag}: {:?}",
            ann.contact.tags
        );
    }
}

#[tokio::test]
async fn conditional_writes_refuse_a_stale_version() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let mut first = ContactState::new(Contact::new("c1", Utc::now()));
    aws.table.save(&mut first).await.unwrap();
    let mut a = aws.table.load("c1").await.unwrap().unwrap();
    let mut b = a.clone();
    a.contact.tags.insert("a".into());
    aws.table.save(&mut a).await.unwrap();
    b.contact.tags.insert("b".into());
    assert_eq!(
        aws.table.save(&mut b).await,
        Err(PortError::Conflict { expected: 1 })
    );
    let stored = aws.table.load("c1").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert!(stored.contact.tags.contains("a") && !stored.contact.tags.contains("b"));
    // A second creation of the same contact is a conflict too.
    let mut again = ContactState::new(Contact::new("c1", Utc::now()));
    assert_eq!(
        aws.table.save(&mut again).await,
        Err(PortError::Conflict { expected: 0 })
    );

    // Workflow versions are immutable: two deploys that both made version 1 cannot both
    // store it, and the API answers the loser 409.
    let refs = kairos_core::language::validate::References::default();
    let mine = kairos_core::language::load_workflow("a.yaml", WELCOME, refs).unwrap();
    let theirs = kairos_core::language::load_workflow(
        "b.yaml",
        &WELCOME.replace("2d", "3d"),
        kairos_core::language::validate::References::default(),
    )
    .unwrap();
    aws.table.put_workflow(&theirs).await.unwrap();
    let lost = aws.table.put_workflow(&mine).await.unwrap_err();
    assert_eq!(lost, PortError::Conflict { expected: 0 });
    let answer =
        axum::response::IntoResponse::into_response(kairos_api::error::ApiError::from(lost));
    assert_eq!(answer.status(), StatusCode::CONFLICT);
    let (catalog, _) = aws.table.load_catalog().await.unwrap();
    assert_eq!(
        catalog.latest("welcome").unwrap().doc,
        theirs.doc,
        "the first stored version stays"
    );
}

#[tokio::test]
async fn a_short_timer_wakes_through_the_delay_queue_never_early() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let wf = r#"
id: quick
entry: { triggers: [ { event: go } ] }
steps:
  - { id: pause, wait: { for: 2s } }
  - { id: done, tag: { add: [woke] } }
"#;
    assert_eq!(
        call(&aws, "PUT", "/v1/workflows/quick", "application/yaml", wf)
            .await
            .0,
        StatusCode::OK
    );
    call(
        &aws,
        "POST",
        "/v1/events",
        "application/json",
        r#"{"contact": "c9", "event": "go"}"#,
    )
    .await;
    run_until_quiet(&aws).await;
    let event = receive(&aws, &aws.names.delay_queue_url).await.event;
    assert!(
        event.records.is_empty(),
        "the delay queue holds the timer back"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let wakeup = kairos_aws::handlers::wakeup::Wakeup { aws: aws.clone() };
    let batch = receive(&aws, &aws.names.delay_queue_url).await;
    let event = batch.event.clone();
    assert_eq!(event.records.len(), 1);
    let response = wakeup.handle(event.clone(), Utc::now()).await;
    settle(&aws, &aws.names.delay_queue_url, &batch, &response).await;
    run_until_quiet(&aws).await;
    let state = aws.table.load("c9").await.unwrap().unwrap();
    assert!(
        state.contact.tags.contains("woke"),
        "{:?}",
        state.contact.tags
    );
    let woke = aws
        .table
        .journal("c9")
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == kairos_core::Kind::Woke)
        .unwrap();
    let waited = aws
        .table
        .journal("c9")
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == kairos_core::Kind::Waiting)
        .unwrap();
    assert_eq!(
        woke.at,
        waited.until.unwrap(),
        "woke exactly at the due time"
    );
}

#[tokio::test]
async fn a_stale_or_early_timer_is_handled_and_the_sweep_moves_due_timers() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let wakeup = kairos_aws::handlers::wakeup::Wakeup { aws: aws.clone() };
    let now = Utc::now();
    let gone = Timer {
        due: now,
        contact: "nobody".into(),
        kind: TimerKind::Run { run: 1, wait: 1 },
    };
    assert_eq!(
        wakeup.one(gone, now).await.unwrap(),
        kairos_aws::handlers::wakeup::Fate::Stale
    );
    let early = Timer {
        due: now + chrono::Duration::seconds(30),
        contact: "c1".into(),
        kind: TimerKind::Run { run: 1, wait: 1 },
    };
    assert_eq!(
        wakeup.one(early, now).await.unwrap(),
        kairos_aws::handlers::wakeup::Fate::Early
    );
    // A timer 20 minutes out goes to the index; the sweep moves it once within 15 minutes.
    let later = Timer {
        due: now + chrono::Duration::minutes(20),
        contact: "c2".into(),
        kind: TimerKind::Run { run: 1, wait: 1 },
    };
    aws.queues.schedule(later.clone()).await.unwrap();
    let sweep = kairos_aws::handlers::sweep::Sweep { aws: aws.clone() };
    assert_eq!(sweep.run(now).await.unwrap().timers, 0);
    assert_eq!(
        sweep
            .run(now + chrono::Duration::minutes(6))
            .await
            .unwrap()
            .timers,
        1
    );
    assert_eq!(aws.table.next_timer().await.unwrap(), None);
}

#[tokio::test]
async fn a_message_delivered_twice_sends_once() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    deploy(&aws).await;
    call(
        &aws,
        "PUT",
        "/v1/contacts/bo",
        "application/json",
        r#"{"email": "bo@example.com"}"#,
    )
    .await;
    call(
        &aws,
        "POST",
        "/v1/events",
        "application/json",
        r#"{"contact": "bo", "event": "signed_up"}"#,
    )
    .await;
    let evaluate = kairos_aws::handlers::evaluate::Evaluate::new(aws.clone());
    for _ in 0..3 {
        let batch = receive(&aws, &aws.names.work_queue_url).await;
        let event = batch.event.clone();
        let response = evaluate.handle(event.clone()).await;
        settle(&aws, &aws.names.work_queue_url, &batch, &response).await;
    }
    let event = receive(&aws, &aws.names.dispatch_queue_url).await.event;
    assert_eq!(event.records.len(), 1);
    let dispatch = kairos_aws::handlers::dispatch::Dispatch::new(aws.clone()).unwrap();
    // The same record twice (SQS at-least-once), as if the first delete never happened
    // (the job travels in the message: a crash between send and delete leaves it whole).
    let first = dispatch.handle(event.clone(), Utc::now()).await;
    assert!(first.batch_item_failures.is_empty());
    let second = dispatch.handle(event, Utc::now()).await;
    assert!(second.batch_item_failures.is_empty());
    assert_eq!(
        moto.sent_emails().await.len(),
        1,
        "claimed before sending: one email"
    );
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dead_letter_queue() {
    let moto = Moto::start();
    let (aws, config) = stack(&moto).await;
    aws.queues
        .sqs
        .send_message()
        .queue_url(&aws.names.work_queue_url)
        .message_body("this is not a work item")
        .message_group_id("g")
        .message_deduplication_id("poison")
        .send()
        .await
        .unwrap();
    let evaluate = kairos_aws::handlers::evaluate::Evaluate::new(aws.clone());
    let mut attempts = 0;
    for _ in 0..10 {
        let batch = receive(&aws, &aws.names.work_queue_url).await;
        let event = batch.event.clone();
        if event.records.is_empty() {
            tokio::time::sleep(Duration::from_millis(1100)).await;
            continue;
        }
        attempts += 1;
        let response = evaluate.handle(event.clone()).await;
        assert_eq!(
            response.batch_item_failures.len(),
            1,
            "reported as failed, not retried in a loop"
        );
        settle(&aws, &aws.names.work_queue_url, &batch, &response).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(attempts, 2, "maxReceiveCount = 2");
    let dlq = dead_letter_queue_url(&config, "kairos", "work")
        .await
        .unwrap();
    let out = aws
        .queues
        .sqs
        .receive_message()
        .queue_url(dlq)
        .send()
        .await
        .unwrap();
    let bodies: Vec<String> = out
        .messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body)
        .collect();
    assert_eq!(bodies, vec!["this is not a work item"]);
}

#[tokio::test]
async fn bounces_and_complaints_come_back_as_events_once() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let feedback = kairos_aws::handlers::feedback::Feedback::new(aws.clone());
    let bounce = json!({
        "eventType": "Bounce",
        "mail": { "tags": { "contact": ["ann"], "workflow": ["welcome"], "step": ["hello"], "template": ["welcome"] } },
        "bounce": { "bounceType": "Permanent", "timestamp": "2026-01-05T08:00:00Z", "bouncedRecipients": [ { "emailAddress": "ann@example.com" } ] }
    });
    // AWS sends the SES event as a string inside the SNS envelope; emulators as an object.
    let event = json!({ "Records": [
        { "Sns": { "MessageId": "m1", "Message": bounce.to_string() } },
        { "Sns": { "MessageId": "m1", "Message": bounce } },
        { "Sns": { "MessageId": "m2", "Message": { "eventType": "Complaint", "mail": { "tags": { "contact": ["bob"] } }, "complaint": {} } } },
    ]});
    assert_eq!(feedback.handle(&event, Utc::now()).await.unwrap(), 2);
    assert_eq!(
        feedback.handle(&event, Utc::now()).await.unwrap(),
        0,
        "duplicates are claimed away"
    );
    run_until_quiet(&aws).await;
    let ann = aws.table.load("ann").await.unwrap().unwrap();
    assert!(ann.contact.consent.bounced);
    let bob = aws.table.load("bob").await.unwrap().unwrap();
    assert!(bob.contact.consent.complained);
}

#[tokio::test]
async fn bad_input_gets_the_documented_4xx_and_writes_nothing() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let (status, body) = call(
        &aws,
        "POST",
        "/v1/events",
        "application/json",
        r#"{"contact": "c1"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field `event`"),
        "{body}"
    );
    let (status, body) = call(&aws, "POST", "/v1/events", "application/json", r#"{"events": [{"contact": "c1", "event": "a"}, {"contact": "c1", "event": "b", "at": "yesterday"}]}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["path"], "events[1].at", "{body}");
    let event = receive(&aws, &aws.names.work_queue_url).await.event;
    assert!(
        event.records.is_empty(),
        "nothing accepted when one event is bad"
    );
    let big = format!(
        r#"{{"contact": "c1", "event": "x", "props": {{"blob": "{}"}}}}"#,
        "x".repeat(300_000)
    );
    assert_eq!(
        call(&aws, "POST", "/v1/events", "application/json", &big)
            .await
            .0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        call(&aws, "POST", "/v1/events", "text/plain", "{}").await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let (status, body) = call(
        &aws,
        "PUT",
        "/v1/workflows/w",
        "application/yaml",
        "id: w\nsteps:\n  - { id: a, wait: { for: 3x } }\n",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["path"], "steps[0].wait.for");
    let (status, body) = call(
        &aws,
        "PUT",
        "/v1/workflows/w",
        "application/yaml",
        "id: w\nsteps:\n  - { id: a, goto: b }\n",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "validation_failed");
    let with_authorization = |value: String| {
        kairos_api::router(Arc::new(kairos_api::App::new(
            aws.clone(),
            KEY.into(),
            None,
        )))
        .oneshot(
            Request::builder()
                .uri("/v1/workflows/nothing")
                .header("authorization", value)
                .body(Body::empty())
                .unwrap(),
        )
    };
    for wrong in [
        "Bearer wrong".to_string(),
        format!("Bearer {KEY}x"),
        format!("Basic {KEY}"),
        KEY.to_string(),
    ] {
        let response = with_authorization(wrong.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{wrong}");
    }
    // The scheme is case-insensitive (RFC 7235): past auth, the workflow is just missing.
    let response = with_authorization(format!("bearer {KEY}")).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (status, body) = call(&aws, "DELETE", "/v1/events", "application/json", "").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::METHOD_NOT_ALLOWED, &json!("method_not_allowed"))
    );
}

#[tokio::test]
async fn contact_items_stay_small() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let mut state = ContactState::new(Contact::new("heavy", Utc::now()));
    for i in 0..300 {
        let at = Utc::now() - chrono::Duration::hours(i);
        state.history.record(
            &kairos_core::Event::new("page_viewed", at).with("url", format!("/docs/page-{i}")),
        );
        state.history.record(
            &kairos_core::Event::new("purchase", at)
                .with("amount", 10)
                .with("sku", "A1"),
        );
    }
    aws.table.save(&mut state).await.unwrap();
    let item = aws
        .table
        .client
        .get_item()
        .table_name(&aws.table.name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("C#heavy".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("STATE".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let json = serde_json::to_string(&state).unwrap().len();
    // A body this long is stored deflated: a write is billed per KB.
    assert!(json < 100_000, "{json} bytes: the history is bounded");
    let size = item["zbody"].as_b().unwrap().as_ref().len();
    assert!(
        size < json / 3,
        "a contact with 600 events in its history is {json} bytes of JSON, {size} stored"
    );
    let loaded = aws.table.load("heavy").await.unwrap().unwrap();
    assert_eq!(loaded.history, state.history, "and reads back whole");
}

/// One input's journal batch is stored as one page per workflow it names (a page split
/// when it would pass 64 KB), written once: a page naming a workflow in that workflow's
/// partitions, one naming none in the contact's. A contact's journal reads back in the
/// batch's order, each workflow's journal from its partitions; batches stored by earlier
/// versions (one entry per item, or pages in the contact's partition copied into the
/// `by-workflow` index) still read, are known as stored, and are not doubled when handed
/// on again. Deleting the contact takes every page.
#[tokio::test]
async fn a_journal_batch_is_stored_in_pages_and_reads_back_in_order() {
    use kairos_core::{JournalEntry, Kind};
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    // The workflows the entries name are deployed: a contact's pages are looked for under
    // the journal indexes the catalog knows.
    for id in ["a", "b"] {
        let doc = WELCOME.replace("id: welcome", &format!("id: {id}"));
        let refs = kairos_core::language::validate::References::default();
        let workflow = kairos_core::language::load_workflow("w.yaml", &doc, refs).unwrap();
        aws.table.put_workflow(&workflow).await.unwrap();
    }
    let at = Utc::now();
    let entry = |workflow: Option<&str>, step: &str| {
        let mut e = JournalEntry::new(at, "c1", Kind::Step);
        e.workflow = workflow.map(str::to_string);
        e.step = Some(step.into());
        e
    };
    // A batch as the previous version wrote it: one entry per item, its place in the sort
    // key, the index on each.
    let earlier = at - chrono::Duration::seconds(1);
    let legacy: Vec<JournalEntry> = ["old-1", "old-2"]
        .iter()
        .map(|step| {
            let mut e = entry(Some("a"), step);
            e.at = earlier;
            e
        })
        .collect();
    let hash = kairos_core::model::journal::batch_fingerprint(&legacy);
    let s = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.into());
    let workflow_shard = format!("W#a#{}", kairos_core::keys::fnv1a("c1".bytes()) % 8);
    for (i, e) in legacy.iter().enumerate() {
        let sk = format!(
            "J#{}#{hash:016x}#{i:04}",
            earlier.format("%Y%m%dT%H%M%S%.9f")
        );
        aws.table
            .client
            .put_item()
            .table_name(&aws.table.name)
            .item("pk", s("C#c1"))
            .item("sk", s(&sk))
            .item("wpk", s(&workflow_shard))
            .item("wsk", s(&sk))
            .item("body", s(&serde_json::to_string(e).unwrap()))
            .send()
            .await
            .unwrap();
    }
    // A contact's outbox from before the upgrade names that batch: it is found stored,
    // and handed on again anyway (an eventually consistent miss) it is not doubled.
    assert!(aws.table.journal_stored(&legacy).await.unwrap());
    aws.table.append_journal(&legacy).await.unwrap();
    // A batch as the version before this one wrote it: a page in the contact's partition,
    // in the index.
    let paged_earlier: Vec<JournalEntry> = ["mid-1", "mid-2"]
        .iter()
        .map(|step| {
            let mut e = entry(Some("a"), step);
            e.at = earlier + chrono::Duration::milliseconds(500);
            e
        })
        .collect();
    let sk = format!(
        "J#{}#{:016x}#p000",
        paged_earlier[0].at.format("%Y%m%dT%H%M%S%.9f"),
        kairos_core::model::journal::batch_fingerprint(&paged_earlier)
    );
    let placed: Vec<(u32, &JournalEntry)> = paged_earlier
        .iter()
        .enumerate()
        .map(|(i, e)| (i as u32, e))
        .collect();
    aws.table
        .client
        .put_item()
        .table_name(&aws.table.name)
        .item("pk", s("C#c1"))
        .item("sk", s(&sk))
        .item("wpk", s(&workflow_shard))
        .item("wsk", s(&sk))
        .item("n", aws_sdk_dynamodb::types::AttributeValue::N("2".into()))
        .item("body", s(&serde_json::to_string(&placed).unwrap()))
        .send()
        .await
        .unwrap();
    assert!(aws.table.journal_stored(&paged_earlier).await.unwrap());
    aws.table.append_journal(&paged_earlier).await.unwrap();
    let mut big = entry(Some("b"), "big-1");
    big.reason = Some("x".repeat(40_000));
    let mut big2 = entry(Some("b"), "big-2");
    big2.reason = Some("y".repeat(40_000));
    let batch = vec![
        entry(Some("a"), "a-1"),
        entry(None, "none-1"),
        big,
        entry(Some("a"), "a-2"),
        big2,
        entry(None, "none-2"),
    ];
    assert!(!aws.table.journal_stored(&batch).await.unwrap());
    aws.table.append_journal(&batch).await.unwrap();
    aws.table.append_journal(&batch).await.unwrap(); // a retry overwrites itself
    assert!(aws.table.journal_stored(&batch).await.unwrap());
    let steps = |entries: &[JournalEntry]| -> Vec<String> {
        entries.iter().filter_map(|e| e.step.clone()).collect()
    };
    let journal = aws.table.journal("c1").await.unwrap();
    assert_eq!(
        steps(&journal),
        ["old-1", "old-2", "mid-1", "mid-2", "a-1", "none-1", "big-1", "a-2", "big-2", "none-2"],
        "the contact's journal in order"
    );
    assert!(journal[6] == batch[2], "an entry reads back as written");
    let a = aws.table.workflow_journal("a").await.unwrap();
    assert_eq!(
        steps(&a),
        ["old-1", "old-2", "mid-1", "mid-2", "a-1", "a-2"]
    );
    let b = aws.table.workflow_journal("b").await.unwrap();
    assert_eq!(steps(&b), ["big-1", "big-2"]);
    let query = |pk: String, prefix: &'static str| {
        let table = aws.table.clone();
        async move {
            table
                .client
                .query()
                .table_name(&table.name)
                .key_condition_expression("pk = :pk AND begins_with(sk, :j)")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":j", s(prefix))
                .send()
                .await
                .unwrap()
                .items
                .unwrap_or_default()
        }
    };
    // In the contact's partition: the page naming no workflow, the two old items, the
    // earlier version's page; no page of this version carries the index's attributes.
    let in_contact = query("C#c1".into(), "J#").await;
    assert_eq!(in_contact.len(), 4, "{in_contact:?}");
    let shard = |w: &str| format!("W#{w}#{}", kairos_core::keys::fnv1a("c1".bytes()) % 8);
    // In the workflows' partitions: a (one page, and the two earlier batches handed on
    // again), b (two: 80 KB of JSON).
    let in_a = query(shard("a"), "C#c1#J#").await;
    let in_b = query(shard("b"), "C#c1#J#").await;
    assert_eq!((in_a.len(), in_b.len()), (3, 2), "{in_a:?} {in_b:?}");
    assert!(in_a.iter().chain(&in_b).all(|i| !i.contains_key("wpk")));
    // Deletion takes them all.
    aws.table.delete("c1", Utc::now()).await.unwrap();
    assert!(aws.table.journal("c1").await.unwrap().is_empty());
    assert!(query(shard("a"), "C#").await.is_empty());
    assert!(query(shard("b"), "C#").await.is_empty());
}

/// The traffic that once overflowed DynamoDB's 400 KB item (16 events of 26 KB: the save
/// failed on every retry and the event went to the DLQ): every event is applied, the
/// history stays within its budget, nothing is dead-lettered.
#[tokio::test]
async fn wide_events_are_applied_and_the_contact_item_stays_bounded() {
    let moto = Moto::start();
    let (aws, config) = stack(&moto).await;
    for i in 0..16 {
        let props: serde_json::Map<String, Value> = (0..100)
            .map(|p| {
                (
                    format!("field_{p:03}"),
                    json!(format!("{i}-{}", "v".repeat(250))),
                )
            })
            .collect();
        let body = json!({"contact": "wide", "event": format!("form_{}", i % 8), "props": props});
        let (status, answer) = call(
            &aws,
            "POST",
            "/v1/events",
            "application/json",
            &body.to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    run_until_quiet(&aws).await;
    let state = aws.table.load("wide").await.unwrap().expect("the contact");
    let applied: u64 = state.history.names().map(|(_, log)| log.total).sum();
    assert_eq!(applied, 16, "every event applied");
    let size = serde_json::to_string(&state).unwrap().len();
    assert!(size < 80_000, "the contact item is {size} bytes");
    let dead = dead_letters(&aws, &config, "work").await;
    assert_eq!(dead, 0, "nothing dead-lettered");
}

/// A payload too large for an SQS message (a merge's hand-over can carry a whole profile),
/// or with a character SQS refuses, is stored in the contact's partition and the message names it; it is applied and then
/// removed, like every message's payload before payloads went inline.
#[tokio::test]
async fn a_payload_too_large_for_a_message_is_stored_and_removed_when_done() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let mut event = kairos_core::Event::new("imported", Utc::now());
    for i in 0..300 {
        event = event.with(&format!("p{i:03}"), "x".repeat(1000));
    }
    let item = kairos_core::ports::WorkItem {
        contact: "big".into(),
        input: kairos_core::Input::Event(event),
        at: Utc::now(),
    };
    kairos_core::ports::WorkQueue::push(&aws.queues, item)
        .await
        .unwrap();
    let stored = || async {
        aws.table
            .client
            .query()
            .table_name(&aws.table.name)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S("C#big".into()),
            )
            .expression_attribute_values(
                ":p",
                aws_sdk_dynamodb::types::AttributeValue::S("P#".into()),
            )
            .send()
            .await
            .unwrap()
            .count
    };
    assert_eq!(stored().await, 1, "stored, not inline");
    // A character SQS refuses in a body (U+FFFF, which JSON writes raw): stored too.
    let odd = kairos_core::ports::WorkItem {
        contact: "big".into(),
        input: kairos_core::Input::Event(
            kairos_core::Event::new("imported", Utc::now()).with("name", "a\u{FFFF}b"),
        ),
        at: Utc::now(),
    };
    kairos_core::ports::WorkQueue::push(&aws.queues, odd)
        .await
        .unwrap();
    assert_eq!(stored().await, 2, "stored, not inline");
    run_until_quiet(&aws).await;
    let state = aws.table.load("big").await.unwrap().expect("applied");
    assert_eq!(state.history.log("imported").map(|l| l.total), Some(2));
    assert_eq!(stored().await, 0, "removed once done");
}

fn with_links(aws: Aws) -> Aws {
    let signer = kairos_core::unsubscribe::Signer::new("test-secret");
    Aws {
        links: Some(kairos_core::unsubscribe::Links {
            public_url: "https://mail.example.com".into(),
            signer,
        }),
        ..aws
    }
}

async fn call_links(aws: &Aws, method: &str, uri: &str) -> (StatusCode, String) {
    let app = kairos_api::router(Arc::new(kairos_api::App::new(
        aws.clone(),
        KEY.into(),
        aws.links.clone(),
    )));
    let response = app
        .oneshot(
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn marketing_email_carries_one_click_unsubscribe_and_the_link_works() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let aws = with_links(aws);
    deploy(&aws).await;
    call(
        &aws,
        "PUT",
        "/v1/contacts/ann",
        "application/json",
        r#"{"email": "ann@example.com"}"#,
    )
    .await;
    call(
        &aws,
        "POST",
        "/v1/events",
        "application/json",
        r#"{"contact": "ann", "event": "signed_up"}"#,
    )
    .await;
    run_until_quiet(&aws).await;
    let raw = moto
        .sent_emails()
        .await
        .first()
        .cloned()
        .expect("an email")
        .to_string();
    assert!(
        raw.contains("List-Unsubscribe: <https://mail.example.com/unsubscribe/"),
        "{raw}"
    );
    assert!(
        raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{raw}"
    );

    let signer = kairos_core::unsubscribe::Signer::new("test-secret");
    let token = signer.token("ann", kairos_core::unsubscribe::ALL_MARKETING);
    // A GET shows a page and never unsubscribes (mail scanners follow links).
    let (status, page) = call_links(&aws, "GET", &format!("/unsubscribe/{token}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<form method=\"post\""), "{page}");
    let event = receive(&aws, &aws.names.work_queue_url).await.event;
    assert!(event.records.is_empty());
    // Forged, or moved to another list: rejected.
    let forged = kairos_core::unsubscribe::Signer::new("guess").token("ann", "marketing");
    assert_eq!(
        call_links(&aws, "POST", &format!("/unsubscribe/{forged}"))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let other_list = format!(
        "{}.{}",
        "YW5uAG5ld3NsZXR0ZXI",
        token.split_once('.').unwrap().1
    );
    assert_eq!(
        call_links(&aws, "POST", &format!("/unsubscribe/{other_list}"))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    // The real one, twice: harmless.
    for _ in 0..2 {
        assert_eq!(
            call_links(&aws, "POST", &format!("/unsubscribe/{token}"))
                .await
                .0,
            StatusCode::OK
        );
    }
    run_until_quiet(&aws).await;
    let ann = aws.table.load("ann").await.unwrap().unwrap();
    assert!(ann.contact.consent.unsubscribed);
    assert!(!ann.contact.consent.bounced);
}

#[tokio::test]
async fn duplicate_out_of_order_and_multi_recipient_notifications_leave_the_right_state() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let feedback = kairos_aws::handlers::feedback::Feedback::new(aws.clone());
    let tags = |c: &str| json!({ "contact": [c], "workflow": ["welcome"], "step": ["hello"], "template": ["welcome"] });
    let notification =
        |id: &str, body: Value| json!({ "Sns": { "MessageId": id, "Message": body.to_string() } });
    let event = json!({ "Records": [
        // Out of order: the delivery report arrives after the bounce; the bounce stays.
        notification("b1", json!({ "eventType": "Bounce", "mail": { "tags": tags("ann") }, "bounce": { "bounceType": "Permanent", "bouncedRecipients": [ { "emailAddress": "ann@example.com" }, { "emailAddress": "other@example.com" } ] } })),
        notification("d1", json!({ "eventType": "Delivery", "mail": { "tags": tags("ann") }, "delivery": {} })),
        notification("b1", json!({ "eventType": "Bounce", "mail": { "tags": tags("ann") }, "bounce": { "bounceType": "Permanent" } })),
        // A soft bounce does not suppress.
        notification("s1", json!({ "eventType": "Bounce", "mail": { "tags": tags("bo") }, "bounce": { "bounceType": "Transient" } })),
        // A complaint for another contact of a multi-recipient send.
        notification("c1", json!({ "eventType": "Complaint", "mail": { "tags": tags("cy"), "destination": ["cy@example.com", "dee@example.com"] }, "complaint": {} })),
    ]});
    assert_eq!(
        feedback.handle(&event, Utc::now()).await.unwrap(),
        4,
        "the duplicate bounce is dropped"
    );
    run_until_quiet(&aws).await;
    let state = |id: &'static str| {
        let aws = aws.clone();
        async move { aws.table.load(id).await.unwrap().unwrap().contact.consent }
    };
    let ann = state("ann").await;
    assert!(ann.bounced && !ann.complained);
    let bo = state("bo").await;
    assert!(!bo.bounced, "a transient bounce does not suppress");
    let cy = state("cy").await;
    assert!(cy.complained && !cy.bounced);
}

#[tokio::test]
async fn contact_paging_finds_every_contact_and_fanout_enrolls_them() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    for i in 0..7 {
        let id = format!("c{i}");
        let mut state = ContactState::new(Contact::new(id.clone(), Utc::now()));
        aws.table.save(&mut state).await.unwrap();
        // Items that sort before STATE in the partition, where a scan page may stop.
        let entry = kairos_core::JournalEntry::new(Utc::now(), &id, kairos_core::Kind::TagAdded);
        aws.table.append_journal(&[entry]).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (page, next) = aws.table.contacts_after(&cursor, 2).await.unwrap();
        seen.extend(page);
        match next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, (0..7).map(|i| format!("c{i}")).collect::<Vec<_>>());
    assert_eq!(aws.table.contact_ids().await.unwrap().len(), 7);

    let wf = "id: all\nentry: { enroll_existing: true }\nsteps: [ { id: mark, tag: { add: [enrolled] } } ]\n";
    assert_eq!(
        call(&aws, "PUT", "/v1/workflows/all", "application/yaml", wf)
            .await
            .0,
        StatusCode::OK
    );
    let swept = kairos_aws::handlers::sweep::Sweep { aws: aws.clone() }
        .run(Utc::now())
        .await
        .unwrap();
    assert_eq!(swept.enrolled, 7);
    run_until_quiet(&aws).await;
    for i in 0..7 {
        let state = aws.table.load(&format!("c{i}")).await.unwrap().unwrap();
        assert!(state.contact.tags.contains("enrolled"), "c{i}");
    }
    assert!(
        aws.table.fanouts().await.unwrap().is_empty(),
        "the fan-out finished"
    );
}

#[tokio::test]
async fn ses_feedback_reaches_the_step_report_once_per_message() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    deploy(&aws).await;
    // An id outside SES's tag alphabet (`@`, `.`): the tags escape it and feedback reads it back.
    let contact = "ann.lee@example.com";
    let (status, _) = call(
        &aws,
        "PUT",
        &format!("/v1/contacts/{contact}"),
        "application/json",
        r#"{"email": "ann@example.com"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let body = json!({ "contact": contact, "event": "signed_up" }).to_string();
    call(&aws, "POST", "/v1/events", "application/json", &body).await;
    run_until_quiet(&aws).await;
    assert_eq!(moto.sent_emails().await.len(), 1);

    let journal = aws.table.journal(contact).await.unwrap();
    let sent = journal
        .iter()
        .find(|e| e.kind == kairos_core::Kind::MessageSent)
        .expect("the welcome email was sent");
    let encode = |v: &str| kairos_aws::ses_tags::encode(v).unwrap();
    let tags = json!({
        "contact": [encode(contact)],
        "workflow": [encode("welcome")],
        "run": [encode(sent.run.as_deref().unwrap())],
        "step": [encode("hello")],
        "template": [encode("welcome")],
    });
    let notification = |id: &str, body: Value| json!({ "Sns": { "MessageId": id, "Message": { "mail": { "tags": tags }, "eventType": body["eventType"], "open": body["open"], "click": body["click"], "delivery": {} } } });
    let event = json!({ "Records": [
        notification("d1", json!({ "eventType": "Delivery" })),
        notification("o1", json!({ "eventType": "Open", "open": {} })),
        // A second open of the same message (another device) is still one opened message.
        notification("o2", json!({ "eventType": "Open", "open": {} })),
        notification("k1", json!({ "eventType": "Click", "click": { "link": "https://shop.example.com/start" } })),
    ]});
    let feedback = kairos_aws::handlers::feedback::Feedback::new(aws.clone());
    assert_eq!(feedback.handle(&event, Utc::now()).await.unwrap(), 4);
    run_until_quiet(&aws).await;

    let journal = aws.table.journal(contact).await.unwrap();
    let clicked = journal
        .iter()
        .find(|e| e.kind == kairos_core::Kind::MessageClicked)
        .expect("the click was journaled on its step");
    assert_eq!(
        (
            clicked.step.as_deref(),
            clicked.run.as_deref(),
            clicked.url.as_deref()
        ),
        (
            Some("hello"),
            sent.run.as_deref(),
            Some("https://shop.example.com/start")
        )
    );
    let (status, report) = call(
        &aws,
        "GET",
        "/v1/workflows/welcome/report",
        "application/json",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let hello = &report["steps"][0];
    assert_eq!(
        [
            &hello["step"],
            &hello["sent"],
            &hello["delivered"],
            &hello["opened"],
            &hello["clicked"]
        ],
        [&json!("hello"), &json!(1), &json!(1), &json!(1), &json!(1)],
        "{report}"
    );
}

/// A POST of many events goes to the work queue ten to a `SendMessageBatch`: every event
/// is applied once, each contact's in the order posted.
#[tokio::test]
async fn a_posted_batch_is_queued_in_batches_and_applied_in_order() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let events: Vec<Value> = (0..24)
        .map(|i| json!({"id": format!("e{i}"), "contact": format!("c{}", i % 3), "event": "step", "props": {"n": i}}))
        .collect();
    let body = json!({ "events": events }).to_string();
    let (status, answer) = call(&aws, "POST", "/v1/events", "application/json", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    run_until_quiet(&aws).await;
    for c in 0..3 {
        let state = aws.table.load(&format!("c{c}")).await.unwrap().unwrap();
        let log = state.history.log("step").unwrap();
        let order: Vec<i64> = log
            .recent
            .iter()
            .map(|e| e.props.get("n").and_then(Value::as_i64).unwrap())
            .collect();
        let posted: Vec<i64> = (0..24).filter(|i| i % 3 == c).collect();
        assert_eq!(order, posted, "c{c}'s events once each, in order");
        assert_eq!(log.total, 8);
    }
}

#[tokio::test]
async fn an_event_that_could_not_be_queued_is_not_swallowed_by_its_id() {
    let moto = Moto::start();
    let (aws, config) = stack(&moto).await;
    aws.queues
        .sqs
        .delete_queue()
        .queue_url(&aws.names.work_queue_url)
        .send()
        .await
        .unwrap();
    let body = r#"{"id": "e1", "contact": "ann", "event": "signed_up"}"#;
    let (status, _) = call(&aws, "POST", "/v1/events", "application/json", body).await;
    assert!(status.is_server_error(), "{status}");
    // The queue is back; the client retries the same event id.
    let settings = kairos_aws::local::provision::QueueSettings {
        visibility_timeout: 1,
        max_receive_count: 2,
    };
    let names =
        kairos_aws::local::provision::provision(&config, "kairos", "a@example.com", settings)
            .await
            .unwrap();
    assert_eq!(names.work_queue_url, aws.names.work_queue_url);
    let (status, accepted) = call(&aws, "POST", "/v1/events", "application/json", body).await;
    assert_eq!(
        (status, &accepted["accepted"]),
        (StatusCode::ACCEPTED, &json!(1))
    );
}

#[tokio::test]
async fn definitions_naming_files_are_refused_over_the_api() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let defs = "templates:\n  welcome: { subject: Hi, html: templates/welcome.html }\n";
    let (status, body) = call(&aws, "PUT", "/v1/definitions", "application/yaml", defs).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let error = body.to_string();
    assert!(
        error.contains("templates.welcome.html") && error.contains("inline"),
        "{error}"
    );
}

#[tokio::test]
async fn definitions_cannot_pull_a_template_from_under_a_deployed_workflow() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    deploy(&aws).await;
    let without_tips = "templates:\n  welcome: { subject: Welcome, text: Hello }\n";
    let (status, body) = call(
        &aws,
        "PUT",
        "/v1/definitions",
        "application/yaml",
        without_tips,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let text = body.to_string();
    assert!(
        text.contains("tips") && text.contains("deployed workflow `welcome`"),
        "{text}"
    );
    let (catalog, _) = aws.table.load_catalog().await.unwrap();
    assert!(
        catalog.definitions().templates.contains_key("tips"),
        "nothing was stored"
    );
}
