//! The benchmarks' scenario: a simulated year through six of the examples' workflows.

use chrono::{DateTime, Duration, Utc};
use kairos_cli::scenario::{Action, Entry, Scenario};
use kairos_core::language::validate::References;
use kairos_core::language::{load_definitions, load_workflow};
use kairos_core::{Catalog, Contact};
use serde_json::Value;

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

/// One thing each contact does: days and hour after its day (`i % 300`), the event, and
/// its properties for contact `i` (`None`: this contact does not do it).
struct Act {
    after: i64,
    hour: i64,
    name: &'static str,
    props: fn(usize) -> Option<Vec<(&'static str, Value)>>,
}

/// Each contact signs up, browses, leaves a cart, buys some of the time (in hour order).
static ACTS: [Act; 5] = [
    Act {
        after: 4,
        hour: 8,
        name: "purchase",
        props: |i| {
            (i % 3 == 0).then(|| vec![("cart_id", (i as i64).into()), ("amount", 45.into())])
        },
    },
    Act {
        after: 0,
        hour: 9,
        name: "signed_up",
        props: |_| Some(Vec::new()),
    },
    Act {
        after: 1,
        hour: 12,
        name: "page_viewed",
        props: |_| Some(vec![("url", "/pricing".into())]),
    },
    Act {
        after: 40,
        hour: 18,
        name: "purchase",
        props: |i| (i % 5 == 0).then(|| vec![("amount", 60.into())]),
    },
    Act {
        after: 3,
        hour: 20,
        name: "cart_updated",
        props: |i| Some(vec![("cart_id", (i as i64).into())]),
    },
];

/// The timeline in time order, made as it is taken (a million contacts' would be gigabytes
/// held at once): day by day, each act at its hour, its contacts in id order.
fn timeline(count: usize, start: DateTime<Utc>) -> impl Iterator<Item = Entry> + Send {
    (0..300 + 40)
        .flat_map(|day: i64| ACTS.iter().map(move |act| (day, act)))
        .flat_map(move |(day, act)| {
            // The contacts whose day is `day - act.after`.
            let first = usize::try_from(day - act.after).ok().filter(|f| *f < 300);
            first
                .into_iter()
                .flat_map(move |first| (first..count).step_by(300))
                .filter_map(move |i| {
                    let props = (act.props)(i)?.into_iter();
                    Some(Entry {
                        at: start + Duration::days(day) + Duration::hours(act.hour),
                        contact: format!("c{i}"),
                        action: Action::Event(
                            act.name.to_string(),
                            props.map(|(k, v)| (k.to_string(), v)).collect(),
                        ),
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
    let mut sink = |_: kairos_core::JournalEntry| entries += 1;
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
