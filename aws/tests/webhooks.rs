//! The webhook sender against a real HTTP server on loopback: what the receiver gets, and
//! which answers are worth a retry.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use axum::Router;
use kairos_aws::webhooks::HttpWebhooks;
use kairos_core::language::step::HttpMethod;
use kairos_core::model::effect::WebhookCall;
use kairos_core::ports::{PortError, WebhookSender};
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, HeaderMap, String)>>>);

/// A receiver that answers `/status/{code}` with that code and records every request.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route(
            "/status/{code}",
            any(
                |State(r): State<Received>,
                 Path(code): Path<u16>,
                 method: axum::http::Method,
                 headers: HeaderMap,
                 body: String| async move {
                    r.0.lock()
                        .unwrap()
                        .push((method.to_string(), headers, body));
                    StatusCode::from_u16(code).unwrap()
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn call(url: String, method: HttpMethod) -> WebhookCall {
    WebhookCall {
        key: "ann/crm:1/notify/0".into(),
        contact: "ann".into(),
        workflow: "crm".into(),
        run: "crm:1".into(),
        step: "notify".into(),
        url,
        method,
        headers: [("X-Api-Token".to_string(), "secret".to_string())].into(),
        body: json!({ "contact": { "id": "ann" }, "run": { "id": "crm:1" } }),
        audience: None,
    }
}

#[tokio::test]
async fn the_receiver_gets_the_body_the_key_and_the_headers() {
    let (url, received) = receiver().await;
    let webhooks = HttpWebhooks::new().unwrap();
    let status = webhooks
        .call(&call(format!("{url}/status/201"), HttpMethod::Post))
        .await
        .unwrap();
    assert_eq!(status, 201);
    let (method, headers, body) = received.0.lock().unwrap()[0].clone();
    assert_eq!(method, "POST");
    assert_eq!(headers["idempotency-key"], "ann/crm:1/notify/0");
    assert_eq!(headers["x-api-token"], "secret");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({ "contact": { "id": "ann" }, "run": { "id": "crm:1" } })
    );
}

#[tokio::test]
async fn server_errors_and_unreachable_hosts_are_retried_client_errors_are_not() {
    let (url, _) = receiver().await;
    let webhooks = HttpWebhooks::new().unwrap();
    let outcome = |r: Result<u16, PortError>| match r {
        Ok(status) => format!("ok {status}"),
        Err(e) => format!("retry {}", e.retryable()),
    };
    let server_error = webhooks
        .call(&call(format!("{url}/status/503"), HttpMethod::Put))
        .await;
    assert_eq!(outcome(server_error), "retry true");
    let client_error = webhooks
        .call(&call(format!("{url}/status/404"), HttpMethod::Delete))
        .await;
    assert_eq!(outcome(client_error), "retry false");
    // Nothing listens on port 9 of loopback (discard): a connection error, worth a retry.
    let unreachable = webhooks
        .call(&call("http://127.0.0.1:9/".into(), HttpMethod::Get))
        .await;
    assert_eq!(outcome(unreachable), "retry true");
    let malformed = webhooks
        .call(&call("not a url at all".into(), HttpMethod::Post))
        .await;
    assert_eq!(outcome(malformed), "retry false");
}
