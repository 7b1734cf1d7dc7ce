//! The benchmarks' scenario: a simulated year through six of the examples' workflows.

use chrono::{DateTime, Duration, Utc};
use kairos_cli::scenario::{Action, Entry, Scenario};
use kairos_core::language::validate::References;
use kairos_core::language::{load_definitions, load_workflow};
use kairos_core::{Catalog, Contact};
use serde_json::{Map, Value};

fn example(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../examples/{path}", env!("CARGO_MANIFEST_DIR")))
        .expect("example file")
}

/// A year of `contacts` contacts: each signs up, browses, leaves a cart, buys some of
/// the time, in six workflows (welcome, engagement tagging, abandoned cart, lead scoring,
/// birthday).
pub fn scenario(count: usize) -> Scenario {
    let defs =
        load_definitions("definitions.yaml", &example("definitions.yaml")).expect("definitions");
    let mut catalog = Catalog::new(defs.clone());
    let files = [
        "welcome-series/workflow.yaml",
        "engagement-tagging/part-1.yaml",
        "engagement-tagging/part-2.yaml",
        "abandoned-cart/workflow.yaml",
        "lead-scoring/workflow.yaml",
        "lead-scoring/birthday.yaml",
    ];
    let known = [
        "engagement-tagging".to_string(),
        "engagement-return".to_string(),
    ]
    .into();
    for file in files {
        let refs = References {
            definitions: Some(&defs),
            workflows: Some(&known),
        };
        catalog
            .deploy(load_workflow(file, &example(file), refs).expect("workflow"))
            .expect("deploy");
    }
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("start");
    let mut contacts = Vec::new();
    let mut timeline = Vec::new();
    let event = |name: &str, pairs: &[(&str, Value)]| {
        let props: Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Action::Event(name.to_string(), props)
    };
    for i in 0..count {
        let id = format!("c{i}");
        let mut contact = Contact::new(id.clone(), start);
        contact.email = Some(format!("{id}@example.com"));
        contact.phone = Some(format!("+1415555{:04}", i % 10_000));
        contact.timezone = if i % 2 == 0 {
            chrono_tz::Europe::Berlin
        } else {
            chrono_tz::America::New_York
        };
        contact.fields.insert(
            "birthday".into(),
            Value::from(format!("1990-{:02}-{:02}", i % 12 + 1, i % 28 + 1)),
        );
        contacts.push(contact);
        // Each contact: signs up, browses, leaves a cart, buys some of the time.
        let day = (i % 300) as i64;
        let at = |d: i64, h: i64| start + Duration::days(d) + Duration::hours(h);
        timeline.push(Entry {
            at: at(day, 9),
            contact: id.clone(),
            action: event("signed_up", &[]),
        });
        timeline.push(Entry {
            at: at(day + 1, 12),
            contact: id.clone(),
            action: event("page_viewed", &[("url", "/pricing".into())]),
        });
        timeline.push(Entry {
            at: at(day + 3, 20),
            contact: id.clone(),
            action: event("cart_updated", &[("cart_id", (i as i64).into())]),
        });
        if i % 3 == 0 {
            timeline.push(Entry {
                at: at(day + 4, 8),
                contact: id.clone(),
                action: event(
                    "purchase",
                    &[("cart_id", (i as i64).into()), ("amount", 45.into())],
                ),
            });
        }
        if i % 5 == 0 {
            timeline.push(Entry {
                at: at(day + 40, 18),
                contact: id.clone(),
                action: event("purchase", &[("amount", 60.into())]),
            });
        }
    }
    timeline.sort_by_key(|e| e.at);
    Scenario {
        start,
        end: start + Duration::days(365),
        catalog,
        contacts,
        timeline,
    }
}

/// Runs `scenario` on the simulator, counting its journal entries (not printing them).
pub fn simulate(scenario: Scenario) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut entries = 0usize;
    let mut sink = |_: &kairos_core::JournalEntry| entries += 1;
    runtime
        .block_on(kairos_cli::simulate::run(
            scenario,
            &mut kairos_cli::simulate::Virtual,
            &mut sink,
            &mut |_| {},
        ))
        .expect("simulation");
    entries
}
