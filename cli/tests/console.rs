//! The console in a real headless browser: Debian's chromium through chromedriver, driven
//! by Selenium (both installed by `./test.sh`), against `kairos serve` after a batch of
//! events — log in (a wrong key refused), a journey's counts, why a contact's email was not
//! sent, an outbox message, log out; no page logs a console error. Screenshots land in
//! `target/tmp/console-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const KEY: &str = "console-test-key";

mod support;

use support::Server;

async fn call(url: &str, method: reqwest::Method, path: &str, kind: &str, body: &str) -> Value {
    let response = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(KEY)
        .header("content-type", kind)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}

/// The batch the browser test and the moto test both look at (`tests/clients/`).
const DEFINITIONS: &str = include_str!("../../tests/clients/console-definitions.yaml");
const EVENTS: &str = include_str!("../../tests/clients/console-events.json");
const WELCOME: &str = include_str!("../../tests/clients/console-welcome.yaml");

#[tokio::test(flavor = "multi_thread")]
async fn the_console_in_a_real_browser() {
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-data");
    let server = Server::start(&data, KEY, &[]);
    let url = server.url.clone();
    use reqwest::Method;
    call(
        &url,
        Method::PUT,
        "/v1/definitions",
        "application/yaml",
        DEFINITIONS,
    )
    .await;
    call(
        &url,
        Method::PUT,
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
            &url,
            Method::PUT,
            &format!("/v1/contacts/{id}"),
            "application/json",
            &body,
        )
        .await;
    }
    call(&url, Method::POST, "/v1/events", "application/json", EVENTS).await;
    // The pipeline runs behind the API: wait until bob's suppression is journaled.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let journal = call(
            &url,
            Method::GET,
            "/v1/contacts/bob/journal",
            "application/json",
            "",
        )
        .await;
        let done = journal["journal"]
            .as_array()
            .is_some_and(|j| j.iter().any(|e| e["kind"] == "message_suppressed"));
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/console_browser.py");
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(script)
            .arg(&url)
            .arg(KEY)
            .arg(&shots)
            .output()
            .expect("run ./test.sh, which installs chromium, chromedriver and selenium")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["wrong_key"], "refused");
    let hello = seen["journey_hello"].as_str().unwrap();
    assert!(hello.contains("entered 3"), "{hello}");
    assert!(
        hello.contains("sent 2") && hello.contains("suppressed 1"),
        "{hello}"
    );
    assert!(seen["journey_entry"]
        .as_str()
        .unwrap()
        .contains("starts on event signed_up"));
    assert_eq!(seen["contact_title"], "bob");
    let not_sent: Vec<&str> = seen["not_sent"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        not_sent
            .iter()
            .any(|l| l.contains("was not sent: unsubscribed")),
        "{not_sent:?}"
    );
    assert!(seen["outbox_message"]
        .as_str()
        .unwrap()
        .contains("Subject: Welcome aboard"));
    assert!(seen["after_logout"].as_str().unwrap().contains("/login"));
    assert_eq!(seen["console_errors"], serde_json::json!([]));
}
