//! A small world for engine tests: one contact, a catalog, a virtual clock, and timers
//! fired in due order — the same loop the simulator runs, without the queues.
#![allow(dead_code)]

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use kairos_core::language::validate::References;
use kairos_core::language::{load_definitions, load_workflow};
use kairos_core::{
    process, Catalog, Contact, ContactState, Effect, Event, Input, JournalEntry, Kind, Timer,
};
use serde_json::Value;

pub fn t0() -> DateTime<Utc> {
    "2026-01-05T08:00:00Z".parse().unwrap()
}

pub fn catalog(workflows: &[&str], definitions: Option<&str>) -> Catalog {
    let defs = definitions
        .map(|d| load_definitions("definitions.yaml", d).unwrap_or_else(|e| panic!("{e:?}")))
        .unwrap_or_default();
    let mut catalog = Catalog::new(defs.clone());
    for (i, text) in workflows.iter().enumerate() {
        let refs = References {
            definitions: definitions.map(|_| &defs),
            workflows: None,
        };
        let wf =
            load_workflow(&format!("wf{i}.yaml"), text, refs).unwrap_or_else(|e| panic!("{e:?}"));
        catalog.deploy(wf).unwrap();
    }
    catalog
}

pub struct World {
    pub catalog: Catalog,
    pub state: ContactState,
    pub now: DateTime<Utc>,
    pub journal: Vec<JournalEntry>,
    pub effects: Vec<Effect>,
    pub timers: BTreeSet<Timer>,
}

impl World {
    pub fn new(workflows: &[&str]) -> World {
        World::with(catalog(workflows, None))
    }

    pub fn with_definitions(workflows: &[&str], definitions: &str) -> World {
        World::with(catalog(workflows, Some(definitions)))
    }

    pub fn with(catalog: Catalog) -> World {
        let contact = Contact::new("c1", t0());
        World {
            catalog,
            state: ContactState::new(contact),
            now: t0(),
            journal: Vec::new(),
            effects: Vec::new(),
            timers: BTreeSet::new(),
        }
    }

    pub fn input(&mut self, input: Input) {
        let out = process(&self.catalog, &mut self.state, input, self.now);
        self.journal.extend(out.journal);
        for effect in out.effects {
            if let Effect::Timer(t) = &effect {
                self.timers.insert(t.clone());
            }
            self.effects.push(effect);
        }
    }

    pub fn event(&mut self, name: &str, props: Value) {
        let mut event = Event::new(name, self.now);
        if let Value::Object(map) = props {
            event.props = map;
        }
        self.input(Input::Event(event));
    }

    pub fn tag(&mut self, tag: &str) {
        self.input(Input::Tags {
            add: vec![tag.into()],
            remove: vec![],
        });
    }

    pub fn untag(&mut self, tag: &str) {
        self.input(Input::Tags {
            add: vec![],
            remove: vec![tag.into()],
        });
    }

    /// Moves the clock forward by `d`, firing every due timer at its own time.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.timers.first().cloned().filter(|t| t.due <= end) {
            self.timers.remove(&t);
            self.now = self.now.max(t.due);
            self.input(Input::Timer(t));
        }
        self.now = end;
    }

    pub fn days(&mut self, n: i64) {
        self.advance(Duration::days(n));
    }

    /// The journal as short lines: `kind step` plus the detail that matters.
    pub fn lines(&self) -> Vec<String> {
        self.journal.iter().map(line).collect()
    }

    /// Lines of the given kinds only.
    pub fn only(&self, kinds: &[Kind]) -> Vec<String> {
        self.journal
            .iter()
            .filter(|e| kinds.contains(&e.kind))
            .map(line)
            .collect()
    }

    pub fn sends(&self) -> Vec<String> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(m) => Some(format!("{} {}", m.step, m.template)),
                _ => None,
            })
            .collect()
    }

    pub fn clear(&mut self) {
        self.journal.clear();
        self.effects.clear();
    }

    pub fn runs(&self) -> Vec<String> {
        self.state.runs.values().map(|r| r.id()).collect()
    }
}

pub fn line(e: &JournalEntry) -> String {
    let kind = serde_json::to_value(e.kind)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    let mut parts = vec![kind];
    if let Some(step) = &e.step {
        parts.push(step.clone());
    } else if let Some(wf) = &e.workflow {
        parts.push(wf.clone());
    }
    for extra in [&e.branch, &e.reason, &e.tag, &e.list, &e.field]
        .into_iter()
        .flatten()
    {
        parts.push(extra.clone());
    }
    if let Some(score) = e.score {
        parts.push(score.to_string());
    }
    if let Some(until) = e.until {
        parts.push(until.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    }
    parts.join(" ")
}

/// Runs a future of the in-memory ports, which are never pending.
pub fn ready<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    match std::pin::pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an in-memory port should never be pending"),
    }
}
