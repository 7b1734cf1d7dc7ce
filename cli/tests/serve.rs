//! `kairos serve` on the embedded store, as a user runs it: the HTTP API, the pipeline in
//! the same process, and a restart that loses nothing (a wait resumes at its time).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const KEY: &str = "serve-test-key";

/// The rendered messages in the local outbox, read as an operator would, with SQLite.
fn outbox_rows(data: &Path) -> usize {
    let db = rusqlite::Connection::open(data.join("kairos.db")).unwrap();
    db.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap()
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .env("KAIROS_API_KEY", KEY)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kairos serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = serde_json::from_str::<Value>(&line).expect("the first line says where")
            ["listening"]
            .as_str()
            .unwrap()
            .to_string();
        Server { child, url }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, Value) {
        let response = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(KEY)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Polls the contact's journal until it holds an entry of `kind` (and, when given, for
    /// `template`): the engine's entries and the dispatcher's are written by different
    /// workers, so a test waits for the one it checks, not for a neighbour.
    async fn journal_until(
        &self,
        contact: &str,
        kind: &str,
        template: Option<&str>,
        within: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let (_, body) = self
                .call(
                    reqwest::Method::GET,
                    &format!("/v1/contacts/{contact}/journal"),
                    "application/json",
                    "",
                )
                .await;
            let entries = body["journal"].as_array().cloned().unwrap_or_default();
            let found = entries
                .iter()
                .any(|e| e["kind"] == kind && template.is_none_or(|t| e["template"] == t));
            if found || Instant::now() > deadline {
                return entries;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_runs_the_pipeline_and_survives_a_restart() {
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-data");
    let _ = std::fs::remove_dir_all(&data);
    let server = Server::start(&data);
    let defs = "templates:\n  hi: { subject: Hi, text: Hello }\n  later: { subject: Later, text: Again }\n";
    assert_eq!(
        server
            .call(
                reqwest::Method::PUT,
                "/v1/definitions",
                "application/yaml",
                defs
            )
            .await
            .0,
        200
    );
    let wf = "id: hello\nentry: { triggers: [ { event: go } ] }\nsteps:\n  - { id: hi, send: { channel: email, template: hi } }\n  - { id: pause, wait: { for: 3s } }\n  - { id: later, send: { channel: email, template: later } }\n";
    let (status, body) = server
        .call(
            reqwest::Method::PUT,
            "/v1/workflows/hello",
            "application/yaml",
            wf,
        )
        .await;
    assert_eq!((status, body["version"].clone()), (200, json!(1)), "{body}");
    let (status, _) = server
        .call(
            reqwest::Method::PUT,
            "/v1/contacts/ann",
            "application/json",
            r#"{"email": "ann@example.com"}"#,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = server
        .call(
            reqwest::Method::POST,
            "/v1/events",
            "application/json",
            r#"{"contact": "ann", "event": "go"}"#,
        )
        .await;
    assert_eq!((status, body["accepted"].clone()), (202, json!(1)));
    let journal = server
        .journal_until("ann", "message_sent", Some("hi"), Duration::from_secs(10))
        .await;
    assert!(
        journal
            .iter()
            .any(|e| e["kind"] == "message_sent" && e["template"] == "hi"),
        "{journal:#?}"
    );

    // Stop while the run waits; start again on the same data: the wait resumes on time.
    drop(server);
    let server = Server::start(&data);
    let journal = server
        .journal_until(
            "ann",
            "message_sent",
            Some("later"),
            Duration::from_secs(15),
        )
        .await;
    assert!(
        journal
            .iter()
            .any(|e| e["kind"] == "message_sent" && e["template"] == "later"),
        "{journal:#?}"
    );
    let (_, workflow) = server
        .call(
            reqwest::Method::GET,
            "/v1/workflows/hello",
            "application/json",
            "",
        )
        .await;
    assert_eq!(workflow["versions"], json!([1]), "the catalog was reloaded");
    let outbox = outbox_rows(&data);
    assert_eq!(outbox, 2, "both emails are in the local outbox");
    let (status, _) = server
        .call(
            reqwest::Method::DELETE,
            "/v1/contacts/ann",
            "application/json",
            "",
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        server
            .call(
                reqwest::Method::GET,
                "/v1/contacts/ann",
                "application/json",
                ""
            )
            .await
            .0,
        404
    );
    let outbox = outbox_rows(&data);
    assert_eq!(outbox, 0, "the rendered messages went with the contact");
}

#[test]
fn serve_refuses_to_start_without_an_api_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("KAIROS_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set KAIROS_API_KEY"));
}

/// moto's server from the project's .venv (./test.sh installs it).
fn moto() -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = std::env::var("MOTO_SERVER")
        .unwrap_or_else(|_| format!("{}/../.venv/bin/moto_server", env!("CARGO_MANIFEST_DIR")));
    let child = Command::new(&binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary} ({e}); run ./test.sh"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, format!("http://127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_with_aws_endpoint_runs_the_production_path() {
    let (mut emulator, endpoint) = moto();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--aws-endpoint",
            &endpoint,
        ])
        .env("KAIROS_API_KEY", KEY)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("KAIROS_FROM_ADDRESS", "Shop <hello@example.com>")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = serde_json::from_str::<Value>(&line).expect("listening")["listening"]
        .as_str()
        .unwrap()
        .to_string();
    let server = Server { child, url };
    let wf = "id: hello\nentry: { triggers: [ { event: go } ] }\nsteps:\n  - { id: hi, send: { channel: email, template: hi } }\n";
    assert_eq!(
        server
            .call(
                reqwest::Method::PUT,
                "/v1/definitions",
                "application/yaml",
                "templates:\n  hi: { subject: Hi from AWS, text: Hello }\n"
            )
            .await
            .0,
        200
    );
    assert_eq!(
        server
            .call(
                reqwest::Method::PUT,
                "/v1/workflows/hello",
                "application/yaml",
                wf
            )
            .await
            .0,
        200
    );
    server
        .call(
            reqwest::Method::PUT,
            "/v1/contacts/ann",
            "application/json",
            r#"{"email": "ann@example.com"}"#,
        )
        .await;
    server
        .call(
            reqwest::Method::POST,
            "/v1/events",
            "application/json",
            r#"{"contact": "ann", "event": "go"}"#,
        )
        .await;
    let journal = server
        .journal_until("ann", "message_sent", None, Duration::from_secs(20))
        .await;
    assert!(
        journal.iter().any(|e| e["kind"] == "message_sent"),
        "{journal:#?}"
    );
    let data: Value = reqwest::get(format!("{endpoint}/moto-api/data.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        data.to_string().contains("Hi from AWS"),
        "the email reached the emulator's SES"
    );
    drop(server);
    let _ = emulator.kill();
    let _ = emulator.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_outbox_shows_rendered_mail_and_records_opens_and_clicks() {
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-outbox");
    let _ = std::fs::remove_dir_all(&data);
    let server = Server::start(&data);
    let defs = "templates:\n  hi:\n    subject: \"Hi {{ contact.first_name | default: 'there' }}\"\n    html: '<p>Hello</p><a href=\"https://shop.example.com/start\">Start</a> <a href=\"{{ unsubscribe_url }}\">Unsubscribe</a>'\n    text: Hello\n";
    assert_eq!(
        server
            .call(
                reqwest::Method::PUT,
                "/v1/definitions",
                "application/yaml",
                defs
            )
            .await
            .0,
        200
    );
    let wf = "id: hello\nentry: { triggers: [ { event: go } ] }\nsteps:\n  - { id: hi, send: { channel: email, template: hi } }\n  - { id: clicked, wait: { until: { event: { name: email_clicked, since: run_start } }, timeout: 1d } }\n  - { id: thanks, tag: { add: [clicked] } }\n";
    assert_eq!(
        server
            .call(
                reqwest::Method::PUT,
                "/v1/workflows/hello",
                "application/yaml",
                wf
            )
            .await
            .0,
        200
    );
    server
        .call(
            reqwest::Method::PUT,
            "/v1/contacts/ann",
            "application/json",
            r#"{"email": "ann@example.com", "fields": {"first_name": "Ann"}}"#,
        )
        .await;
    server
        .call(
            reqwest::Method::POST,
            "/v1/events",
            "application/json",
            r#"{"contact": "ann", "event": "go"}"#,
        )
        .await;
    server
        .journal_until("ann", "message_sent", None, Duration::from_secs(10))
        .await;

    // The outbox shows recipients and bodies: a browser logs in with the API key first.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let refused = anonymous
        .get(format!("{}/outbox", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 303, "to the login page");
    assert_eq!(refused.headers()["location"], "/login?next=/outbox");
    let wrong = anonymous
        .post(format!("{}/login", server.url))
        .form(&[("key", "not-the-key"), ("next", "/outbox")])
        .send()
        .await
        .unwrap();
    // The form again, saying why, and no session.
    assert_eq!(wrong.status().as_u16(), 200);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("That is not the API key."));
    let login = anonymous
        .post(format!("{}/login", server.url))
        .form(&[("key", KEY), ("next", "/outbox")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.headers()["location"], "/outbox");
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.split(';').next().unwrap().parse().unwrap());
    let browser = reqwest::Client::builder()
        .default_headers(headers.clone())
        .build()
        .unwrap();

    let list = browser
        .get(format!("{}/outbox", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let id = list
        .split("href=\"/outbox/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a message in the outbox")
        .to_string();
    assert!(list.contains("Hi Ann"), "{list}");
    let page = browser
        .get(format!("{}/outbox/{id}", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("/outbox/{id}/open")),
        "an open pixel: {page}"
    );
    assert!(
        page.contains(&format!(
            "/outbox/{id}/click?u=https%3A%2F%2Fshop.example.com%2Fstart"
        )),
        "{page}"
    );
    assert!(
        page.contains("/unsubscribe/"),
        "the unsubscribe link was rendered: {page}"
    );
    browser
        .get(format!("{}/outbox/{id}/open", server.url))
        .send()
        .await
        .unwrap();
    let no_redirect = reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let click = no_redirect
        .get(format!(
            "{}/outbox/{id}/click?u=https%3A%2F%2Fshop.example.com%2Fstart",
            server.url
        ))
        .send()
        .await
        .unwrap();
    assert!(click.status().is_redirection());
    assert_eq!(
        click.headers()["location"],
        "https://shop.example.com/start"
    );
    let elsewhere = no_redirect
        .get(format!(
            "{}/outbox/{id}/click?u=https%3A%2F%2Fevil.example.com",
            server.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status().as_u16(), 400, "not an open redirect");
    let journal = server
        .journal_until("ann", "exited", None, Duration::from_secs(10))
        .await;
    assert!(
        journal
            .iter()
            .any(|e| e["kind"] == "tag_added" && e["tag"] == "clicked"),
        "the click reached the engine: {journal:#?}"
    );

    // One-click unsubscribe through the real route.
    let url = page
        .split("href=\"")
        .find(|s| s.contains("/unsubscribe/"))
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    assert_eq!(reqwest::get(&url).await.unwrap().status().as_u16(), 200);
    assert_eq!(
        reqwest::Client::new()
            .post(&url)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, contact) = server
            .call(
                reqwest::Method::GET,
                "/v1/contacts/ann",
                "application/json",
                "",
            )
            .await;
        if contact["consent"]["unsubscribed"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "{contact}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// GDPR: a deletion racing queued events leaves nothing of the contact — no partition, no
/// journal, no rendered message, no queued work — whichever of the two wins the race.
#[tokio::test]
async fn a_deletion_racing_queued_events_leaves_nothing() {
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-gdpr");
    let _ = std::fs::remove_dir_all(&data);
    let server = Server::start(&data);
    let defs = "templates:\n  hi:\n    subject: Hi\n    text: Hello\n";
    server
        .call(
            reqwest::Method::PUT,
            "/v1/definitions",
            "application/yaml",
            defs,
        )
        .await;
    let wf = "id: hi\nentry: { triggers: [ { event: go } ], reentry: concurrent }\nsteps:\n  - { id: hi, send: { channel: email, template: hi } }\n";
    server
        .call(
            reqwest::Method::PUT,
            "/v1/workflows/hi",
            "application/yaml",
            wf,
        )
        .await;
    for round in 0..5 {
        let contact = format!("gone-{round}@example.com");
        let body = json!({ "email": contact }).to_string();
        server
            .call(
                reqwest::Method::PUT,
                &format!("/v1/contacts/{contact}"),
                "application/json",
                &body,
            )
            .await;
        let events: Vec<Value> = (0..20)
            .map(|_| json!({ "contact": contact, "event": "go" }))
            .collect();
        server
            .call(
                reqwest::Method::POST,
                "/v1/events",
                "application/json",
                &json!({ "events": events }).to_string(),
            )
            .await;
        // The deletion lands while some of those are still queued (or being evaluated).
        tokio::time::sleep(Duration::from_millis(5 * round)).await;
        let (status, _) = server
            .call(
                reqwest::Method::DELETE,
                &format!("/v1/contacts/{contact}"),
                "application/json",
                "",
            )
            .await;
        assert_eq!(status, 204);
    }
    // Let the pipeline finish whatever it had.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let db = rusqlite::Connection::open(data.join("kairos.db")).unwrap();
    for table in [
        "contacts WHERE id",
        "journal WHERE contact",
        "outbox WHERE contact",
        "work WHERE contact",
        "dispatch WHERE contact",
        "timers WHERE contact",
    ] {
        let left: i64 = db
            .query_row(
                &format!("SELECT count(*) FROM {table} LIKE 'gone-%'"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0, "{table}: something of a deleted contact is left");
    }
    for round in 0..5 {
        let (status, _) = server
            .call(
                reqwest::Method::GET,
                &format!("/v1/contacts/gone-{round}@example.com/journal"),
                "application/json",
                "",
            )
            .await;
        assert_eq!(status, 404);
    }
    // And no id in clear in the tombstones.
    let clear: i64 = db
        .query_row(
            "SELECT count(*) FROM tombstones WHERE CAST(id_mac AS TEXT) LIKE '%gone-%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(clear, 0);
}
