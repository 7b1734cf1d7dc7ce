//! `POST /v1/events`: one event or `{"events": [...]}` (at most [`MAX_EVENTS`]), checked
//! whole before any is accepted; an event with an `id` is accepted once.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use kairos_core::engine::Input;
use kairos_core::ports::WorkItem;
use kairos_core::service::accept::{accept, Submission};
use kairos_core::service::Ports;
use kairos_core::Event;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::answer::Accepted;
use crate::body::{self, contact_id, MAX_EVENTS, MAX_PROPS_BYTES};
use crate::error::ApiError;
use crate::{App, Now};

/// One event about one contact.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventBody {
    /// Your id for the event: the same id twice is accepted once.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    id: Option<String>,
    /// The contact it is about (created when unknown).
    #[schemars(length(min = 1, max = 256))]
    contact: String,
    /// The event's name (`purchase`, `cart_updated`).
    #[schemars(length(min = 1))]
    event: String,
    /// Its properties, for conditions, keys and templates.
    #[serde(default)]
    props: Map<String, Value>,
    /// When it happened (ISO 8601); the time of receipt when absent.
    #[serde(default)]
    at: Option<String>,
}

/// One event, or up to 100 as `{"events": [...]}`.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum EventsBody {
    /// Several events, checked together: none is accepted unless all are valid.
    Many {
        /// The events.
        #[schemars(with = "Vec<EventBody>", length(max = 100))]
        events: Vec<Value>,
    },
    /// One event.
    #[schemars(with = "EventBody")]
    One(Value),
}

pub(crate) async fn post<P: Ports>(
    State(app): State<Arc<App<P>>>,
    Now(now): Now,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let raw: EventsBody = body::json(&headers, body).await?;
    let (values, prefix) = match raw {
        EventsBody::Many { events } => (events, "events"),
        EventsBody::One(v) => (vec![v], ""),
    };
    if values.len() > MAX_EVENTS {
        return Err(ApiError {
            path: Some("events".into()),
            ..ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("at most {MAX_EVENTS} events at once, not {}", values.len()),
            )
        });
    }
    // Everything is checked before anything is accepted.
    let mut submissions = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let at_path = |field: &str| match (prefix.is_empty(), field.is_empty()) {
            (true, _) => field.to_string(),
            (false, true) => format!("{prefix}[{i}]"),
            (false, false) => format!("{prefix}[{i}].{field}"),
        };
        let e: EventBody = kairos_core::language::parse::from_value(value)
            .map_err(|m| ApiError::bad_request(m, &at_path("")))?;
        contact_id(&e.contact, &at_path("contact"))?;
        if e.event.trim().is_empty() {
            return Err(ApiError::bad_request(
                "the event name cannot be empty",
                &at_path("event"),
            ));
        }
        let size = serde_json::to_string(&e.props).map_or(0, |t| t.len());
        if size > MAX_PROPS_BYTES {
            return Err(ApiError {
                path: Some(at_path("props")),
                ..ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("the properties take {size} bytes; at most {MAX_PROPS_BYTES}"),
                )
            });
        }
        let at = match e.at.as_deref() {
            Some(text) => kairos_core::calendar::parse_timestamp(text)
                .map_err(|m| ApiError::bad_request(m, &at_path("at")))?,
            // Received now, in the order given: a microsecond apart, so two identical
            // events in one request (two page views) are two inputs, not one input seen
            // twice (an input is recognised by its content, time included).
            None => now + chrono::Duration::microseconds(i as i64),
        };
        let dedupe = e.id.as_ref().map(|id| format!("event/{id}"));
        let event = Event {
            id: e.id,
            name: e.event,
            props: e.props,
            at,
        };
        submissions.push(Submission {
            item: WorkItem {
                contact: e.contact,
                input: Input::Event(event),
                at,
            },
            dedupe,
        });
    }
    let accepted = accept(&app.ports, submissions).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted })))
}
