//! The tracking routes on the in-memory backend: keys, limits, clock-skew correction,
//! partial batches and the merges a call asks for — what is answered and what is queued.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use kairos_api::{router, App};
use kairos_core::adapters::memory::MemoryPorts;
use kairos_core::ports::{WorkItem, WorkQueue};
use kairos_core::Input;
use serde_json::{json, Value};
use tower::ServiceExt;

const KEY: &str = "tracking-api-key";
const WRITE_KEY: &str = "tracking-write-key";
/// `base64("tracking-write-key:")`, as Segment's libraries send it.
const BASIC_WRITE: &str = "Basic dHJhY2tpbmctd3JpdGUta2V5Og==";

fn clock() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

fn app() -> Arc<App<MemoryPorts>> {
    let app = App {
        clock,
        ..App::new(MemoryPorts::default(), KEY.into(), None)
    };
    Arc::new(app.with_write_key(WRITE_KEY.into()))
}

async fn post(
    app: &Arc<App<MemoryPorts>>,
    uri: &str,
    auth: &str,
    body: &str,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router(app.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn queued(app: &Arc<App<MemoryPorts>>) -> Vec<WorkItem> {
    let mut items = Vec::new();
    while let Some(item) = app.ports.work.pop().await.unwrap() {
        items.push(item);
    }
    items
}

#[tokio::test]
async fn the_write_key_ingests_and_opens_nothing_else() {
    let app = app();
    let track = r#"{"userId": "ann", "event": "purchase"}"#;
    assert_eq!(
        post(&app, "/v1/track", BASIC_WRITE, track).await.0,
        StatusCode::OK
    );
    // The API key works here too, as Bearer or as the Basic user name.
    assert_eq!(
        post(&app, "/v1/track", &format!("Bearer {KEY}"), track)
            .await
            .0,
        StatusCode::OK
    );
    let wrong = "Basic d3Jvbmc6"; // "wrong:"
    let (status, body) = post(&app, "/v1/track", wrong, track).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        post(&app, "/v1/track", "", track).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Everything else refuses the write key.
    let event = r#"{"contact": "ann", "event": "purchase"}"#;
    for auth in [BASIC_WRITE.to_string(), format!("Bearer {WRITE_KEY}")] {
        assert_eq!(
            post(&app, "/v1/events", &auth, event).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn calls_become_events_fields_and_merges() {
    let app = app();
    let batch = json!({ "batch": [
        { "type": "page", "anonymousId": "v1", "name": "Pricing", "properties": { "path": "/pricing" } },
        { "type": "screen", "userId": 42, "name": "Home" },
        { "type": "identify", "userId": "ann", "anonymousId": "v1",
          "traits": { "email": "ann@example.com", "plan": "pro" }, "context": { "timezone": "Europe/Berlin" } },
        { "type": "group", "userId": "ann", "groupId": "acme", "traits": { "seats": 5 } },
        { "type": "alias", "previousId": "old", "userId": "ann" },
    ]});
    let (status, body) = post(&app, "/v1/batch", BASIC_WRITE, &batch.to_string()).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "success": true })));
    let items = queued(&app).await;
    let summary: Vec<(String, Value)> = items
        .iter()
        .map(|i| (i.contact.clone(), serde_json::to_value(&i.input).unwrap()))
        .collect();
    assert_eq!(summary[0].0, "v1");
    assert_eq!(summary[0].1["event"]["name"], "page_viewed");
    assert_eq!(
        summary[0].1["event"]["props"],
        json!({ "path": "/pricing", "name": "Pricing" })
    );
    assert_eq!(
        (summary[1].0.as_str(), &summary[1].1["event"]["name"]),
        ("42", &json!("screen_viewed"))
    );
    assert_eq!(summary[2].0, "ann");
    assert_eq!(summary[2].1["identify"]["email"], "ann@example.com");
    assert_eq!(summary[2].1["identify"]["timezone"], "Europe/Berlin");
    assert_eq!(summary[2].1["identify"]["fields"], json!({ "plan": "pro" }));
    // The identify names both ids: the visitor's profile merges into ann. With the
    // write key only an anonymous profile that exists may merge (`only_anonymous`).
    let merge = json!({ "merge_into": { "into": "ann", "only_anonymous": true } });
    assert_eq!(summary[3], ("v1".into(), merge.clone()));
    assert_eq!(
        summary[4].1["identify"]["fields"],
        json!({ "group_id": "acme", "group": { "seats": 5 } })
    );
    assert_eq!(summary[5], ("old".into(), merge));
    assert_eq!(items.len(), 6);

    // Every later call of the identified visitor carries both ids: merged once.
    let again = r#"{"userId": "ann", "anonymousId": "v1", "event": "clicked"}"#;
    post(&app, "/v1/track", BASIC_WRITE, again).await;
    let items = queued(&app).await;
    assert_eq!(items.len(), 1);
    assert!(matches!(items[0].input, Input::Event(_)));
}

#[tokio::test]
async fn a_message_id_is_taken_once_and_timestamps_are_corrected_for_the_clock() {
    let app = app();
    // The client's clock is 10 minutes behind: sent at 08:50 by its clock, received at 09:00.
    let call = json!({ "userId": "ann", "event": "purchase", "messageId": "m-1",
        "timestamp": "2026-12-01T08:45:00Z", "sentAt": "2026-12-01T08:50:00Z" });
    for _ in 0..2 {
        let (status, _) = post(&app, "/v1/track", BASIC_WRITE, &call.to_string()).await;
        assert_eq!(status, StatusCode::OK);
    }
    let items = queued(&app).await;
    assert_eq!(items.len(), 1, "the same messageId twice is taken once");
    let Input::Event(event) = &items[0].input else {
        panic!()
    };
    assert_eq!(
        event.at,
        Utc.with_ymd_and_hms(2026, 12, 1, 8, 55, 0).unwrap()
    );
    assert_eq!(event.id.as_deref(), Some("m-1"));
    // Without a timestamp: when it was received.
    post(
        &app,
        "/v1/track",
        BASIC_WRITE,
        r#"{"userId": "bob", "event": "x"}"#,
    )
    .await;
    assert_eq!(queued(&app).await[0].at, clock());
}

#[tokio::test]
async fn a_batch_takes_its_valid_calls_and_names_the_others() {
    let app = app();
    let batch = json!({ "batch": [
        { "type": "track", "userId": "ann", "event": "ok" },
        { "type": "track", "userId": "ann" },
        { "type": "identify", "userId": "ann", "traits": { "email": "not an email" } },
        { "type": "shout", "userId": "ann" },
        { "type": "track", "event": "nobody" },
        { "type": "track", "userId": "a\r\nb", "event": "x" },
        "not an object",
    ]});
    let (status, body) = post(&app, "/v1/batch", BASIC_WRITE, &batch.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    let paths: Vec<&str> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec![
            "batch[1].event",
            "batch[2].traits.email",
            "batch[3].type",
            "batch[4].userId",
            "batch[5].userId",
            "batch[6]"
        ]
    );
    assert_eq!(queued(&app).await.len(), 1);
    // Nothing valid at all: 400, and still every reason.
    let none = json!({ "batch": [ { "type": "track", "userId": "ann" } ] });
    let (status, body) = post(&app, "/v1/batch", BASIC_WRITE, &none.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["rejected"][0]["index"], 0);
}

#[tokio::test]
async fn segments_size_limits_apply() {
    let app = app();
    let big = "x".repeat(33 * 1024);
    let call = json!({ "userId": "ann", "event": "e", "properties": { "blob": big } });
    let (status, body) = post(&app, "/v1/track", BASIC_WRITE, &call.to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "too_large");
    // In a batch, the big element is refused and the rest taken.
    let mut element = call.clone();
    element["type"] = json!("track");
    let batch =
        json!({ "batch": [ element, { "type": "track", "userId": "ann", "event": "small" } ] });
    let (status, body) = post(&app, "/v1/batch", BASIC_WRITE, &batch.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rejected"][0]["path"], "batch[0]");
    // A batch over 500 KB is refused whole.
    let many: Vec<Value> = (0..20).map(|_| json!({ "type": "track", "userId": "ann", "event": "e", "properties": { "blob": "y".repeat(30 * 1024) } })).collect();
    let (status, _) = post(
        &app,
        "/v1/batch",
        BASIC_WRITE,
        &json!({ "batch": many }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn message_ids_and_batch_sizes_are_bounded() {
    let app = app();
    let long = json!({ "userId": "ann", "event": "e", "messageId": "m".repeat(300) });
    let (status, body) = post(&app, "/v1/track", BASIC_WRITE, &long.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["path"], "messageId");
    let calls: Vec<Value> = (0..1001).map(|i| json!({ "type": "track", "userId": "a", "event": "e", "messageId": format!("{i}") })).collect();
    let (status, _) = post(
        &app,
        "/v1/batch",
        BASIC_WRITE,
        &json!({ "batch": calls }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(queued(&app).await.is_empty());
    // A tracking call cannot claim an id of `POST /v1/events` ahead of it.
    let track = json!({ "userId": "ann", "event": "e", "messageId": "order-7" });
    post(&app, "/v1/track", BASIC_WRITE, &track.to_string()).await;
    let event = json!({ "id": "order-7", "contact": "ann", "event": "e" });
    let (status, body) = post(
        &app,
        "/v1/events",
        &format!("Bearer {KEY}"),
        &event.to_string(),
    )
    .await;
    assert_eq!(
        (status, body["accepted"].clone()),
        (StatusCode::ACCEPTED, json!(1))
    );
}
