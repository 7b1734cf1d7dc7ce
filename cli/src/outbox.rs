//! The local outbox of `kairos serve`: every rendered message (HTML and text) at
//! `/outbox`, with tracked links — viewing a message loads an open pixel and its links go
//! through a redirect — so opening or clicking records `email_opened` / `email_clicked`
//! exactly as SES feedback does on AWS.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use kairos_api::html::{escape, url_component};
use kairos_api::session::Sessions;
use kairos_core::engine::Input;
use kairos_core::ports::WorkQueue;
use kairos_core::ports::{Outgoing, WorkItem};
use serde::Deserialize;

use crate::embedded::Embedded;

/// The outbox pages behind a session (they show recipients, bodies and unsubscribe
/// tokens); `/login` and `/logout` are the API router's. The open pixel and the click
/// redirect are what a recipient's mail client reaches, as on a real mail service: no
/// session, and a redirect only to a link that is in the message.
pub fn router(embedded: Arc<Embedded>, api_key: String) -> Router {
    let sessions = Sessions::new(&api_key);
    let pages = Router::new()
        .route("/outbox", get(list))
        .route("/outbox/{id}", get(show))
        .with_state(embedded.clone());
    let tracking = Router::new()
        .route("/outbox/{id}/open", get(open))
        .route("/outbox/{id}/click", get(click))
        .with_state(embedded);
    sessions.protect(pages).merge(tracking)
}

async fn list(State(e): State<Arc<Embedded>>) -> Response {
    let Ok(messages) = e.store.outbox() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let rows: String = messages
        .iter()
        .rev()
        .map(|(id, o)| {
            let m = &o.message;
            format!(
                "<tr><td><a href=\"/outbox/{id}\">{}</a></td><td>{}</td><td>{}</td><td>{}/{}</td></tr>",
                escape(o.subject.as_deref().unwrap_or("(no subject)")),
                escape(&o.to),
                m.channel.as_str(),
                escape(&m.workflow),
                escape(&m.step)
            )
        })
        .collect();
    Html(format!("<!doctype html><meta charset=\"utf-8\"><title>Outbox</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/console/style.css\"><main><h1>Outbox</h1><p><a href=\"/console\">← Console</a></p><table><tr><th>subject</th><th>to</th><th>channel</th><th>workflow/step</th></tr>{rows}</table>")).into_response()
}

/// The HTML with every `href="http…"` sent through the click redirect.
fn tracked(html: &str, id: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(pos) = rest.find("href=\"") {
        let (before, after) = rest.split_at(pos + 6);
        out.push_str(before);
        let end = after.find('"').unwrap_or(after.len());
        let url = &after[..end];
        if url.starts_with("http://") || url.starts_with("https://") {
            out.push_str(&format!("/outbox/{id}/click?u={}", url_component(url)));
        } else {
            out.push_str(url);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

async fn show(State(e): State<Arc<Embedded>>, Path(id): Path<String>) -> Response {
    let Ok(Some(o)) = e.store.outbox_message(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Both parts, as a mail client would offer them: the HTML (links tracked), then text.
    // The HTML in a sandboxed frame (no script, an origin of its own): a message rendered
    // from contact data must not run in the console's origin.
    let html = o.html.as_deref().map_or(String::new(), |h| {
        format!(
            "<iframe sandbox title=\"HTML part\" style=\"width:100%;min-height:24em;border:1px solid #d9dee7\" srcdoc=\"{}\"></iframe>",
            escape(&tracked(h, &id))
        )
    });
    let text = o.text.as_deref().map_or(String::new(), |t| {
        format!(
            "<h2 style=\"font:600 1em sans-serif\">Text part</h2><pre>{}</pre>",
            escape(t)
        )
    });
    let body = format!("{html}{text}");
    let unsubscribe = o
        .unsubscribe_url
        .as_deref()
        .map(|u| {
            format!(
                "<p>List-Unsubscribe: <a href=\"{0}\">{0}</a></p>",
                escape(u)
            )
        })
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><meta charset=\"utf-8\"><title>{subject}</title><link rel=\"icon\" href=\"data:,\"><p>To: {to}<br>Subject: {subject}</p>{unsubscribe}<hr>{body}<img src=\"/outbox/{id}/open\" width=\"1\" height=\"1\" alt=\"\">",
        subject = escape(o.subject.as_deref().unwrap_or("")),
        to = escape(&o.to)
    ))
    .into_response()
}

async fn record(e: &Arc<Embedded>, o: &Outgoing, name: &str, link: Option<&str>) {
    let m = &o.message;
    let mut event = m.feedback_event(name, Utc::now());
    if let Some(link) = link {
        event = event.with("link", link);
    }
    let at = event.at;
    let item = WorkItem {
        contact: m.contact.clone(),
        input: Input::Event(event),
        at,
    };
    if let Err(error) = e.work.push(item).await {
        tracing::error!(%error, "could not record outbox tracking");
    }
}

async fn open(State(e): State<Arc<Embedded>>, Path(id): Path<String>) -> Response {
    if let Ok(Some(o)) = e.store.outbox_message(&id) {
        record(&e, &o, "email_opened", None).await;
    }
    // A 1×1 transparent GIF.
    const PIXEL: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
    (
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PIXEL,
    )
        .into_response()
}

#[derive(Deserialize)]
struct ClickQuery {
    u: String,
}

async fn click(
    State(e): State<Arc<Embedded>>,
    Path(id): Path<String>,
    Query(q): Query<ClickQuery>,
) -> Response {
    if !(q.u.starts_with("http://") || q.u.starts_with("https://")) {
        return (StatusCode::BAD_REQUEST, "only http(s) links are tracked").into_response();
    }
    let Ok(Some(o)) = e.store.outbox_message(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Only links that are in the message: the outbox is not an open redirect.
    if !o.html.as_deref().unwrap_or_default().contains(&q.u)
        && !o.text.as_deref().unwrap_or_default().contains(&q.u)
    {
        return (StatusCode::BAD_REQUEST, "that link is not in this message").into_response();
    }
    record(&e, &o, "email_clicked", Some(&q.u)).await;
    Redirect::to(&q.u).into_response()
}
