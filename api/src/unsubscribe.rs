//! One-click unsubscribe (RFC 8058): `GET /unsubscribe/{token}` shows a page with a
//! button (a GET never unsubscribes: mail scanners follow links), `POST` unsubscribes.
//! No key: the signed token is the proof. Twice is harmless.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use kairos_core::engine::Input;
use kairos_core::ports::{ContactStore, WorkItem};
use kairos_core::service::accept::{accept, Submission};
use kairos_core::service::Ports;
use kairos_core::Event;

use crate::body::PathId;
use crate::error::ApiError;
use crate::{App, Now};

/// A small HTML page; `body` is markup we wrote (nothing from the request).
fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head><body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\"><h1>{title}</h1>{body}</body></html>"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

fn done() -> Response {
    html(
        StatusCode::OK,
        "Unsubscribed",
        "<p>You will not receive these emails any more.</p>",
    )
}

/// The contact and list a token names, or the page that says why not.
fn verify<P>(app: &App<P>, token: &str) -> Result<(String, String), Response> {
    let Some(links) = &app.links else {
        return Err(html(
            StatusCode::NOT_FOUND,
            "Not available",
            "<p>Unsubscribe links are not configured.</p>",
        ));
    };
    links.signer.verify(token).map_err(|e| {
        html(
            StatusCode::BAD_REQUEST,
            "Link not valid",
            &format!("<p>{e}.</p>"),
        )
    })
}

pub(crate) async fn page<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(token): PathId,
) -> Response {
    if let Err(response) = verify(&app, &token) {
        return response;
    }
    // A verified token is base64url and a dot: nothing in it needs escaping.
    let form = format!("<p>Stop receiving these emails?</p><form method=\"post\" action=\"/unsubscribe/{token}\"><button type=\"submit\">Unsubscribe</button></form>");
    html(StatusCode::OK, "Unsubscribe", &form)
}

pub(crate) async fn unsubscribe<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(token): PathId,
    Now(now): Now,
) -> Response {
    let (contact, list) = match verify(&app, &token) {
        Ok(found) => found,
        Err(response) => return response,
    };
    // A link never creates a contact, nor brings a deleted one back: for a contact that
    // is not there, there is nothing to unsubscribe (and the page says the same).
    match app.ports.contacts().load(&contact).await {
        Ok(Some(_)) => {}
        Ok(None) => return done(),
        Err(e) => return ApiError::from(e).into_response(),
    }
    let event = Event::new("unsubscribed", now).with("list", list.as_str());
    let item = WorkItem {
        contact,
        input: Input::Event(event),
        at: now,
    };
    match accept(&app.ports, [Submission { item, dedupe: None }]).await {
        Ok(_) => done(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
