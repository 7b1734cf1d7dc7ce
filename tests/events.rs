//! Handler tests fed from the `events/` files — the same payloads `cargo lambda invoke
//! --data-file` and `sam local invoke -e` use.

use std::path::PathBuf;
use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use axum::http::StatusCode;
use chrono::Utc;
use kairos_tests::{run_until_quiet, stack, Moto};
use serde_json::Value;
use tower::ServiceExt;

fn event_file(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

async fn intake(aws: &kairos_aws::app::Aws, file: &str) -> (StatusCode, Value) {
    let request = lambda_http::request::from_str(&event_file(file)).expect("an API Gateway event");
    let app = kairos_api::router(Arc::new(kairos_api::App::new(
        aws.clone(),
        "test-key".into(),
        None,
    )));
    let response = app
        .oneshot(request.map(|b| axum::body::Body::from(b.to_vec())))
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn intake_events() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    assert_eq!(
        intake(&aws, "intake/put-workflow.json").await.0,
        StatusCode::OK
    );
    let (status, body) = intake(&aws, "intake/post-event.json").await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::ACCEPTED, Some(1))
    );
    let (status, body) = intake(&aws, "intake/bad-event.json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("event"),
        "{body}"
    );
    assert_eq!(
        intake(&aws, "intake/wrong-key.json").await.0,
        StatusCode::UNAUTHORIZED
    );
    run_until_quiet(&aws).await;
    let (status, body) = intake(&aws, "intake/get-contact.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], "ann");
}

#[tokio::test]
async fn sqs_events_report_the_poison_record_only() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let evaluate = kairos_aws::handlers::evaluate::Evaluate::new(aws.clone());
    let event: SqsEvent =
        serde_json::from_str(&event_file("evaluate/batch-with-poison.json")).unwrap();
    let failures: Vec<String> = evaluate
        .handle(event)
        .await
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    assert_eq!(
        failures,
        vec!["22222222-2222-2222-2222-222222222222"],
        "the first names a processed item: acknowledged"
    );

    let wakeup = kairos_aws::handlers::wakeup::Wakeup { aws: aws.clone() };
    let event: SqsEvent = serde_json::from_str(&event_file("wakeup/timer.json")).unwrap();
    let failures: Vec<String> = wakeup
        .handle(event, Utc::now())
        .await
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    assert_eq!(failures, vec!["44444444-4444-4444-4444-444444444444"]);

    let dispatch = kairos_aws::handlers::dispatch::Dispatch::new(aws.clone()).unwrap();
    let event: SqsEvent =
        serde_json::from_str(&event_file("dispatch/batch-with-poison.json")).unwrap();
    let failures: Vec<String> = dispatch
        .handle(event, Utc::now())
        .await
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    assert_eq!(failures, vec!["66666666-6666-6666-6666-666666666666"]);
}

#[tokio::test]
async fn schedule_and_feedback_events() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let _: EventBridgeEvent =
        serde_json::from_str(&event_file("sweep/schedule.json")).expect("an EventBridge event");
    let swept = kairos_aws::handlers::sweep::Sweep { aws: aws.clone() }
        .run(Utc::now())
        .await
        .unwrap();
    assert_eq!(swept, kairos_aws::handlers::sweep::Swept::default());

    let feedback = kairos_aws::handlers::feedback::Feedback::new(aws.clone());
    let bounce: Value = serde_json::from_str(&event_file("feedback/bounce.json")).unwrap();
    assert_eq!(feedback.handle(&bounce, Utc::now()).await.unwrap(), 1);
    let more: Value =
        serde_json::from_str(&event_file("feedback/delivery-and-click.json")).unwrap();
    assert_eq!(feedback.handle(&more, Utc::now()).await.unwrap(), 2);
    run_until_quiet(&aws).await;
    let ann = kairos_core::ports::ContactStore::load(&aws.table, "ann")
        .await
        .unwrap()
        .unwrap();
    assert!(ann.contact.consent.bounced);
    let clicked = ann.history.log("email_clicked").unwrap();
    assert_eq!(clicked.recent[0].props.get("step").unwrap(), "hello");
    assert_eq!(
        clicked.recent[0].props.get("link").unwrap(),
        "https://shop.example.com/start"
    );
}
