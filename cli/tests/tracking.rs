//! Segment's real Python library (segment-analytics-python, installed into `.venv` by
//! `./test.sh`) pointed at `kairos serve`: page views, track, identify, alias and a batch
//! arrive as events, fields and merges; a messageId sent twice counts once; a wrong write
//! key is refused; the write key cannot read contacts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const KEY: &str = "tracking-test-key";
const WRITE_KEY: &str = "tracking-write-key";

/// Scores that show what arrived, and how often: a page view 5, a purchase 100, an item 1.
const DEFINITIONS: &str = "scoring:\n  - { event: page_viewed, points: 5 }\n  - { event: purchase, points: 100 }\n  - { event: viewed_item, points: 1 }\n";

mod support;

use support::Server;

/// A GET on the server's API, with the API key.
async fn get(server: &Server, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls a contact until `done` holds for it (the pipeline runs behind the API).
async fn contact_until(server: &Server, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(server, &format!("/v1/contacts/{id}")).await;
        if (status == 200 && done(&body)) || Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")
}

/// Runs the client script; its stdout as JSON.
fn segment_client(url: &str, write_key: &str, mode: &str) -> Value {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/segment_calls.py");
    let out = Command::new(python())
        .arg(script)
        .args([url, write_key, mode])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); run ./test.sh, which installs segment-analytics-python into .venv", python().display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Segment client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn segments_python_library_tracks_identifies_and_merges() {
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tracking-data");
    let server = Server::start(&data, KEY, &[("KAIROS_WRITE_KEY", WRITE_KEY)]);
    let status = reqwest::Client::new()
        .put(format!("{}/v1/definitions", server.url))
        .bearer_auth(KEY)
        .header("content-type", "application/yaml")
        .body(DEFINITIONS)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);

    let url = server.url.clone();
    let sent = tokio::task::spawn_blocking(move || segment_client(&url, WRITE_KEY, "calls"))
        .await
        .unwrap();
    assert_eq!(sent["sent"], 13, "{sent}");

    // Three page views (two as visitor-1, one on the aliased device) and one purchase.
    let ann = contact_until(&server, "ann", |c| c["scores"]["lead"] == 115).await;
    assert_eq!(ann["scores"]["lead"], 115, "{ann}");
    assert_eq!(ann["email"], "ann@example.com");
    assert_eq!(ann["fields"]["firstName"], "Ann");
    assert_eq!(ann["timezone"], "Europe/Berlin");
    // The merged ids answer with the contact they went into.
    for alias in ["visitor-1", "old-device"] {
        let (status, body) = get(&server, &format!("/v1/contacts/{alias}")).await;
        assert_eq!((status, body["id"].as_str()), (200, Some("ann")), "{alias}");
    }
    let (_, journal) = get(&server, "/v1/contacts/ann/journal").await;
    let merged: Vec<&str> = journal["journal"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "merged")
        .filter_map(|e| e["from"].as_str())
        .collect();
    assert_eq!(merged.len(), 2, "{journal}");
    assert!(merged.contains(&"visitor-1") && merged.contains(&"old-device"));

    // The batch of five.
    let bob = contact_until(&server, "bob", |c| c["scores"]["lead"] == 5).await;
    assert_eq!(bob["scores"]["lead"], 5, "{bob}");

    // A wrong write key is refused; the write key opens nothing but tracking.
    let url = server.url.clone();
    let refused =
        tokio::task::spawn_blocking(move || segment_client(&url, "not-the-key", "wrong-key"))
            .await
            .unwrap();
    assert_eq!(refused["status"], 401);
    let http = reqwest::Client::new();
    for request in [
        http.get(format!("{}/v1/contacts/ann", server.url))
            .basic_auth(WRITE_KEY, Some("")),
        http.get(format!("{}/v1/contacts/ann", server.url))
            .bearer_auth(WRITE_KEY),
    ] {
        assert_eq!(request.send().await.unwrap().status(), 401);
    }
}
