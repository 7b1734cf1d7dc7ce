//! The console served by the intake function's router on moto: after the same batch of
//! events as the browser test, the journey shows the same counts.

use std::sync::Arc;

use kairos_tests::{call, drain_with_retries, stack, Moto, API_KEY};
use tower::ServiceExt;

/// The same batch as the browser test's (`tests/clients/`).
const DEFINITIONS: &str = include_str!("clients/console-definitions.yaml");
const EVENTS: &str = include_str!("clients/console-events.json");
const WELCOME: &str = include_str!("clients/console-welcome.yaml");

#[tokio::test(flavor = "current_thread")]
async fn intake_on_moto_serves_the_console_with_the_same_counts() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    call(
        &aws,
        "PUT",
        "/v1/definitions",
        "application/yaml",
        DEFINITIONS,
    )
    .await;
    call(
        &aws,
        "PUT",
        "/v1/workflows/welcome",
        "application/yaml",
        WELCOME,
    )
    .await;
    for (id, email) in [
        ("ann", "ann@example.com"),
        ("bob", "bob@example.com"),
        ("cy", "cy@example.com"),
    ] {
        let body = format!(r#"{{"email": "{email}"}}"#);
        call(
            &aws,
            "PUT",
            &format!("/v1/contacts/{id}"),
            "application/json",
            &body,
        )
        .await;
    }
    call(&aws, "POST", "/v1/events", "application/json", EVENTS).await;
    drain_with_retries(&aws).await;

    let page = |path: &str| {
        let request = axum::http::Request::builder()
            .uri(path)
            .header("authorization", format!("Bearer {API_KEY}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let app = kairos_api::router(Arc::new(kairos_api::App::new(
            aws.clone(),
            API_KEY.into(),
            None,
        )));
        async move {
            let response = app.oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            String::from_utf8(bytes.to_vec()).unwrap()
        }
    };
    let journey = page("/console/workflows/welcome").await;
    let hello = journey
        .split("id=\"step-hello\"")
        .nth(1)
        .and_then(|rest| rest.split("</li>").next())
        .expect("the hello step");
    for count in ["entered <b>3</b>", "sent <b>2</b>", "suppressed <b>1</b>"] {
        assert!(hello.contains(count), "{count} in {hello}");
    }
    let bob = page("/console/contacts/bob").await;
    assert!(bob.contains("was not sent: unsubscribed"), "{bob}");
}
