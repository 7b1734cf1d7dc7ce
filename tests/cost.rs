//! The cost model: the reference flow — an event over HTTP → an email → wait 3 days → if
//! the first email was opened, a second email → end, with SES delivery and open feedback
//! — for N contacts through the real handlers and SDK adapters on moto, every request
//! metered (`kairos_tests::meter`), then priced at us-east-1 list prices per million
//! contacts. Prints the table the README quotes; fails if the flow gets dearer than the
//! ceilings below (lower them when a change makes it cheaper).
//!
//! Run: `cargo test -p kairos-tests --test cost -- --nocapture`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use kairos_aws::app::Aws;
use kairos_aws::handlers::{dispatch::Dispatch, evaluate::Evaluate, feedback::Feedback};
use kairos_aws::handlers::{sweep::Sweep, wakeup::Wakeup};
use kairos_aws::local::event_source;
use kairos_aws::local::provision::QueueSettings;
use kairos_core::ports::ContactStore;
use kairos_tests::meter::{Meter, Usage};
use kairos_tests::{call, stack_through, store_key, Moto};
use serde_json::json;

/// Contacts through the flow; every other one opens the first email.
const CONTACTS: usize = 40;

/// List prices, us-east-1 (USD per unit).
const PER_WRU: f64 = 0.625e-6; // DynamoDB on-demand write request unit
const PER_RRU: f64 = 0.125e-6; // DynamoDB on-demand read request unit
const PER_SQS_STANDARD: f64 = 0.40e-6;
const PER_SQS_FIFO: f64 = 0.50e-6;
const PER_SNS_PUBLISH: f64 = 0.50e-6; // SES event publishing to SNS
const PER_LAMBDA_REQUEST: f64 = 0.20e-6;
/// Lambda duration, arm64, per GB-second, for an assumed 30 ms billed per invocation
/// (measured locally the handlers take 2–15 ms, DynamoDB and SQS round trips on AWS add
/// to that) at the template's memory sizes: intake 256 MB, the others 128 MB.
const PER_GB_SECOND: f64 = 0.000_013_333_4;
fn per_invocation_duration(function: &str) -> f64 {
    let gb = if function == "intake" { 0.25 } else { 0.125 };
    PER_GB_SECOND * gb * 0.030
}
const PER_EMAIL: f64 = 0.10e-3; // SES, not orchestration

/// Ceilings per contact (the measured figures of the current design, rounded up): a change
/// that makes the flow dearer fails here.
const MAX_WRU: f64 = 18.0;
const MAX_RRU: f64 = 15.0;
const MAX_USD_PER_MILLION: f64 = 20.0;
/// The wait's own share (the issue's budget; EventBridge Scheduler would be $7.2).
const MAX_WAIT_USD_PER_MILLION: f64 = 3.0;

const FLOW: &str = r#"
id: reference
entry: { triggers: [ { event: signed_up } ] }
steps:
  - { id: first, send: { channel: email, template: first } }
  - { id: pause, wait: { for: 3d } }
  - id: check
    if: { event: { name: email_opened, where: { step: first }, since: run_start } }
    then: [ { id: second, send: { channel: email, template: second } } ]
"#;

const DEFINITIONS: &str = r#"
templates:
  first: { subject: "Welcome", text: "Glad you are here." }
  second: { subject: "Since you read the first", text: "More of it." }
"#;

/// Lambda invocations by function.
type Invocations = BTreeMap<&'static str, u64>;

/// Requests by (service, operation).
type Traffic = BTreeMap<(String, String), Usage>;

/// What `usage` of (service, operation) costs at list prices (SES and SNS requests are
/// priced apart: emails are not orchestration, published events are counted per event).
fn price(service: &str, op: &str, usage: &Usage) -> f64 {
    match service {
        "dynamodb" => usage.wru * PER_WRU + usage.rru * PER_RRU,
        "sqs" if op.ends_with(".fifo") => usage.requests as f64 * PER_SQS_FIFO,
        "sqs" => usage.requests as f64 * PER_SQS_STANDARD,
        "ses" | "sns" => 0.0,
        other => panic!("an unpriced request: {other} {op}"),
    }
}

/// Adds `more` to `into`.
fn absorb(into: &mut Traffic, more: Traffic) {
    for (at, usage) in more {
        let sum = into.entry(at).or_default();
        sum.requests += usage.requests;
        sum.wru += usage.wru;
        sum.rru += usage.rru;
    }
}

/// What evaluate, dispatch and wakeup do at `now` until their queues are empty, as the
/// event source mappings would run them (one invocation per batch); the wake-ups'
/// traffic (delay queue and wakeup function) is also added to `wait`.
async fn drain(
    aws: &Aws,
    now: DateTime<Utc>,
    invocations: &mut Invocations,
    meter: &Meter,
    wait: &mut Traffic,
) {
    let evaluate = Evaluate::new(aws.clone());
    let dispatch = Dispatch::new(aws.clone()).unwrap();
    let wakeup = Wakeup { aws: aws.clone() };
    let sqs = &aws.queues.sqs;
    for _ in 0..200 {
        let mut worked = 0;
        let n = event_source::poll(sqs, &aws.names.work_queue_url, 0, |e| evaluate.handle(e))
            .await
            .unwrap();
        *invocations.entry("evaluate").or_default() += u64::from(n > 0);
        worked += n;
        let (n, traffic) = meter
            .during(event_source::poll(
                sqs,
                &aws.names.delay_queue_url,
                0,
                |e| wakeup.handle(e, now),
            ))
            .await;
        let n = n.unwrap();
        absorb(wait, traffic);
        *invocations.entry("wakeup").or_default() += u64::from(n > 0);
        worked += n;
        let n = event_source::poll(sqs, &aws.names.dispatch_queue_url, 0, |e| {
            dispatch.handle(e, now)
        })
        .await
        .unwrap();
        *invocations.entry("dispatch").or_default() += u64::from(n > 0);
        worked += n;
        if worked == 0 {
            return;
        }
    }
    panic!("the queues never went quiet");
}

/// SES's feedback for every email sent at `step` (opened by the contacts `opens` picks),
/// one SNS notification each, as SNS invokes the feedback function.
async fn feedback(
    aws: &Aws,
    inspect: &Aws,
    step: &str,
    opens: impl Fn(usize) -> bool,
    now: DateTime<Utc>,
    invocations: &mut Invocations,
) -> u64 {
    let handler = Feedback::new(aws.clone());
    let encode = |v: &str| kairos_aws::ses_tags::encode(v).unwrap();
    let mut notifications = 0;
    for i in 0..CONTACTS {
        let contact = format!("c{i}");
        let journal = inspect.table.journal(&contact).await.unwrap();
        let Some(sent) = journal
            .iter()
            .find(|e| e.kind == kairos_core::Kind::MessageSent && e.step.as_deref() == Some(step))
        else {
            continue;
        };
        let tags = json!({
            "contact": [encode(&contact)],
            "workflow": [encode("reference")],
            "run": [encode(sent.run.as_deref().unwrap())],
            "step": [encode(step)],
            "template": [encode(step)],
        });
        let mut kinds = vec!["Delivery"];
        if opens(i) {
            kinds.push("Open");
        }
        for kind in kinds {
            notifications += 1;
            let record = json!({ "Records": [ { "Sns": {
                "MessageId": format!("{contact}-{step}-{kind}"),
                "Message": { "mail": { "tags": tags }, "eventType": kind, "open": {}, "delivery": {} },
            } } ] });
            handler.handle(&record, now).await.unwrap();
            *invocations.entry("feedback").or_default() += 1;
        }
    }
    notifications
}

#[tokio::test]
async fn the_reference_flow_costs_what_the_readme_says() {
    let moto = Moto::start();
    let meter = Meter::default();
    let settings = QueueSettings {
        visibility_timeout: 30,
        max_receive_count: 5,
    };
    let plain = aws_smithy_http_client::Builder::new().build_http();
    let (aws, names) = stack_through(&moto, meter.client(plain), settings).await;
    // Reads for the test itself go around the meter.
    let inspect = Aws::new(&moto.config().await, names, store_key());
    for (method, path, kind, body) in [
        ("PUT", "/v1/definitions", "application/yaml", DEFINITIONS),
        ("PUT", "/v1/workflows/reference", "application/yaml", FLOW),
    ] {
        let (status, answer) = call(&aws, method, path, kind, body).await;
        assert!(status.is_success(), "{answer}");
    }
    meter.reset();

    let mut invocations = Invocations::new();
    // The wait's own traffic: the sweep, the delay queue, the wake-ups.
    let mut wait = Traffic::new();
    for i in 0..CONTACTS {
        let contact = json!({ "email": format!("c{i}@example.com") }).to_string();
        let (status, _) = call(
            &aws,
            "PUT",
            &format!("/v1/contacts/c{i}"),
            "application/json",
            &contact,
        )
        .await;
        assert!(status.is_success());
        let event = json!({ "id": format!("signup-{i}"), "contact": format!("c{i}"), "event": "signed_up" });
        let (status, _) = call(
            &aws,
            "POST",
            "/v1/events",
            "application/json",
            &event.to_string(),
        )
        .await;
        assert!(status.is_success());
        *invocations.entry("intake").or_default() += 2;
    }
    drain(&aws, Utc::now(), &mut invocations, &meter, &mut wait).await;
    let opened = |i: usize| i % 2 == 0;
    let mut notifications = feedback(
        &aws,
        &inspect,
        "first",
        opened,
        Utc::now(),
        &mut invocations,
    )
    .await;
    drain(&aws, Utc::now(), &mut invocations, &meter, &mut wait).await;
    // Three days later the sweep finds the waits due (it runs every minute; its empty
    // runs are a fixed cost, not the flow's) and the wake-ups follow.
    let later = Utc::now() + Duration::days(3) + Duration::minutes(1);
    let (swept, traffic) = meter.during(Sweep { aws: aws.clone() }.run(later)).await;
    let swept = swept.unwrap();
    absorb(&mut wait, traffic);
    assert_eq!(swept.timers, CONTACTS, "every wait was in the timer index");
    *invocations.entry("sweep").or_default() += 1;
    drain(&aws, later, &mut invocations, &meter, &mut wait).await;
    notifications += feedback(&aws, &inspect, "second", |_| false, later, &mut invocations).await;
    drain(&aws, later, &mut invocations, &meter, &mut wait).await;

    // The flow did what it says: every contact got the first email, the openers the second.
    let emails = moto.sent_emails().await.len();
    assert_eq!(
        emails,
        CONTACTS + CONTACTS / 2,
        "first to all, second to openers"
    );
    for i in 0..CONTACTS {
        let state = inspect.table.load(&format!("c{i}")).await.unwrap().unwrap();
        assert!(state.runs.is_empty(), "c{i}'s run ended");
    }

    // The bill, per contact and per million contacts.
    let n = CONTACTS as f64;
    let usage = meter.usage();
    let mut lines = Vec::new();
    let (mut wru, mut rru, mut dynamodb_usd, mut sqs_usd, mut other_usd) =
        (0.0, 0.0, 0.0, 0.0, 0.0);
    for (
        (service, op),
        Usage {
            requests,
            wru: w,
            rru: r,
        },
    ) in &usage
    {
        let per = *requests as f64 / n;
        let usd = price(service, op, &usage[&(service.clone(), op.clone())]) / n;
        match service.as_str() {
            "dynamodb" => {
                wru += w / n;
                rru += r / n;
                dynamodb_usd += usd;
            }
            "sqs" => sqs_usd += usd,
            _ => {}
        }
        lines.push(format!(
            "{service:>9} {op:<40} {per:>6.2} req {:>6.2} WRU {:>6.2} RRU  ${:>6.2}",
            w / n,
            r / n,
            usd * 1e6
        ));
    }
    let mut by_item = Vec::new();
    for (
        (family, op),
        Usage {
            requests,
            wru: w,
            rru: r,
        },
    ) in meter.by_item()
    {
        by_item.push(format!(
            "{family:>16} {op:<17} {:>6.2} req {:>6.2} WRU {:>6.2} RRU",
            requests as f64 / n,
            w / n,
            r / n
        ));
    }
    let lambda: u64 = invocations.values().sum();
    let lambda_usd = invocations
        .iter()
        .map(|(function, count)| {
            *count as f64 / n * (PER_LAMBDA_REQUEST + per_invocation_duration(function))
        })
        .sum::<f64>();
    let sns_usd = notifications as f64 / n * PER_SNS_PUBLISH;
    other_usd += lambda_usd + sns_usd;
    let total = dynamodb_usd + sqs_usd + other_usd;
    // The wait's share: its timer put in the index (by the evaluation that reached the
    // wait), the sweep that moves it to the delay queue, the delay queue, the wake-up —
    // the same requests whatever the wait's length past the delay queue's 15 minutes
    // (shorter waits skip the index and the sweep).
    let timer_puts = meter
        .by_item()
        .get(&("T/due".to_string(), "PutItem".to_string()))
        .map_or(0.0, |u| u.wru * PER_WRU);
    let wait_usd = (wait
        .iter()
        .map(|((service, op), usage)| price(service, op, usage))
        .sum::<f64>()
        + timer_puts
        + ["wakeup", "sweep"]
            .iter()
            .map(|f| {
                invocations.get(f).copied().unwrap_or(0) as f64
                    * (PER_LAMBDA_REQUEST + per_invocation_duration(f))
            })
            .sum::<f64>())
        / n;
    println!("cost model: the reference flow for {CONTACTS} contacts, per contact (USD per million contacts)");
    for line in &lines {
        println!("{line}");
    }
    println!(
        "   lambda {invocations:?}: {:.2} invocations per contact  ${:.2}",
        lambda as f64 / n,
        lambda_usd * 1e6
    );
    println!(
        "      sns SES events published: {:.2} per contact  ${:.2}",
        notifications as f64 / n,
        sns_usd * 1e6
    );
    println!("DynamoDB by item family (pk/sk prefix), per contact:");
    for line in &by_item {
        println!("{line}");
    }
    let summary = json!({
        "contacts": CONTACTS,
        "wru_per_contact": (wru * 10.0).round() / 10.0,
        "rru_per_contact": (rru * 10.0).round() / 10.0,
        "usd_per_million_contacts": {
            "dynamodb": (dynamodb_usd * 1e7).round() / 10.0,
            "sqs": (sqs_usd * 1e7).round() / 10.0,
            "lambda": (lambda_usd * 1e7).round() / 10.0,
            "sns": (sns_usd * 1e7).round() / 10.0,
            "orchestration": (total * 1e7).round() / 10.0,
            "of_which_the_wait": (wait_usd * 1e7).round() / 10.0,
            "ses_emails_not_orchestration": (emails as f64 / n * PER_EMAIL * 1e7).round() / 10.0,
        },
    });
    println!("{summary}");
    assert!(
        wru <= MAX_WRU,
        "{wru:.1} WRU per contact (ceiling {MAX_WRU})"
    );
    assert!(
        rru <= MAX_RRU,
        "{rru:.1} RRU per contact (ceiling {MAX_RRU})"
    );
    // The catalog is loaded once per function instance (and again after a deploy), not
    // per request: a deployment of fifty workflows is hundreds of KB a load.
    let catalog_loads = meter
        .by_item()
        .get(&("CATALOG/query".to_string(), "Query".to_string()))
        .map_or(0, |usage| usage.requests);
    assert!(
        catalog_loads <= 6,
        "the whole catalog was read {catalog_loads} times for {CONTACTS} contacts"
    );
    assert!(
        wait_usd * 1e6 <= MAX_WAIT_USD_PER_MILLION,
        "the wait costs ${:.2} per million contacts (ceiling {MAX_WAIT_USD_PER_MILLION})",
        wait_usd * 1e6
    );
    assert!(
        total * 1e6 <= MAX_USD_PER_MILLION,
        "${:.1} per million contacts (ceiling {MAX_USD_PER_MILLION})",
        total * 1e6
    );
}
