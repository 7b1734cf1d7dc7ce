//! The router on the in-memory backend: what the API answers and what it queues, without
//! AWS (the same router runs against moto in `tests/`).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use kairos_api::{router, App};
use kairos_core::adapters::memory::MemoryPorts;
use kairos_core::engine::process;
use kairos_core::ports::{CatalogStore, ContactStore, WorkQueue};
use kairos_core::unsubscribe::{Links, Signer};
use kairos_core::{Contact, ContactState};
use serde_json::{json, Value};
use tower::ServiceExt;

const KEY: &str = "router-test-key";

fn clock() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

fn app() -> Arc<App<MemoryPorts>> {
    let links = Links {
        public_url: "https://k.example".into(),
        signer: Signer::new("router-test-secret"),
    };
    Arc::new(App {
        clock,
        ..App::new(MemoryPorts::default(), KEY.into(), Some(links))
    })
}

async fn call(
    app: &Arc<App<MemoryPorts>>,
    method: &str,
    uri: &str,
    content_type: &str,
    body: &str,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", content_type)
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router(app.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

/// Applies everything queued, as the pipeline would.
async fn apply_queue(app: &Arc<App<MemoryPorts>>) {
    let catalog = app.ports.catalog.catalog().await.unwrap();
    while let Some(item) = app.ports.work.pop().await.unwrap() {
        let mut state = app
            .ports
            .contacts
            .load(&item.contact)
            .await
            .unwrap()
            .unwrap_or_else(|| ContactState::new(Contact::new(item.contact.clone(), item.at)));
        let _ = process(&catalog, &mut state, item.input, item.at);
        app.ports.contacts.save(&mut state).await.unwrap();
    }
}

#[tokio::test]
async fn the_contact_preview_is_what_the_engine_stores() {
    let app = app();
    let (status, _) = call(
        &app,
        "PUT",
        "/v1/contacts/ann",
        "application/json",
        r#"{"email": "ann@example.com", "fields": {"nickname": "annie", "plan": "free"}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    apply_queue(&app).await;
    // `null` removes a field, and `fields.email` is the address: the engine says so, and
    // the answer must say the same as what is then stored.
    let (status, answered) = call(
        &app,
        "PUT",
        "/v1/contacts/ann",
        "application/json",
        r#"{"fields": {"nickname": null, "email": "ann@work.example"}, "tags": ["vip"]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    apply_queue(&app).await;
    let (_, stored) = call(&app, "GET", "/v1/contacts/ann", "application/json", "").await;
    assert_eq!(
        answered, stored,
        "the preview disagrees with what was stored"
    );
    assert_eq!(stored["email"], "ann@work.example");
    assert!(stored["fields"].get("nickname").is_none(), "{stored}");
    assert_eq!(stored["tags"], json!(["vip"]));
}

#[tokio::test]
async fn addresses_media_types_and_paths_are_checked_at_the_boundary() {
    let app = app();
    for (body, path) in [
        (r#"{"email": "not an email<script>"}"#, "email"),
        (
            r#"{"email": "ann@example.com\r\nBcc: x@evil.test"}"#,
            "email",
        ),
        (r#"{"fields": {"email": "nope"}}"#, "fields.email"),
        (r#"{"fields": {"phone": "0151 1234"}}"#, "fields.phone"),
    ] {
        let (status, error) = call(&app, "PUT", "/v1/contacts/ann", "application/json", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error["error"]["path"], path, "{error}");
    }
    let (status, _) = call(
        &app,
        "POST",
        "/v1/events",
        "application/jsonfoo",
        r#"{"contact": "a", "event": "e"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = call(
        &app,
        "POST",
        "/v1/events",
        "application/json; charset=utf-8",
        r#"{"contact": "a", "event": "e"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, error) = call(&app, "GET", "/v1/contacts/%FF%FE", "application/json", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["error"]["code"], "bad_request",
        "a JSON error: {error}"
    );
    assert!(app.ports.contacts.contact_ids().await.unwrap().is_empty());
}

#[tokio::test]
async fn unsubscribe_links_are_exact_and_never_create_a_contact() {
    let app = app();
    let signer = Signer::new("router-test-secret");
    let post = |token: String| {
        let app = app.clone();
        async move {
            let request = Request::builder()
                .method("POST")
                .uri(format!("/unsubscribe/{token}"))
                .body(Body::empty())
                .unwrap();
            router(app).oneshot(request).await.unwrap().status()
        }
    };
    // A contact that does not exist: the page says done, nothing is queued.
    assert_eq!(
        post(signer.token("ghost", "marketing")).await,
        StatusCode::OK
    );
    assert!(
        app.ports.work.pop().await.unwrap().is_none(),
        "queued for a ghost"
    );
    // A real contact, and its token cut short or forged: refused.
    call(
        &app,
        "PUT",
        "/v1/contacts/ann",
        "application/json",
        r#"{"email": "ann@example.com"}"#,
    )
    .await;
    apply_queue(&app).await;
    let token = signer.token("ann", "marketing");
    let (payload, signature) = token.split_once('.').unwrap();
    for cut in [1, 3, signature.len() - 1] {
        let short = format!("{payload}.{}", &signature[..cut]);
        assert_eq!(post(short).await, StatusCode::BAD_REQUEST);
    }
    assert!(app.ports.work.pop().await.unwrap().is_none());
    assert_eq!(post(token).await, StatusCode::OK);
    assert!(
        app.ports.work.pop().await.unwrap().is_some(),
        "the real token unsubscribes"
    );
}

#[tokio::test]
async fn an_event_id_is_accepted_once() {
    let app = app();
    let body = r#"{"events": [{"id": "e-1", "contact": "ann", "event": "signup"}, {"id": "e-1", "contact": "ann", "event": "signup"}]}"#;
    let (status, answer) = call(&app, "POST", "/v1/events", "application/json", body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer["accepted"], 1);
    let (_, again) = call(&app, "POST", "/v1/events", "application/json", body).await;
    assert_eq!(again["accepted"], 0);
    let mut queued = 0;
    while app.ports.work.pop().await.unwrap().is_some() {
        queued += 1;
    }
    assert_eq!(queued, 1, "a claimed id is not queued again");
}

/// An event too big for the contact's state is refused at the door, naming it, and
/// nothing of the request is queued (it would fail on every retry later).
#[tokio::test]
async fn an_event_with_oversized_properties_is_refused_with_its_path() {
    let app = app();
    let big = "x".repeat(32 * 1024);
    let body = serde_json::json!({"events": [
        {"contact": "ann", "event": "ok"},
        {"contact": "ann", "event": "huge", "props": {"blob": big}},
    ]})
    .to_string();
    let (status, answer) = call(&app, "POST", "/v1/events", "application/json", &body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"]["path"], "events[1].props", "{answer}");
    assert!(
        app.ports.work.pop().await.unwrap().is_none(),
        "nothing queued"
    );
}

#[tokio::test]
async fn identical_events_without_an_id_in_one_request_are_two_inputs() {
    let app = app();
    let body = r#"{"events": [{"contact": "ann", "event": "page_viewed"}, {"contact": "ann", "event": "page_viewed"}]}"#;
    let (status, answer) = call(&app, "POST", "/v1/events", "application/json", body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer["accepted"], 2);
    let first = app.ports.work.pop().await.unwrap().unwrap();
    let second = app.ports.work.pop().await.unwrap().unwrap();
    assert_ne!(
        first.fingerprint(),
        second.fingerprint(),
        "the engine would take one of them as a repeat"
    );
    assert!(first.at < second.at, "in the order given");
}

#[tokio::test]
async fn the_journal_explains_itself_on_request() {
    let app = app();
    let workflow = "id: vip\nentry: { triggers: [ { event: checkout } ] }\nsteps:\n  - id: big\n    if: { tag: vip }\n    then: [ { id: thanks, tag: { add: [thanked] } } ]\n";
    let (status, _) = call(
        &app,
        "PUT",
        "/v1/workflows/vip",
        "application/yaml",
        workflow,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The engine's journal for a checkout, as the pipeline would save and append it.
    let catalog = app.ports.catalog.catalog().await.unwrap();
    let at = clock();
    let mut state = ContactState::new(Contact::new("ann", at));
    let checkout = kairos_core::Input::Event(kairos_core::Event::new("checkout", at));
    let out = process(&catalog, &mut state, checkout, at);
    app.ports.contacts.save(&mut state).await.unwrap();
    app.ports
        .contacts
        .append_journal(&out.journal)
        .await
        .unwrap();

    let (status, body) = call(
        &app,
        "GET",
        "/v1/contacts/ann/journal?explain=1",
        "application/json",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let story: Vec<&str> = body["story"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        story
            .iter()
            .any(|l| l.ends_with("vip:1 › big: took the else branch because tag vip → false")),
        "{story:#?}"
    );
    assert!(body["journal"].is_array());
    let (_, plain) = call(
        &app,
        "GET",
        "/v1/contacts/ann/journal",
        "application/json",
        "",
    )
    .await;
    assert!(plain.get("story").is_none());
    let (status, _) = call(
        &app,
        "GET",
        "/v1/contacts/ann/journal?explain=maybe",
        "application/json",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
