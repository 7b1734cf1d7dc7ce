//! The OpenAPI document and the router agree: every route the router's source registers is
//! described, and every described operation reaches a handler (not the "no such route"
//! fallback, not a 405). schemathesis checks the answers against the document in
//! `cli/tests/openapi.rs`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kairos_api::openapi::{document, operations_described};
use kairos_api::{router, App};
use kairos_core::adapters::memory::MemoryPorts;
use kairos_core::unsubscribe::{Links, Signer};
use tower::ServiceExt;

const KEY: &str = "openapi-test-key";

/// `(method, path)` of every `.route("path", get(…).post(…))` in a source file.
fn routes_in(source: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let Some(open) = rest.find('"') else { break };
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else { break };
        let path = &after[..close];
        // The method routers follow the path, up to this call's closing parenthesis.
        let mut depth = 1;
        let mut end = close + 1;
        for (i, c) in after[close + 1..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = close + 1 + i;
                break;
            }
        }
        let methods = &after[close + 1..end];
        for method in ["get", "put", "post", "delete"] {
            let starts = |m: &str| {
                methods
                    .match_indices(&format!("{m}("))
                    .any(|(i, _)| i == 0 || !methods.as_bytes()[i - 1].is_ascii_alphanumeric())
            };
            if starts(method) {
                found.push((method.to_string(), path.to_string()));
            }
        }
        rest = &after[close..];
    }
    found
}

#[test]
fn every_route_of_the_router_is_described() {
    let sources = [
        include_str!("../src/lib.rs"),
        include_str!("../src/console/mod.rs"),
        include_str!("../src/session.rs"),
    ];
    let routed: BTreeSet<(String, String)> = sources.iter().flat_map(|s| routes_in(s)).collect();
    assert!(routed.len() > 30, "the parser found the routes: {routed:?}");
    let described: BTreeSet<(String, String)> = operations_described()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let undocumented: Vec<_> = routed.difference(&described).collect();
    let unrouted: Vec<_> = described.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes not in the document: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "described but not routed: {unrouted:?}"
    );
}

#[tokio::test]
async fn every_described_operation_reaches_a_handler() {
    let links = Links {
        public_url: "https://k.example".into(),
        signer: Signer::new("openapi-test-secret"),
    };
    let app = Arc::new(App::new(MemoryPorts::default(), KEY.into(), Some(links)));
    let served = document();
    let mut checked = 0;
    for (method, path) in operations_described() {
        let uri = path.replace("{id}", "ann").replace("{token}", "x.y");
        let request = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&uri)
            .header("authorization", format!("Bearer {KEY}"))
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let response = router(app.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert!(!text.contains("no such route"), "{method} {uri}: {text}");
        // The status answered is one the document lists for the operation.
        let listed = &served["paths"][path][method]["responses"];
        assert!(
            listed.get(status.as_str()).is_some(),
            "{method} {uri} answered {status}, not in the document: {listed}"
        );
        checked += 1;
    }
    assert!(checked > 30);
}

#[test]
fn the_document_is_openapi_3_1_with_every_schema_it_refers_to() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').unwrap()];
        assert!(schemas.contains_key(name), "no schema {name}");
    }
    assert!(schemas.contains_key("WorkflowDoc") && schemas.contains_key("ErrorBody"));
}
