//! `/v1/contacts/{id}`: create or update (answering with the contact as it will be), read,
//! delete (GDPR), tags, lists and the journal.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use kairos_core::address::EmailAddress;
use kairos_core::delivery::is_e164;
use kairos_core::engine::{Input, Profile};
use kairos_core::ports::{CatalogStore, ContactStore, WorkItem};
use kairos_core::service::accept::{accept, Submission};
use kairos_core::service::contacts::preview;
use kairos_core::service::Ports;
use kairos_core::{Catalog, ContactState};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::answer::Accepted;
use crate::body::{self, contact_id, PathId};
use crate::error::ApiError;
use crate::{App, Now};

/// A contact's profile, all optional: what is given is merged into what is there.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactBody {
    /// The email address.
    #[serde(default)]
    email: Option<String>,
    /// The phone number, E.164 (`+4915112345678`).
    #[serde(default)]
    phone: Option<String>,
    /// An IANA time zone (`Europe/Berlin`), for quiet hours, local times and dates.
    #[serde(default)]
    timezone: Option<String>,
    /// Custom fields (`null` removes one).
    #[serde(default)]
    fields: BTreeMap<String, Value>,
    /// Tags to add.
    #[serde(default)]
    tags: Vec<String>,
    /// Lists to join.
    #[serde(default)]
    lists: Vec<String>,
}

/// A profile change from other sources (a tracking library's `identify`), checked as
/// `PUT /v1/contacts/{id}` checks its body.
pub(crate) fn checked_profile(
    email: Option<String>,
    phone: Option<String>,
    timezone: Option<String>,
    fields: BTreeMap<String, Value>,
) -> Result<Profile, ApiError> {
    let body = ContactBody {
        email,
        phone,
        timezone,
        fields,
        tags: Vec::new(),
        lists: Vec::new(),
    };
    body.profile()
}

impl ContactBody {
    /// The profile change, with every address checked: `fields.email` / `fields.phone`
    /// are the addresses too (the engine's identify reads them so).
    fn profile(&self) -> Result<Profile, ApiError> {
        let timezone = match self.timezone.as_deref() {
            Some(name) => Some(
                kairos_core::calendar::parse_tz(name)
                    .map_err(|e| ApiError::bad_request(e, "timezone"))?,
            ),
            None => None,
        };
        let field = |name: &str| self.fields.get(name).and_then(Value::as_str);
        for (path, email) in [
            ("email", self.email.as_deref()),
            ("fields.email", field("email")),
        ] {
            if let Some(email) = email {
                EmailAddress::parse(email).map_err(|e| ApiError::bad_request(e, path))?;
            }
        }
        for (path, phone) in [
            ("phone", self.phone.as_deref()),
            ("fields.phone", field("phone")),
        ] {
            if let Some(phone) = phone.filter(|p| !is_e164(p)) {
                return Err(ApiError::bad_request(
                    format!(
                        "`{}` is not an E.164 phone number (e.g. +4915100000001)",
                        phone.escape_debug()
                    ),
                    path,
                ));
            }
        }
        Ok(Profile {
            email: self.email.clone(),
            phone: self.phone.clone(),
            timezone,
            fields: self.fields.clone(),
        })
    }
}

/// The contact as the API shows it; `catalog` names the step each run is at.
/// A contact as the API shows it.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ContactView {
    /// Its id.
    id: String,
    /// Its email address.
    email: Option<String>,
    /// Its phone number (E.164).
    phone: Option<String>,
    /// Its time zone.
    timezone: String,
    /// Custom fields.
    fields: BTreeMap<String, Value>,
    /// Tags.
    tags: Vec<String>,
    /// Lists it is on.
    lists: Vec<String>,
    /// Scores now, by name (expired points left out).
    scores: BTreeMap<String, i64>,
    /// What it agreed to and what it withdrew.
    consent: Value,
    /// When it was first seen.
    #[schemars(with = "String")]
    created_at: DateTime<Utc>,
    /// Its active runs.
    runs: Vec<RunView>,
}

/// An active run, as the API shows it.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RunView {
    /// `workflow:n`.
    run: String,
    /// The workflow.
    workflow: String,
    /// The version it runs on.
    version: u32,
    /// The step it is at.
    step: Option<String>,
    /// When it started.
    #[schemars(with = "String")]
    started_at: DateTime<Utc>,
    /// When its wait ends, if it waits for a time.
    #[schemars(with = "Option<String>")]
    waiting_until: Option<DateTime<Utc>>,
}

fn view(state: &ContactState, catalog: &Catalog, now: DateTime<Utc>) -> ContactView {
    let c = &state.contact;
    let runs = state
        .runs
        .values()
        .map(|r| RunView {
            run: r.id(),
            workflow: r.workflow.clone(),
            version: r.version,
            step: catalog
                .get(&r.workflow, r.version)
                .and_then(|w| w.nodes.get(r.at))
                .map(|node| node.id.clone()),
            started_at: r.started_at,
            waiting_until: r.waiting.as_ref().and_then(|w| w.until),
        })
        .collect();
    ContactView {
        id: c.id.clone(),
        email: c.email.clone(),
        phone: c.phone.clone(),
        timezone: c.timezone.name().to_string(),
        fields: c.fields.clone(),
        tags: c.tags.iter().cloned().collect(),
        lists: c.lists.iter().cloned().collect(),
        scores: c
            .scores
            .iter()
            .map(|(k, v)| (k.clone(), v.value_at(now)))
            .collect(),
        consent: json!(c.consent),
        created_at: c.created_at,
        runs,
    }
}

/// Queues the profile, tag and list changes, and answers with the contact as the engine
/// will leave it once they are applied (in order with everything else that happens to
/// the contact).
pub(crate) async fn put<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
    Now(now): Now,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ContactView>, ApiError> {
    contact_id(&id, "id")?;
    let b: ContactBody = body::json(&headers, body).await?;
    let mut inputs = vec![Input::Identify(b.profile()?)];
    if !b.tags.is_empty() {
        inputs.push(Input::Tags {
            add: b.tags,
            remove: vec![],
        });
    }
    if !b.lists.is_empty() {
        inputs.push(Input::Lists {
            join: b.lists,
            leave: vec![],
        });
    }
    let catalog = app.ports.catalog().catalog().await?;
    // A merged profile's changes go to the contact it merged into: preview that one.
    let stored = kairos_core::identity::resolve(app.ports.contacts(), &id).await?;
    let will_be = preview(&catalog, stored, &id, &inputs, now);
    let submissions = inputs.into_iter().map(|input| Submission {
        item: WorkItem {
            contact: id.clone(),
            input,
            at: now,
        },
        dedupe: None,
    });
    accept(&app.ports, submissions).await?;
    Ok(Json(view(&will_be, &catalog, now)))
}

pub(crate) async fn get<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
    Now(now): Now,
) -> Result<Json<ContactView>, ApiError> {
    // A merged profile's id answers with the contact it was merged into.
    let state = kairos_core::identity::resolve(app.ports.contacts(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no contact `{id}`")))?;
    let catalog = app.ports.catalog().catalog().await?;
    Ok(Json(view(&state, &catalog, now)))
}

pub(crate) async fn delete<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
    Now(now): Now,
) -> Result<StatusCode, ApiError> {
    kairos_core::service::contacts::delete(&app.ports, &id, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tags to add and to remove.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TagsBody {
    /// Tags to add.
    #[serde(default)]
    add: Vec<String>,
    /// Tags to remove.
    #[serde(default)]
    remove: Vec<String>,
}

/// Lists to join and to leave.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListsBody {
    /// Lists to join.
    #[serde(default)]
    join: Vec<String>,
    /// Lists to leave.
    #[serde(default)]
    leave: Vec<String>,
}

pub(crate) async fn tags<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
    Now(now): Now,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    contact_id(&id, "id")?;
    let b: TagsBody = body::json(&headers, body).await?;
    let input = Input::Tags {
        add: b.add,
        remove: b.remove,
    };
    accept_one(&app, id, input, now).await
}

pub(crate) async fn lists<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
    Now(now): Now,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    contact_id(&id, "id")?;
    let b: ListsBody = body::json(&headers, body).await?;
    let input = Input::Lists {
        join: b.join,
        leave: b.leave,
    };
    accept_one(&app, id, input, now).await
}

/// Queues one input for a contact, now: `202 {"accepted": 1}`.
async fn accept_one<P: Ports>(
    app: &App<P>,
    contact: String,
    input: Input,
    at: DateTime<Utc>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let item = WorkItem { contact, input, at };
    let accepted = accept(&app.ports, [Submission { item, dedupe: None }]).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted })))
}

/// `?explain=1` (also `true`) adds the story in plain words; `&workflow=W` narrows it.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct JournalQuery {
    #[serde(default)]
    explain: Option<String>,
    #[serde(default)]
    workflow: Option<String>,
}

/// A contact's journal, and with `?explain=1` the same told in words.
#[derive(Serialize, JsonSchema)]
pub(crate) struct JournalView {
    /// The contact.
    contact: String,
    /// One sentence per entry (`?explain=1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    story: Option<Vec<String>>,
    /// What happened to it and why, oldest first: the entries `kairos simulate` prints.
    journal: Vec<Value>,
}

pub(crate) async fn journal<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
    Query(query): Query<JournalQuery>,
) -> Result<Json<JournalView>, ApiError> {
    let journal = app.ports.contacts().journal(&id).await?;
    if journal.is_empty() && app.ports.contacts().load(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no contact `{id}`")));
    }
    let explain = match query.explain.as_deref() {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(other) => {
            let message = format!("`explain` is 1 or 0, not `{}`", other.escape_debug());
            return Err(ApiError::bad_request(message, "explain"));
        }
    };
    let story = explain.then(|| kairos_core::explain::story(&journal, query.workflow.as_deref()));
    Ok(Json(JournalView {
        contact: id,
        story,
        journal: journal.iter().map(|e| json!(e)).collect(),
    }))
}
