//! The tracking API of the intake function on moto: Segment's real Python library sends
//! to the intake router on a real socket, the Lambda handlers drain the real queues, and
//! the contact in DynamoDB has everything once; a merge that fails between the two
//! partitions' writes is finished by the redelivery.

use std::path::PathBuf;
use std::process::Command;

use kairos_aws::app::Aws;
use kairos_core::failpoint::{self, Action};
use kairos_tests::{call, drain_with_retries, intake_url, stack, Moto};
use serde_json::Value;

const WRITE_KEY: &str = "moto-write-key";
const DEFINITIONS: &str = "scoring:\n  - { event: page_viewed, points: 5 }\n  - { event: purchase, points: 100 }\n  - { event: viewed_item, points: 1 }\n";

fn segment_client(url: String, write_key: &'static str, mode: &'static str) -> Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/clients/segment_calls.py"))
        .args([url.as_str(), write_key, mode])
        .output()
        .expect("run ./test.sh, which installs segment-analytics-python into .venv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Segment client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

async fn contact(aws: &Aws, id: &str) -> Value {
    call(
        aws,
        "GET",
        &format!("/v1/contacts/{id}"),
        "application/json",
        "",
    )
    .await
    .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_python_library_through_intake_on_moto() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let (status, _) = call(
        &aws,
        "PUT",
        "/v1/definitions",
        "application/yaml",
        DEFINITIONS,
    )
    .await;
    assert_eq!(status, 200);
    let url = intake_url(&aws, Some(WRITE_KEY)).await;
    let sent = tokio::task::spawn_blocking(move || segment_client(url, WRITE_KEY, "calls"))
        .await
        .unwrap();
    assert_eq!(sent["sent"], 13, "{sent}");
    // The merges hand over through the work queue: drain until it is empty.
    drain_with_retries(&aws).await;

    let ann = contact(&aws, "ann").await;
    assert_eq!(
        ann["scores"]["lead"], 115,
        "page views of both devices, one purchase: {ann}"
    );
    assert_eq!(ann["email"], "ann@example.com");
    assert_eq!(ann["fields"]["firstName"], "Ann");
    for alias in ["visitor-1", "old-device"] {
        assert_eq!(contact(&aws, alias).await["id"], "ann", "{alias}");
    }
    assert_eq!(contact(&aws, "bob").await["scores"]["lead"], 5);

    let url = intake_url(&aws, Some(WRITE_KEY)).await;
    let refused = tokio::task::spawn_blocking(move || segment_client(url, "wrong", "wrong-key"))
        .await
        .unwrap();
    assert_eq!(refused["status"], 401);
}

#[tokio::test(flavor = "current_thread")]
async fn a_merge_failing_between_the_partitions_is_finished_by_the_redelivery() {
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
    let page = |id: &str| format!(r#"{{"anonymousId": "{id}", "name": "Home"}}"#);
    for id in ["visitor", "ann"] {
        let (status, _) = call(&aws, "POST", "/v1/page", "application/json", &page(id)).await;
        assert_eq!(status, 200);
    }
    drain_with_retries(&aws).await;

    let alias = r#"{"previousId": "visitor", "userId": "ann"}"#;
    let (status, body) = call(&aws, "POST", "/v1/alias", "application/json", alias).await;
    assert_eq!(
        (status.as_u16(), body["success"].clone()),
        (200, Value::Bool(true))
    );
    // The source saves the merge, then its evaluation fails before the hand-over is
    // queued (a crash, a timeout): the record goes back to the queue.
    failpoint::arm("evaluate.after_save", Action::Error, 1);
    drain_with_retries(&aws).await;
    failpoint::disarm_all();

    let ann = contact(&aws, "ann").await;
    assert_eq!(ann["scores"]["lead"], 10, "both page views, once: {ann}");
    assert_eq!(contact(&aws, "visitor").await["id"], "ann");
    // The same alias again is accepted once; nothing changes.
    let (status, _) = call(&aws, "POST", "/v1/alias", "application/json", alias).await;
    assert_eq!(status, 200);
    drain_with_retries(&aws).await;
    assert_eq!(contact(&aws, "ann").await["scores"]["lead"], 10);
    let (_, journal) = call(
        &aws,
        "GET",
        "/v1/contacts/ann/journal",
        "application/json",
        "",
    )
    .await;
    let merged = journal["journal"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "merged")
        .count();
    assert_eq!(merged, 1, "{journal}");
}
