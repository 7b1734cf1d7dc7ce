//! Broadcasts and audiences through `kairos serve` and `kairos audience export`: a
//! business event over HTTP reaches the newsletter once each with the product's values,
//! a small drop reaches nobody, pause / resume / cancel answer as documented; a
//! segment's members page by cursor; the hashed export equals SHA-256 computed
//! independently by Python's hashlib from the raw addresses (mixed case, padding, local
//! phone formatting), and leaves out who does not take marketing.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::Server;

const KEY: &str = "audience-key";

async fn call(url: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client
        .request(method, format!("{url}{path}"))
        .bearer_auth(KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// SHA-256 rows as Python computes them from the raw values (normalised by Meta's rules:
/// email trimmed and lower-cased; phone digits only, with the country code).
fn python_rows(people: &[(&str, &str)]) -> BTreeSet<String> {
    let script = r#"
import hashlib, json, re, sys
for email, phone in json.load(sys.stdin):
    e = email.strip().lower()
    p = re.sub(r"\D", "", phone)
    h = lambda s: hashlib.sha256(s.encode()).hexdigest() if s else ""
    print(h(e) + "," + h(p))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let input = serde_json::to_string(people).unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn export(args: &[&str]) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["audience", "export"])
        .args(args)
        .env("KAIROS_API_KEY", KEY)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("email_sha256,phone_sha256"));
    lines.map(str::to_string).collect()
}

const DEFINITIONS: &str = r#"
segments:
  subscribers: { list: newsletter }
templates:
  drop: { subject: "{{ broadcast.event.product_name }} now {{ broadcast.event.new_price }}", text: "Cheaper: {{ broadcast.event.new_price }}" }
broadcasts:
  price-drop:
    on: { business_event: price_changed, where: { expr: "(old_price - new_price) / old_price > 0.15" } }
    audience: { segment: subscribers }
    send: { channel: email, template: drop, category: marketing }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_and_the_hashed_export_through_serve() {
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("audiences-serve");
    let server = Server::start(&data, KEY, &[]);
    let url = server.url.clone();
    let client = reqwest::Client::new();
    let put = client
        .put(format!("{url}/v1/definitions"))
        .bearer_auth(KEY)
        .header("content-type", "application/yaml")
        .body(DEFINITIONS)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let people = [
        ("ann", "Ann.Lee@Example.COM", "+49 151 1234-5678", true),
        ("bob", "bob@example.com", "+1 (555) 010-0199", true),
        ("cem", "Cem@Example.com", "", true),
        ("dan", "dan@example.com", "+4915100000009", false),
    ];
    for (id, email, phone, subscribed) in people {
        let mut body = json!({ "email": email, "lists": if subscribed { vec!["newsletter"] } else { vec![] } });
        if !phone.is_empty() {
            // The API keeps E.164: formatting goes before it is stored.
            let e164: String = phone
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '+')
                .collect();
            body["phone"] = json!(e164);
        }
        let (status, answer) = call(&url, "PUT", &format!("/v1/contacts/{id}"), Some(body)).await;
        assert_eq!(status, 200, "{answer}");
    }
    // Cem unsubscribes: still a member, not in the ad audience.
    let (status, _) = call(
        &url,
        "POST",
        "/v1/events",
        Some(json!({ "contact": "cem", "event": "unsubscribed" })),
    )
    .await;
    assert_eq!(status, 202);

    // The members, two per page.
    let deadline = Instant::now() + Duration::from_secs(20);
    let members = loop {
        let mut members = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = cursor
                .as_ref()
                .map_or(String::new(), |c| format!("&cursor={c}"));
            let (status, page) = call(
                &url,
                "GET",
                &format!("/v1/segments/subscribers/members?limit=2{query}"),
                None,
            )
            .await;
            assert_eq!(status, 200, "{page}");
            let ids = page["members"].as_array().unwrap();
            assert!(ids.len() <= 2);
            members.extend(ids.iter().map(|v| v.as_str().unwrap().to_string()));
            match page["cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        if members.len() == 3 || Instant::now() > deadline {
            break members;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(members, ["ann", "bob", "cem"]);
    let (status, _) = call(&url, "GET", "/v1/segments/nobody/members", None).await;
    assert_eq!(status, 404);

    // The hashed export: the subscribers who take marketing, as Python hashes them.
    let expected = python_rows(&[
        ("Ann.Lee@Example.COM", "+49 151 1234-5678"),
        ("bob@example.com", "+1 (555) 010-0199"),
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let exported = export(&["subscribers", "--url", &url]);
        if exported == expected {
            break;
        }
        assert!(Instant::now() < deadline, "{exported:?} != {expected:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A 20 % drop reaches the subscribers who take marketing, once, with the values.
    let price_drop = json!({ "id": "p1", "event": "price_changed", "props": { "product_name": "Trail Shoe", "old_price": 120, "new_price": 96 } });
    let (status, fired) = call(
        &url,
        "POST",
        "/v1/business-events",
        Some(price_drop.clone()),
    )
    .await;
    assert_eq!(
        (status, fired["runs"].clone()),
        (202, json!(["price-drop:1"]))
    );
    let (status, again) = call(&url, "POST", "/v1/business-events", Some(price_drop)).await;
    assert_eq!(
        (status, again["runs"].clone()),
        (202, json!([])),
        "the same id fires once"
    );
    let small = json!({ "event": "price_changed", "props": { "product_name": "Jacket", "old_price": 100, "new_price": 90 } });
    let (_, none) = call(&url, "POST", "/v1/business-events", Some(small)).await;
    assert_eq!(none["runs"], json!([]));
    let deadline = Instant::now() + Duration::from_secs(20);
    let run = loop {
        let (status, broadcast) = call(&url, "GET", "/v1/broadcasts/price-drop", None).await;
        assert_eq!(status, 200, "{broadcast}");
        let run = broadcast["runs"][0].clone();
        if run["queued"] == 0 && run["fanned_out"] == true && run["audience"] == 3 {
            break run;
        }
        assert!(Instant::now() < deadline, "{broadcast}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run["sent"], 2, "{run}");
    assert_eq!(run["suppressed"], json!({ "unsubscribed": 1 }), "{run}");
    let outbox = client
        .get(format!("{url}/outbox"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(outbox.contains("Trail Shoe now 96"), "{outbox}");

    // Controls: nothing running any more to pause is a conflict; unknown is 404.
    let (status, _) = call(&url, "POST", "/v1/broadcasts/price-drop/cancel", None).await;
    assert_eq!(status, 202);
    let (status, _) = call(&url, "POST", "/v1/broadcasts/price-drop/pause", None).await;
    assert_eq!(status, 409);
    let (status, _) = call(&url, "POST", "/v1/broadcasts/nope/pause", None).await;
    assert_eq!(status, 404);
    drop(server);
}

#[test]
fn the_hashed_export_of_a_scenario() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("audiences-scenario");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("definitions.yaml"), DEFINITIONS).unwrap();
    std::fs::write(
        dir.join("scenario.yaml"),
        r#"
start: "2026-12-07T12:00:00Z"
until: 1h
workflows: []
definitions: definitions.yaml
contacts:
  - { id: ann, email: "  Ann.Lee@Example.COM ", phone: "+49 151 1234-5678", lists: [newsletter] }
  - { id: bob, phone: "+1 (555) 010-0199", lists: [newsletter] }
  - { id: cem, email: cem@example.com, lists: [newsletter] }
  - { id: dan, email: dan@example.com }
timeline:
  - { at: 10m, contact: cem, unsubscribe: true }
"#,
    )
    .unwrap();
    let exported = export(&[
        "subscribers",
        "--scenario",
        dir.join("scenario.yaml").to_str().unwrap(),
    ]);
    let expected = python_rows(&[
        ("  Ann.Lee@Example.COM ", "+49 151 1234-5678"),
        ("", "+1 (555) 010-0199"),
    ]);
    assert_eq!(exported, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synced_audience_hears_of_entering_and_of_deletion_once_each() {
    use std::sync::{Arc, Mutex};
    // The connector: records what it is posted.
    let posted: Arc<Mutex<Vec<Value>>> = Arc::default();
    let record = posted.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("audiences-sync");
    let server = Server::start(&data, KEY, &[]);
    let url = server.url.clone();
    let definitions = format!(
        "segments:\n  vip: {{ tag: vip }}\naudiences:\n  fb-vip: {{ segment: vip, destination: {{ webhook: \"{hook}\" }} }}\n"
    );
    let put = reqwest::Client::new()
        .put(format!("{url}/v1/definitions"))
        .bearer_auth(KEY)
        .header("content-type", "application/yaml")
        .body(definitions)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let (status, _) = call(
        &url,
        "PUT",
        "/v1/contacts/ann",
        Some(json!({ "email": "Ann@Example.com", "tags": ["vip"] })),
    )
    .await;
    assert_eq!(status, 200);
    let ann = python_rows(&[("Ann@Example.com", "")]);
    let email_hash = ann.iter().next().unwrap().trim_end_matches(',').to_string();
    let wait_for = |n: usize| {
        let posted = posted.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while posted.lock().unwrap().len() < n {
                assert!(Instant::now() < deadline, "{:?}", posted.lock().unwrap());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for(1).await;
    let added = posted.lock().unwrap()[0].clone();
    assert_eq!(added["audience"], "fb-vip");
    assert_eq!(
        added["add"][0]["email_sha256"],
        email_hash.as_str(),
        "{added}"
    );

    let (status, _) = call(&url, "DELETE", "/v1/contacts/ann", None).await;
    assert_eq!(status, 204);
    wait_for(2).await;
    let removed = posted.lock().unwrap()[1].clone();
    assert_eq!(
        removed["remove"][0]["email_sha256"],
        email_hash.as_str(),
        "{removed}"
    );
    assert_eq!(removed["add"], json!([]));
    // Nothing more comes.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(posted.lock().unwrap().len(), 2);
    drop(server);
}
