//! The console: the pages a marketer looks at, served by the same router as the API (by
//! `kairos serve` and by intake on AWS), behind a session (`session`): the workflows with
//! their journeys and live counts, contacts with their timelines told in words. Plain
//! HTML and one stylesheet inside the binary: no script, no CDN, nothing to build.
//!
//! - `workflows`: the list, and one workflow's journey with per-step counts and
//!   experiment results.
//! - `contacts`: search by id or email, and one contact's page.

mod contacts;
mod workflows;

use std::sync::Arc;

use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use kairos_core::service::Ports;

use crate::html::escape;
use crate::App;

/// The console's pages (to be put behind a session).
pub(crate) fn routes<P: Ports>(app: Arc<App<P>>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(workflows::list::<P>))
        .route("/console/style.css", get(style))
        .route("/console/workflows/{id}", get(workflows::show::<P>))
        .route("/console/contacts", get(contacts::search::<P>))
        .route("/console/contacts/{id}", get(contacts::show::<P>))
        .with_state(app)
}

const STYLE: &str = include_str!("style.css");

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// A page: the navigation, a title and the body (already HTML).
fn page<P>(app: &App<P>, title: &str, body: &str) -> Html<String> {
    let outbox = if app.outbox {
        "<a href=\"/outbox\">Outbox</a>"
    } else {
        ""
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title} — Kairos</title><link rel=\"stylesheet\" href=\"/console/style.css\"><link rel=\"icon\" href=\"data:,\"></head><body><header><a class=\"brand\" href=\"/console\">Kairos</a><nav><a href=\"/console\">Workflows</a><a href=\"/console/contacts\">Contacts</a>{outbox}</nav><form method=\"post\" action=\"/logout\"><button type=\"submit\">Log out</button></form></header><main><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title)
    ))
}

/// An id as one path segment of a link (ids may hold `/`, `?`, spaces …).
fn segment(id: &str) -> String {
    crate::html::url_component(id)
}
