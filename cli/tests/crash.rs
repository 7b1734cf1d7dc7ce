//! Crashes at every boundary of `kairos serve` on the embedded store, chosen by seed: the
//! server aborts at a failpoint, is started again on the same data, and the client retries
//! what was not answered — as a power cut and a retrying client would. A checker in the
//! style of Jepsen's total-queue test then counts, for every accepted event, its effect:
//! applied once and its message sent once, or lost, or duplicated.
//!
//! The one loss the design accepts is a crash after a message's key is claimed and before
//! the provider takes it (`dispatch.after_claim`): at most once, never twice. Each such
//! crash may lose exactly one message, and the checker counts them apart ("ambiguous").

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const KEY: &str = "crash-test-key";
const CONTACTS: usize = 120;
const SEEDS: u64 = 6;
const POINTS: [&str; 6] = [
    "accept.after_queue",
    "evaluate.after_save",
    "evaluate.after_hand_on",
    "dispatch.after_claim",
    "dispatch.after_send",
    "queue.before_ack",
];

struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// `None` when it crashed (at its failpoint) before it listened.
    fn start(data: &Path, failpoints: &str) -> Option<Server> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .env("KAIROS_API_KEY", KEY)
            .env("KAIROS_FAILPOINTS", failpoints)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kairos serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Ok(first) = serde_json::from_str::<Value>(&line) else {
            let _ = child.wait(); // it aborted at its failpoint while starting
            return None;
        };
        let url = first["listening"].as_str().unwrap().to_string();
        Some(Server { child, url })
    }

    /// `None` when the server is gone (crashed at its failpoint).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        kind: &str,
        body: &str,
    ) -> Option<(u16, Value)> {
        let response = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(KEY)
            .header("content-type", kind)
            .body(body.to_string())
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.unwrap_or(Value::Null)))
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Stops it (`kill -9` if it still runs); whether it had crashed at its failpoint
    /// (an abort, SIGABRT) rather than being killed here.
    fn stop(mut self) -> bool {
        use std::os::unix::process::ExitStatusExt;
        let _ = self.child.kill();
        let status = self.child.wait().unwrap();
        status.signal() == Some(6)
    }
}

/// xorshift64*: a seeded, dependency-free choice of failpoints.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % below
    }
}

#[derive(Debug, Default, PartialEq)]
struct Tally {
    accepted: usize,
    applied_once: usize,
    sent_once: usize,
    lost: usize,
    duplicated: usize,
    unexpected: usize,
    ambiguous_crashes: usize,
    crashes: usize,
}

fn count(db: &rusqlite::Connection, sql: &str, contact: &str) -> usize {
    db.query_row(sql, [contact], |r| r.get::<_, i64>(0))
        .unwrap() as usize
}

async fn one_seed(seed: u64) -> Tally {
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("crash-{seed}"));
    let _ = std::fs::remove_dir_all(&data);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut tally = Tally::default();

    let setup = Server::start(&data, "").expect("starts");
    let defs = "templates:\n  receipt:\n    subject: Your order\n    text: Thanks\n";
    let wf = "id: receipt\nentry: { triggers: [ { event: order } ], reentry: concurrent }\nsteps:\n  - { id: send-receipt, send: { channel: email, template: receipt, category: transactional } }\n";
    assert_eq!(
        setup
            .call(
                reqwest::Method::PUT,
                "/v1/definitions",
                "application/yaml",
                defs
            )
            .await
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        setup
            .call(
                reqwest::Method::PUT,
                "/v1/workflows/receipt",
                "application/yaml",
                wf
            )
            .await
            .unwrap()
            .0,
        200
    );
    for i in 0..CONTACTS {
        let body = json!({ "email": format!("c{i}@example.com") }).to_string();
        assert_eq!(
            setup
                .call(
                    reqwest::Method::PUT,
                    &format!("/v1/contacts/c{i}"),
                    "application/json",
                    &body
                )
                .await
                .unwrap()
                .0,
            200
        );
    }
    setup.stop();

    // Events in batches of 10, each batch retried until answered; a crash at a random
    // failpoint on a random pass, then a restart.
    let mut next = 0;
    while next < CONTACTS {
        let point = POINTS[rng.next(POINTS.len() as u64) as usize];
        let nth = 1 + rng.next(25);
        let Some(mut server) = Server::start(&data, &format!("{point}=crash@{nth}")) else {
            tally.crashes += 1;
            tally.ambiguous_crashes += usize::from(point == "dispatch.after_claim");
            continue;
        };
        while next < CONTACTS {
            let events: Vec<Value> = (next..(next + 10).min(CONTACTS))
                .map(|i| json!({ "id": format!("order-{i}"), "contact": format!("c{i}"), "event": "order" }))
                .collect();
            let body = json!({ "events": events }).to_string();
            match server
                .call(
                    reqwest::Method::POST,
                    "/v1/events",
                    "application/json",
                    &body,
                )
                .await
            {
                Some((202, _)) => next += events.len(),
                _ => break, // not answered: the same batch again after the restart
            }
        }
        // Let the pipeline work (and perhaps reach its failpoint) before the next restart.
        let until = Instant::now() + Duration::from_millis(400);
        while Instant::now() < until && !server.exited() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if server.stop() {
            tally.crashes += 1;
            tally.ambiguous_crashes += usize::from(point == "dispatch.after_claim");
        }
    }
    tally.accepted = CONTACTS;

    // A clean run to the end: every queue empty.
    let server = Server::start(&data, "").expect("starts");
    let db = rusqlite::Connection::open(data.join("kairos.db")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let queued: i64 = db
            .query_row(
                "SELECT (SELECT count(*) FROM work) + (SELECT count(*) FROM dispatch)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if queued == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: the queues never drained"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop();
    let dead: i64 = db
        .query_row("SELECT count(*) FROM dead_letters", [], |r| r.get(0))
        .unwrap();
    assert_eq!(dead, 0, "seed {seed}: nothing is a dead letter");

    for i in 0..CONTACTS {
        let contact = format!("c{i}");
        let entered = count(&db, "SELECT count(*) FROM journal WHERE contact = ?1 AND entry LIKE '%\"kind\":\"entered\"%'", &contact);
        let sent = count(
            &db,
            "SELECT count(*) FROM outbox WHERE contact = ?1",
            &contact,
        );
        match entered {
            1 => tally.applied_once += 1,
            0 => tally.lost += 1,
            _ => tally.duplicated += 1,
        }
        match sent {
            1 => tally.sent_once += 1,
            0 if entered == 1 => tally.lost += 1,
            0 => {}
            _ => tally.duplicated += 1,
        }
    }
    let others: i64 = db
        .query_row(
            "SELECT count(*) FROM outbox WHERE contact NOT LIKE 'c%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    tally.unexpected = others as usize;
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_crashes_lose_no_accepted_event_and_send_nothing_twice() {
    let mut total = Tally::default();
    for seed in 1..=SEEDS {
        let t = one_seed(seed).await;
        assert_eq!(t.duplicated, 0, "seed {seed}: {t:?}");
        assert_eq!(t.unexpected, 0, "seed {seed}: {t:?}");
        assert_eq!(
            t.applied_once, t.accepted,
            "seed {seed}: every accepted event applied once: {t:?}"
        );
        assert!(
            t.lost <= t.ambiguous_crashes,
            "seed {seed}: only claimed-then-crashed messages may be missing: {t:?}"
        );
        total.accepted += t.accepted;
        total.applied_once += t.applied_once;
        total.sent_once += t.sent_once;
        total.lost += t.lost;
        total.duplicated += t.duplicated;
        total.unexpected += t.unexpected;
        total.ambiguous_crashes += t.ambiguous_crashes;
        total.crashes += t.crashes;
    }
    // The figures the README quotes (run with --nocapture to see them).
    println!("embedded store, {SEEDS} seeds: {total:?}");
}
