//! Test support: a private moto server per test, the stack provisioned on it, and the
//! Lambda handlers driven from the real queues the way event source mappings drive them.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use aws_lambda_events::event::sqs::SqsBatchResponse;
use kairos_aws::app::Aws;
use kairos_aws::local::event_source::{self, Batch};
use kairos_aws::local::provision::{provision, QueueSettings};
use kairos_aws::names::Names;
use serde_json::Value;

pub mod faults;
pub mod meter;

/// moto's server on a free loopback port, stopped when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

fn moto_binary() -> PathBuf {
    if let Ok(path) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server")
}

impl Moto {
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let binary = moto_binary();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); run ./test.sh, which installs moto into .venv",
                    binary.display()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    pub async fn config(&self) -> SdkConfig {
        kairos_aws::app::sdk_defaults()
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "moto",
            ))
            .load()
            .await
    }

    /// What the emulator recorded (sent email, SMS …): `GET /moto-api/data.json`.
    pub async fn data(&self) -> Value {
        reqwest::get(format!("{}/moto-api/data.json", self.endpoint))
            .await
            .expect("moto data")
            .json()
            .await
            .expect("moto json")
    }

    /// Every email body moto's SES recorded (simple and raw).
    pub async fn sent_emails(&self) -> Vec<Value> {
        let data = self.data().await;
        let mut all: Vec<Value> = data["ses"]["Message"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        all.extend(
            data["ses"]["RawMessage"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        all.extend(
            data["sesv2"]["Message"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        all
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The API key the tests' routers take.
pub const API_KEY: &str = "test-key";

/// The store key of the test stacks (what `KAIROS_STORE_KEY` gives a function).
pub const STORE_KEY: &str = "a test store key, thirty-two bytes or more";

/// [`STORE_KEY`] as the adapters take it.
pub fn store_key() -> kairos_core::keys::StoreKey {
    kairos_core::keys::StoreKey::new(STORE_KEY).unwrap()
}

/// One request to the HTTP API (the intake function's router) on `aws`, with the key;
/// the status and the JSON body (`null` if there is none).
pub async fn call(
    aws: &Aws,
    method: &str,
    uri: &str,
    content_type: &str,
    body: &str,
) -> (axum::http::StatusCode, Value) {
    use tower::ServiceExt;
    let app = kairos_api::router(std::sync::Arc::new(kairos_api::App::new(
        aws.clone(),
        API_KEY.into(),
        None,
    )));
    let request = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {API_KEY}"))
        .header("content-type", content_type)
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The intake function's router on a loopback socket over `aws`, as API Gateway would
/// reach it (with a write key for the tracking routes, when given); its base URL.
pub async fn intake_url(aws: &Aws, write_key: Option<&str>) -> String {
    let mut app = kairos_api::App::new(aws.clone(), API_KEY.into(), None);
    if let Some(key) = write_key {
        app = app.with_write_key(key.into());
    }
    let router = kairos_api::router(std::sync::Arc::new(app));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// The stack on moto: short visibility timeouts so retries and DLQ moves happen in seconds.
pub async fn stack(moto: &Moto) -> (Aws, SdkConfig) {
    let config = moto.config().await;
    let settings = QueueSettings {
        visibility_timeout: 1,
        max_receive_count: 2,
    };
    let names = provision(&config, "kairos", "Shop <hello@example.com>", settings)
        .await
        .expect("provision");
    (Aws::new(&config, names, store_key()), config)
}

/// The stack on moto, its SDK traffic going through `faults`.
pub async fn stack_with_faults(moto: &Moto, faults: &faults::Faults) -> Aws {
    let settings = QueueSettings {
        visibility_timeout: 1,
        max_receive_count: 20,
    };
    let plain = aws_smithy_http_client::Builder::new().build_http();
    stack_through(moto, faults.client(plain), settings).await.0
}

/// The stack on moto, its SDK traffic going through `client` (a fault injector, a meter).
pub async fn stack_through(
    moto: &Moto,
    client: aws_smithy_runtime_api::client::http::SharedHttpClient,
    settings: QueueSettings,
) -> (Aws, Names) {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(client)
        .endpoint_url(&moto.endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .load()
        .await;
    let names = provision(&config, "kairos", "Shop <hello@example.com>", settings)
        .await
        .expect("provision");
    (Aws::new(&config, names.clone(), store_key()), names)
}

/// Runs evaluate and dispatch from their queues, failures and all (a failed record comes
/// back after the visibility timeout), until both queues are empty, in flight included.
pub async fn drain_with_retries(aws: &Aws) {
    let evaluate = kairos_aws::handlers::evaluate::Evaluate::new(aws.clone());
    let dispatch = kairos_aws::handlers::dispatch::Dispatch::new(aws.clone()).unwrap();
    let sqs = &aws.queues.sqs;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut worked = 0;
        for _ in 0..2 {
            worked += event_source::poll(sqs, &aws.names.work_queue_url, 0, |e| evaluate.handle(e))
                .await
                .unwrap_or(0);
            worked += event_source::poll(sqs, &aws.names.dispatch_queue_url, 0, |e| {
                dispatch.handle(e, chrono::Utc::now())
            })
            .await
            .unwrap_or(0);
        }
        if worked == 0 {
            let mut left = 0;
            for url in [&aws.names.work_queue_url, &aws.names.dispatch_queue_url] {
                left += queue_depth(aws, url).await;
            }
            if left == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the queues never drained ({left} left)"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Messages in a queue, visible or in flight.
pub async fn queue_depth(aws: &Aws, url: &str) -> usize {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = aws
        .queues
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let attributes = out.attributes.unwrap_or_default();
    [
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .filter_map(|a| attributes.get(a)?.parse::<usize>().ok())
    .sum()
}

/// Receives up to 10 messages as a Lambda SQS event (nothing deleted yet).
pub async fn receive(aws: &Aws, queue_url: &str) -> Batch {
    event_source::receive(&aws.queues.sqs, queue_url, 0)
        .await
        .expect("receive")
}

/// Deletes the messages a handler did not report as failed (what the event source
/// mapping does with `ReportBatchItemFailures`). Returns how many succeeded.
pub async fn settle(
    aws: &Aws,
    queue_url: &str,
    batch: &Batch,
    response: &SqsBatchResponse,
) -> usize {
    batch
        .settle(&aws.queues.sqs, queue_url, response)
        .await
        .expect("delete")
}

/// Runs evaluate and dispatch from their queues until both are empty.
pub async fn run_until_quiet(aws: &Aws) {
    let evaluate = kairos_aws::handlers::evaluate::Evaluate::new(aws.clone());
    let dispatch = kairos_aws::handlers::dispatch::Dispatch::new(aws.clone()).unwrap();
    let sqs = &aws.queues.sqs;
    for _ in 0..50 {
        let worked = event_source::poll(sqs, &aws.names.work_queue_url, 0, |event| async {
            let response = evaluate.handle(event).await;
            assert!(
                response.batch_item_failures.is_empty(),
                "evaluate failed: {response:?}"
            );
            response
        })
        .await
        .expect("poll the work queue")
            > 0;
        let dispatched = event_source::poll(sqs, &aws.names.dispatch_queue_url, 0, |event| async {
            let response = dispatch.handle(event, chrono::Utc::now()).await;
            assert!(
                response.batch_item_failures.is_empty(),
                "dispatch failed: {response:?}"
            );
            response
        })
        .await
        .expect("poll the dispatch queue")
            > 0;
        if !worked && !dispatched {
            return;
        }
    }
    panic!("the queues never went quiet");
}
