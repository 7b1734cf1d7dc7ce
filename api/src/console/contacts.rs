//! Contacts: search by id or email; one contact's page — its fields, tags, lists, scores,
//! consent, where each active run is and until when, and its timeline told in words
//! (`kairos_core::explain`), newest first.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use kairos_core::identity::resolve;
use kairos_core::model::trace::show as shown;
use kairos_core::ports::{CatalogStore, ContactStore};
use kairos_core::service::Ports;
use serde::Deserialize;

use super::{page, segment};
use crate::body::PathId;
use crate::error::ApiError;
use crate::html::escape;
use crate::{App, Now};

#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
}

fn search_form(q: &str) -> String {
    format!(
        "<form class=\"search\" method=\"get\" action=\"/console/contacts\"><input name=\"q\" value=\"{}\" placeholder=\"contact id or email\" aria-label=\"contact id or email\" autofocus> <button type=\"submit\">Find</button></form>",
        escape(q)
    )
}

pub(crate) async fn search<P: Ports>(
    State(app): State<Arc<App<P>>>,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let q = query.q.trim();
    if q.is_empty() {
        return Ok(page(&app, "Contacts", &search_form("")).into_response());
    }
    if q.len() > 256 || q.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "search for an id or an email address",
            "q",
        ));
    }
    let ids = if q.contains('@') {
        app.ports.contacts().contacts_by_email(q).await?
    } else {
        resolve(app.ports.contacts(), q)
            .await?
            .map(|s| vec![s.contact.id])
            .unwrap_or_default()
    };
    if let [only] = ids.as_slice() {
        return Ok(Redirect::to(&format!("/console/contacts/{}", segment(only))).into_response());
    }
    let found: String = ids
        .iter()
        .map(|id| {
            format!(
                "<li><a href=\"/console/contacts/{}\">{}</a></li>",
                segment(id),
                escape(id)
            )
        })
        .collect();
    let body = if found.is_empty() {
        format!(
            "{}<p class=\"empty\">No contact matches “{}”.</p>",
            search_form(q),
            escape(q)
        )
    } else {
        format!("{}<ul>{found}</ul>", search_form(q))
    };
    Ok(page(&app, "Contacts", &body).into_response())
}

pub(crate) async fn show<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
    Now(now): Now,
) -> Result<Html<String>, ApiError> {
    crate::body::contact_id(&id, "id")?;
    let state = resolve(app.ports.contacts(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no contact `{id}`")))?;
    let catalog = app.ports.catalog().catalog().await?;
    let c = &state.contact;
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "<span class=\"empty\">none</span>".to_string()
        } else {
            items
                .iter()
                .map(|i| escape(i))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut fields: Vec<String> = vec![
        format!("email: {}", c.email.as_deref().unwrap_or("—")),
        format!("phone: {}", c.phone.as_deref().unwrap_or("—")),
        format!("timezone: {}", c.timezone.name()),
    ];
    fields.extend(c.fields.iter().map(|(k, v)| format!("{k}: {}", shown(v))));
    let fields: String = fields
        .iter()
        .map(|f| format!("<li>{}</li>", escape(f)))
        .collect();
    let scores: Vec<String> = c
        .scores
        .iter()
        .map(|(name, s)| format!("{name} {}", s.value_at(now)))
        .collect();
    let mut consent = Vec::new();
    for (on, what) in [
        (c.consent.unsubscribed, "unsubscribed"),
        (c.consent.bounced, "bounced"),
        (c.consent.complained, "complained"),
    ] {
        if on {
            consent.push(what.to_string());
        }
    }
    let runs: String = state
        .runs
        .values()
        .map(|r| {
            let step = catalog
                .get(&r.workflow, r.version)
                .and_then(|w| w.nodes.get(r.at))
                .map_or("?", |n| n.id.as_str());
            let until = r
                .waiting
                .as_ref()
                .map(|w| match w.until {
                    Some(t) => format!("waiting until {}", t.format("%Y-%m-%d %H:%M UTC")),
                    None => "waiting for its condition".to_string(),
                })
                .unwrap_or_default();
            format!(
                "<tr><td><a href=\"/console/workflows/{}#step-{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                segment(&r.workflow),
                escape(step),
                escape(&r.id()),
                escape(step),
                escape(&until)
            )
        })
        .collect();
    let runs = if runs.is_empty() {
        "<p class=\"empty\">In no workflow right now.</p>".to_string()
    } else {
        format!("<table><tr><th>run</th><th>at step</th><th>waiting</th></tr>{runs}</table>")
    };
    let journal = app.ports.contacts().journal(&c.id).await?;
    let story: String = kairos_core::explain::story(&journal, None)
        .iter()
        .rev()
        .map(|line| {
            let (at, what) = line.split_once("  ").unwrap_or(("", line));
            let class = if what.contains("was not sent") || what.contains("did not enter") {
                " class=\"not-sent\""
            } else {
                ""
            };
            format!(
                "<li{class}><time>{}</time>{}</li>",
                escape(at),
                escape(what)
            )
        })
        .collect();
    let merged = if c.id != id {
        format!("<p>{} was merged into this contact.</p>", escape(&id))
    } else {
        String::new()
    };
    let body = format!(
        "{merged}<div class=\"grid\"><div class=\"card\"><h2>Fields</h2><ul>{fields}</ul></div><div class=\"card\"><h2>Tags</h2>{}<h2>Lists</h2>{}</div><div class=\"card\"><h2>Scores</h2>{}<h2>Consent</h2>{}</div></div><h2>Active runs</h2>{runs}<h2>Timeline</h2><ol class=\"timeline\">{story}</ol>",
        list(c.tags.iter().cloned().collect()),
        list(c.lists.iter().cloned().collect()),
        list(scores),
        if consent.is_empty() { "subscribed".to_string() } else { consent.join(", ") },
    );
    Ok(page(&app, &c.id, &body))
}
