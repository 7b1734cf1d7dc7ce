//! Kairos's HTTP API as an axum router: the same router runs on Lambda (the intake
//! function, behind API Gateway's HTTP API) and in `kairos serve`, on whatever
//! [`Ports`] the backend has. Handlers translate HTTP to the use cases of
//! `kairos_core::service` and back; the domain decides.
//!
//! - [`html`]: escaping for the pages.
//! - [`error`]: the error body (`{"error": {"code", "message", "path"}}`) and statuses.
//! - `auth`: the API key (`Authorization: Bearer`) and the tracking write key (Basic).
//! - `body`: reading bodies (size limit, media types) and path segments.
//! - `workflows`, `definitions`, `contacts`, `events`: the `/v1` resources.
//! - `broadcasts`: business events, broadcast runs and their controls; `segments`: a
//!   segment's members and their hashed export.
//! - `tracking`: the Segment-compatible tracking API (`/v1/track`, `/v1/batch`, …).
//! - `answer`: the JSON bodies the routes answer with, as types.
//! - [`openapi`]: the OpenAPI 3.1 document of the routes, from those types and the
//!   request bodies' own, served at `/openapi.json`.
//! - [`session`]: browser sessions (login with the API key, a strict cookie) for pages.
//! - `console`: the pages — workflows as journeys with live counts, contacts' timelines.
//! - `unsubscribe`: the one-click unsubscribe routes and their pages (no key: the
//!   signed token is the proof).

#![warn(unreachable_pub, missing_docs)]

mod answer;
mod auth;
mod body;
mod broadcasts;
mod console;
mod contacts;
mod definitions;
pub mod error;
mod events;
pub mod html;
pub mod openapi;
mod segments;
pub mod session;
mod tracking;
mod unsubscribe;
mod workflows;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use kairos_core::service::Ports;
use kairos_core::unsubscribe::Links;

pub use body::{MAX_BODY_BYTES, MAX_EVENTS};
use error::ApiError;
pub use tracking::{MAX_BATCH_BYTES, MAX_BATCH_CALLS, MAX_MESSAGE_BYTES};

/// What the router serves from.
pub struct App<P> {
    /// The backend the use cases run on.
    pub ports: P,
    /// The key every `/v1` request must carry (`Authorization: Bearer`); empty refuses all.
    pub api_key: String,
    /// The key tracking libraries send (Basic auth): it may only ingest. Empty: only the
    /// API key opens the tracking routes.
    pub write_key: String,
    /// Verifies unsubscribe tokens; without it the unsubscribe routes answer 404.
    pub links: Option<Links>,
    /// Where "now" comes from: the wall clock in production; read once per request.
    pub clock: fn() -> DateTime<Utc>,
    /// Whether the console links to a local outbox (`kairos serve` has one at `/outbox`).
    pub outbox: bool,
}

impl<P> App<P> {
    /// An app on the wall clock.
    pub fn new(ports: P, api_key: String, links: Option<Links>) -> App<P> {
        App {
            ports,
            api_key,
            write_key: String::new(),
            links,
            clock: Utc::now,
            outbox: false,
        }
    }

    /// The same app, its console linking to the local outbox at `/outbox`.
    pub fn with_outbox(self) -> App<P> {
        App {
            outbox: true,
            ..self
        }
    }

    /// The same app, with a write key for the tracking routes.
    pub fn with_write_key(self, write_key: String) -> App<P> {
        App { write_key, ..self }
    }
}

/// The moment a request is handled, read once from the app's clock and passed down.
struct Now(DateTime<Utc>);

impl<P: Ports> FromRequestParts<Arc<App<P>>> for Now {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        _: &mut Parts,
        app: &Arc<App<P>>,
    ) -> Result<Now, std::convert::Infallible> {
        Ok(Now((app.clock)()))
    }
}

/// The `/v1` API behind the key, the tracking routes behind the write key, the unsubscribe
/// routes without a key, the console behind a session, and JSON errors for unknown routes
/// and methods.
pub fn router<P: Ports>(app: Arc<App<P>>) -> Router {
    let v1 = Router::new()
        .route("/v1/workflows", get(workflows::list::<P>))
        .route(
            "/v1/workflows/{id}",
            put(workflows::put::<P>).get(workflows::get::<P>),
        )
        .route("/v1/workflows/{id}/report", get(workflows::report::<P>))
        .route(
            "/v1/definitions",
            put(definitions::put::<P>).get(definitions::get::<P>),
        )
        .route(
            "/v1/contacts/{id}",
            put(contacts::put::<P>)
                .get(contacts::get::<P>)
                .delete(contacts::delete::<P>),
        )
        .route("/v1/contacts/{id}/tags", post(contacts::tags::<P>))
        .route("/v1/contacts/{id}/lists", post(contacts::lists::<P>))
        .route("/v1/contacts/{id}/journal", get(contacts::journal::<P>))
        .route("/v1/events", post(events::post::<P>))
        .route("/v1/business-events", post(broadcasts::business_event::<P>))
        .route("/v1/broadcasts/{id}", get(broadcasts::get::<P>))
        .route("/v1/broadcasts/{id}/pause", post(broadcasts::pause::<P>))
        .route("/v1/broadcasts/{id}/resume", post(broadcasts::resume::<P>))
        .route("/v1/broadcasts/{id}/cancel", post(broadcasts::cancel::<P>))
        .route("/v1/segments/{id}/members", get(segments::members::<P>))
        .route("/v1/segments/{id}/export", get(segments::export::<P>))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            auth::require_api_key::<P>,
        ));
    let tracking = Router::new()
        .route("/v1/track", post(tracking::track::<P>))
        .route("/v1/identify", post(tracking::identify::<P>))
        .route("/v1/page", post(tracking::page::<P>))
        .route("/v1/screen", post(tracking::screen::<P>))
        .route("/v1/alias", post(tracking::alias::<P>))
        .route("/v1/group", post(tracking::group::<P>))
        .route("/v1/batch", post(tracking::batch::<P>))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            auth::require_write_key::<P>,
        ));
    let unsubscribe = Router::new().route(
        "/unsubscribe/{token}",
        get(unsubscribe::page::<P>).post(unsubscribe::unsubscribe::<P>),
    );
    // The console's pages behind a browser session (or the API key as a Bearer header),
    // with `/login` and `/logout`.
    let sessions = session::Sessions::new(&app.api_key);
    let console = sessions
        .protect(console::routes(app.clone()))
        .merge(sessions.routes());
    // For load balancers and scripts that wait for `serve`: no key, nothing read. The
    // API's description, too, is public.
    let health = Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(answer::Health { status: "ok" }) }),
        )
        .route(
            "/openapi.json",
            get(|| async { axum::Json(openapi::document()) }),
        );
    v1.merge(tracking)
        .merge(unsubscribe)
        .merge(health)
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .with_state(app)
        .merge(console)
}
