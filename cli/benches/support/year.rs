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
    Scenario {
        start,
        end: start + Duration::days(365),
        catalog,
        contacts: Box::new((0..count).map(move |i| contact(i, start))),
        timeline: Box::new(timeline(count, start)),
    }
}

fn contact(i: usize, start: DateTime<Utc>) -> Contact {
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
    contact
}

/// What each contact does, days and hours after its day (`i % 300`): signs up, browses,
/// leaves a cart, buys some of the time.
const ACTS: [(i64, i64, &str); 5] = [
    (4, 8, "purchase"),
    (0, 9, "signed_up"),
    (1, 12, "page_viewed"),
    (40, 18, "purchase"),
    (3, 20, "cart_updated"),
];

/// The timeline in time order, made as it is taken (a million contacts' would be gigabytes
/// held at once): day by day, each act at its hour, its contacts in id order.
fn timeline(count: usize, start: DateTime<Utc>) -> impl Iterator<Item = Entry> + Send {
    (0..300 + 40).flat_map(move |day: i64| {
        ACTS.iter().flat_map(move |&(after, hour, name)| {
            let first = day - after;
            let contacts = (0..300).contains(&first).then_some(first as usize);
            contacts.into_iter().flat_map(move |first| {
                (first..count).step_by(300).filter_map(move |i| {
                    let props: Map<String, Value> = match (after, name) {
                        (4, _) if i % 3 == 0 => {
                            [("cart_id", Value::from(i as i64)), ("amount", 45.into())]
                                .into_iter()
                                .map(|(k, v)| (k.to_string(), v))
                                .collect()
                        }
                        (4, _) => return None,
                        (40, _) if i % 5 == 0 => [("amount".to_string(), Value::from(60))]
                            .into_iter()
                            .collect(),
                        (40, _) => return None,
                        (1, _) => [("url".to_string(), Value::from("/pricing"))]
                            .into_iter()
                            .collect(),
                        (3, _) => [("cart_id".to_string(), Value::from(i as i64))]
                            .into_iter()
                            .collect(),
                        _ => Map::new(),
                    };
                    Some(Entry {
                        at: start + Duration::days(day) + Duration::hours(hour),
                        contact: format!("c{i}"),
                        action: Action::Event(name.to_string(), props),
                    })
                })
            })
        })
    })
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
