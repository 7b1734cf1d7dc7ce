//! Scenario files (`simulation.md`): a start, an end, workflows, definitions, contacts and
//! a timeline. Loading checks everything before the clock starts, so a broken scenario
//! fails with its file, path and line and never prints a partial journal.
//!
//! One file for one format: the document types and the checks that turn them into a
//! runnable scenario share every path and line they report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use kairos_core::calendar::{parse_timestamp, parse_tz};
use kairos_core::language::definitions::Definitions;
use kairos_core::language::load_workflow;
use kairos_core::language::parse::parse_document;
use kairos_core::language::validate::References;
use kairos_core::language::workflow::WorkflowDoc;
use kairos_core::{Catalog, Contact, Diagnostic, Duration};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

/// A simulation scenario: workflows against a scripted timeline on a virtual clock.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScenarioDoc {
    /// Virtual time zero, RFC 3339 (default 2026-01-01T00:00:00Z).
    #[serde(default)]
    start: Option<String>,
    /// When the clock stops, after `start` (e.g. `14d`).
    until: Duration,
    /// The workflows: paths relative to this file, or inline workflow maps.
    workflows: Vec<Value>,
    /// The definitions: a path relative to this file, or an inline map.
    #[serde(default)]
    definitions: Option<Value>,
    /// Contacts that exist from time zero.
    #[serde(default)]
    contacts: Vec<ContactDoc>,
    /// What happens, and when.
    #[serde(default)]
    timeline: Vec<EntryDoc>,
}

/// A contact that exists from time zero.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ContactDoc {
    /// The contact's id.
    id: String,
    /// Its email address.
    #[serde(default)]
    email: Option<String>,
    /// Its phone number, E.164 (`+4915100000001`).
    #[serde(default)]
    phone: Option<String>,
    /// Its IANA timezone (default UTC).
    #[serde(default)]
    timezone: Option<String>,
    /// Contact fields.
    #[serde(default)]
    fields: BTreeMap<String, Value>,
    /// Tags it has.
    #[serde(default)]
    tags: Vec<String>,
    /// Lists it is in.
    #[serde(default)]
    lists: Vec<String>,
}

/// One timeline entry: when, whose, and exactly one action.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EntryDoc {
    /// When, after `start` (e.g. `2d3h`).
    at: Duration,
    /// Whose: a listed contact, or one an earlier `identify` or `alias` introduced (none
    /// for a `business_event`).
    #[serde(default)]
    contact: String,
    /// The contact does this event.
    #[serde(default)]
    event: Option<String>,
    /// An event about the business (a price change, a restock), tied to no contact: it
    /// fires the broadcasts `on` it.
    #[serde(default)]
    business_event: Option<String>,
    /// The event's properties (with `event` or `business_event`).
    #[serde(default)]
    props: Option<Map<String, Value>>,
    /// A tag is added.
    #[serde(default)]
    tag_added: Option<String>,
    /// A tag is removed.
    #[serde(default)]
    tag_removed: Option<String>,
    /// The contact joins a list.
    #[serde(default)]
    list_joined: Option<String>,
    /// The contact leaves a list.
    #[serde(default)]
    list_left: Option<String>,
    /// Fields are set (`null` removes one).
    #[serde(default)]
    set: Option<BTreeMap<String, Value>>,
    /// The contact is identified (and may merge: `user_id`, or an email another contact had first).
    #[serde(default)]
    identify: Option<IdentifyDoc>,
    /// Another profile merges into this contact.
    #[serde(default)]
    alias: Option<AliasDoc>,
    /// The contact opens the last email the engine sent it.
    #[serde(default)]
    email_opened_last: Option<bool>,
    /// The contact clicks in the last email the engine sent it.
    #[serde(default)]
    email_clicked_last: Option<bool>,
    /// The contact unsubscribes.
    #[serde(default)]
    unsubscribe: Option<bool>,
    /// An email to the contact bounces: `hard` or `soft`.
    #[serde(default)]
    bounce: Option<String>,
    /// The contact marks an email as spam.
    #[serde(default)]
    complaint: Option<bool>,
}

/// `identify:` in a timeline entry.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IdentifyDoc {
    /// The known id an anonymous contact identifies as: the profile merges into it.
    #[serde(default)]
    user_id: Option<String>,
    /// The email address.
    #[serde(default)]
    email: Option<String>,
    /// The phone number, E.164.
    #[serde(default)]
    phone: Option<String>,
    /// The IANA timezone.
    #[serde(default)]
    timezone: Option<String>,
    /// Fields to set.
    #[serde(default)]
    fields: BTreeMap<String, Value>,
}

/// `alias:` in a timeline entry.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AliasDoc {
    /// The profile that merges into the entry's contact.
    previous_id: String,
}

/// What happens at one point of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Event(String, Map<String, Value>),
    /// A business event (no contact): it fires the broadcasts `on` it.
    BusinessEvent(String, Map<String, Value>),
    Tags {
        add: Vec<String>,
        remove: Vec<String>,
    },
    Lists {
        join: Vec<String>,
        leave: Vec<String>,
    },
    /// A profile change; with `user_id`, the contact (anonymous so far) identifies as that
    /// known id and merges into it.
    Identify {
        profile: kairos_core::Profile,
        user_id: Option<String>,
    },
    /// The profile `previous_id` merges into the entry's contact.
    Alias {
        previous_id: String,
    },
    /// The contact opens (`false`: clicks) the last email the engine sent it.
    OpensLastEmail {
        click: bool,
    },
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub contact: String,
    pub action: Action,
}

/// The JSON Schema of scenario files.
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(ScenarioDoc)
}

/// A loaded, checked scenario.
pub struct Scenario {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub catalog: Catalog,
    /// Taken one at a time: a file's list, or a generator's (a bench's million contacts
    /// are never all in memory at once).
    pub contacts: Box<dyn Iterator<Item = Contact> + Send>,
    /// In time order (entries at the same time in their written order), likewise.
    pub timeline: Box<dyn Iterator<Item = Entry> + Send>,
}

pub fn load(path: &Path) -> Result<Scenario, Vec<Diagnostic>> {
    let file = path.display().to_string();
    let text = crate::project::read(path).map_err(|d| vec![d])?;
    let doc: ScenarioDoc = parse_document(&file, &text).map_err(|d| vec![d])?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut errors = Vec::new();
    let mut error = |p: String, m: String| errors.push(Diagnostic::error(&file, p, m));

    let start = match doc.start.as_deref().map(parse_timestamp) {
        None => DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap_or_default(), // 2026-01-01T00:00:00Z
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            error("start".into(), e);
            Utc::now()
        }
    };
    let end = start + doc.until.to_chrono();
    if doc.until.seconds() == 0 {
        error(
            "until".into(),
            "the simulation needs a length greater than 0s".into(),
        );
    }

    let definitions = match &doc.definitions {
        None => None,
        Some(Value::String(rel)) => {
            let p = base.join(rel);
            match crate::project::definitions(&p) {
                Ok(d) => Some(d),
                Err(mut d) => {
                    errors.append(&mut d);
                    None
                }
            }
        }
        Some(inline @ Value::Object(_)) => {
            match kairos_core::language::parse::from_value::<Definitions>(inline.clone()) {
                Ok(d) => Some(d),
                Err(e) => {
                    errors.push(Diagnostic::error(&file, "definitions", e));
                    None
                }
            }
        }
        Some(other) => {
            errors.push(Diagnostic::error(
                &file,
                "definitions",
                format!("expected a file path or a map, not {other}"),
            ));
            None
        }
    };

    // Workflow sources: (name for messages, text).
    let mut sources: Vec<(String, String)> = Vec::new();
    for (i, w) in doc.workflows.iter().enumerate() {
        match w {
            Value::String(rel) => {
                let p: PathBuf = base.join(rel);
                match crate::project::read(&p) {
                    Ok(t) => sources.push((p.display().to_string(), t)),
                    Err(d) => errors.push(Diagnostic::error(
                        &file,
                        format!("workflows[{i}]"),
                        format!("{}: {}", d.file, d.message),
                    )),
                }
            }
            Value::Object(_) => sources.push((
                format!("{file}#workflows[{i}]"),
                serde_json::to_string_pretty(w).unwrap_or_default(),
            )),
            other => errors.push(Diagnostic::error(
                &file,
                format!("workflows[{i}]"),
                format!("expected a file path or a workflow map, not {other}"),
            )),
        }
    }
    let known: BTreeSet<String> = sources
        .iter()
        .filter_map(|(n, t)| parse_document::<WorkflowDoc>(&json_name(n), t).ok())
        .map(|d| d.id)
        .collect();
    let refs = References {
        definitions: definitions.as_ref(),
        workflows: Some(&known),
    };
    let mut catalog = Catalog::new(definitions.clone().unwrap_or_default());
    for (i, (name, text)) in sources.iter().enumerate() {
        let listed_at = format!("workflows[{i}]");
        match load_workflow(&json_name(name), text, refs) {
            Ok(wf) => {
                if catalog.latest(&wf.id).is_some() {
                    errors.push(Diagnostic::error(
                        &file,
                        listed_at,
                        format!("workflow `{}` is listed twice", wf.id),
                    ));
                } else if let Err(e) = catalog.deploy(wf) {
                    errors.push(Diagnostic::error(name, "migrate", e));
                }
            }
            // An inline workflow's errors point into the scenario itself.
            Err(found) if is_inline(name) => errors.extend(found.into_iter().map(|d| {
                let path = if d.path.is_empty() {
                    listed_at.clone()
                } else {
                    format!("{listed_at}.{}", d.path)
                };
                Diagnostic {
                    file: file.clone(),
                    path,
                    line: None,
                    ..d
                }
            })),
            Err(mut found) => errors.append(&mut found),
        }
    }

    let mut error = |p: String, m: String| errors.push(Diagnostic::error(&file, p, m));
    let mut contacts = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, c) in doc.contacts.into_iter().enumerate() {
        if c.id.trim().is_empty() {
            error(
                format!("contacts[{i}].id"),
                "a contact id cannot be empty".into(),
            );
        }
        if !ids.insert(c.id.clone()) {
            error(
                format!("contacts[{i}].id"),
                format!("contact `{}` is listed twice", c.id),
            );
        }
        let mut contact = Contact::new(c.id, start);
        contact.email = c.email;
        contact.phone = c.phone;
        if let Some(tz) = c.timezone.as_deref() {
            match parse_tz(tz) {
                Ok(tz) => contact.timezone = tz,
                Err(e) => error(format!("contacts[{i}].timezone"), e),
            }
        }
        contact.fields = c.fields;
        contact.tags = c.tags.into_iter().collect();
        contact.lists = c.lists.into_iter().collect();
        contacts.push(contact);
    }

    let mut timeline = Vec::new();
    // A contact exists if listed, or once an `identify` entry introduces it — in time
    // order, as the simulation runs (equal times in written order); any other entry for a
    // contact not there yet is almost always a typo.
    let mut introduced: BTreeMap<&str, (kairos_core::Duration, usize)> = BTreeMap::new();
    for (i, e) in doc.timeline.iter().enumerate() {
        let user_id = e.identify.as_ref().and_then(|id| id.user_id.as_deref());
        let introduces = (e.identify.is_some() || e.alias.is_some()).then_some(e.contact.as_str());
        for contact in introduces.into_iter().chain(user_id) {
            let first = introduced.entry(contact).or_insert((e.at, i));
            *first = (*first).min((e.at, i));
        }
    }
    let exists = |contact: &str, at: kairos_core::Duration, i: usize| {
        ids.contains(contact)
            || introduced
                .get(contact)
                .is_some_and(|first| *first < (at, i))
    };
    let unknown: Vec<(usize, String)> = doc
        .timeline
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            e.identify.is_none()
                && e.alias.is_none()
                && e.business_event.is_none()
                && !exists(&e.contact, e.at, *i)
        })
        .map(|(i, e)| (i, e.contact.clone()))
        .collect();
    for (i, contact) in unknown {
        error(
            format!("timeline[{i}].contact"),
            format!("unknown contact `{contact}` at this time: list it under `contacts`, or introduce it with an earlier `identify` or `alias` entry"),
        );
    }
    for (i, e) in doc.timeline.into_iter().enumerate() {
        let path = format!("timeline[{i}]");
        if e.at > doc.until {
            error(
                format!("{path}.at"),
                format!(
                    "{} is after the end of the simulation ({})",
                    e.at, doc.until
                ),
            );
        }
        match (&e.business_event, e.contact.trim().is_empty()) {
            (None, true) => error(format!("{path}.contact"), "name the contact".into()),
            (Some(_), false) => error(
                format!("{path}.contact"),
                "a business event is about no contact: leave `contact` out".into(),
            ),
            _ => {}
        }
        match action(&e) {
            Ok(action) => timeline.push(Entry {
                at: start + e.at.to_chrono(),
                contact: e.contact,
                action,
            }),
            Err((key, message)) => error(
                if key.is_empty() {
                    path
                } else {
                    format!("{path}.{key}")
                },
                message,
            ),
        }
    }
    // Entries at the same time keep their written order.
    timeline.sort_by_key(|e| e.at);

    if errors.is_empty() {
        Ok(Scenario {
            start,
            end,
            catalog,
            contacts: Box::new(contacts.into_iter()),
            timeline: Box::new(timeline.into_iter()),
        })
    } else {
        // Lines come from the scenario's text only for the scenario's own diagnostics.
        let (own, others): (Vec<_>, Vec<_>) = errors.into_iter().partition(|d| d.file == file);
        let mut all = kairos_core::language::with_lines(own, &text);
        all.extend(others);
        Err(all)
    }
}

fn is_inline(name: &str) -> bool {
    name.contains("#workflows[")
}

/// Inline workflows are handed to the parser as JSON text.
fn json_name(name: &str) -> String {
    if is_inline(name) {
        format!("{name}.json")
    } else {
        name.to_string()
    }
}

fn tz(text: &Option<String>) -> Result<Option<Tz>, (&'static str, String)> {
    text.as_deref()
        .map(parse_tz)
        .transpose()
        .map_err(|e| ("identify.timezone", e))
}

fn action(e: &EntryDoc) -> Result<Action, (&'static str, String)> {
    let mut found: Vec<Action> = Vec::new();
    let mut names = Vec::new();
    if let Some(name) = &e.event {
        found.push(Action::Event(
            name.clone(),
            e.props.clone().unwrap_or_default(),
        ));
        names.push("event");
    } else if let Some(name) = &e.business_event {
        found.push(Action::BusinessEvent(
            name.clone(),
            e.props.clone().unwrap_or_default(),
        ));
        names.push("business_event");
    } else if e.props.is_some() {
        return Err((
            "props",
            "`props` belongs to an `event` or `business_event` entry".into(),
        ));
    }
    let mut simple = |on: bool, name: &'static str, a: Action| {
        if on {
            found.push(a);
            names.push(name);
        }
    };
    if let Some(t) = &e.tag_added {
        simple(
            true,
            "tag_added",
            Action::Tags {
                add: vec![t.clone()],
                remove: vec![],
            },
        );
    }
    if let Some(t) = &e.tag_removed {
        simple(
            true,
            "tag_removed",
            Action::Tags {
                add: vec![],
                remove: vec![t.clone()],
            },
        );
    }
    if let Some(l) = &e.list_joined {
        simple(
            true,
            "list_joined",
            Action::Lists {
                join: vec![l.clone()],
                leave: vec![],
            },
        );
    }
    if let Some(l) = &e.list_left {
        simple(
            true,
            "list_left",
            Action::Lists {
                join: vec![],
                leave: vec![l.clone()],
            },
        );
    }
    if let Some(fields) = &e.set {
        simple(
            true,
            "set",
            Action::Identify {
                profile: kairos_core::Profile {
                    fields: fields.clone(),
                    ..Default::default()
                },
                user_id: None,
            },
        );
    }
    if let Some(id) = &e.identify {
        let profile = kairos_core::Profile {
            email: id.email.clone(),
            phone: id.phone.clone(),
            timezone: tz(&id.timezone)?,
            fields: id.fields.clone(),
        };
        let user_id = id.user_id.clone();
        simple(true, "identify", Action::Identify { profile, user_id });
    }
    if let Some(alias) = &e.alias {
        let previous_id = alias.previous_id.clone();
        simple(true, "alias", Action::Alias { previous_id });
    }
    simple(
        e.email_opened_last == Some(true),
        "email_opened_last",
        Action::OpensLastEmail { click: false },
    );
    simple(
        e.email_clicked_last == Some(true),
        "email_clicked_last",
        Action::OpensLastEmail { click: true },
    );
    simple(
        e.unsubscribe == Some(true),
        "unsubscribe",
        Action::Event("unsubscribed".into(), Map::new()),
    );
    simple(
        e.complaint == Some(true),
        "complaint",
        Action::Event("email_complained".into(), Map::new()),
    );
    if let Some(kind) = &e.bounce {
        if kind != "hard" && kind != "soft" {
            return Err((
                "bounce",
                format!("`bounce` is `hard` or `soft`, not `{kind}`"),
            ));
        }
        let mut props = Map::new();
        props.insert("bounce".into(), Value::String(kind.clone()));
        simple(true, "bounce", Action::Event("email_bounced".into(), props));
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(("", "a timeline entry needs one action: event, tag_added, tag_removed, list_joined, list_left, set, identify, alias, email_opened_last, email_clicked_last, unsubscribe, bounce or complaint".into())),
        _ => Err(("", format!("a timeline entry has one action; found {}", names.join(", ")))),
    }
}
