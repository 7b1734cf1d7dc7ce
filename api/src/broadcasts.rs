//! `POST /v1/business-events` (fires the broadcasts `on` it), `GET /v1/broadcasts/{id}`
//! (its runs and their counts) and `POST /v1/broadcasts/{id}/pause` (`resume`, `cancel`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use kairos_core::ports::CatalogStore;
use kairos_core::service::broadcasts::{self, Control, ControlError, RunStatus};
use kairos_core::service::Ports;
use kairos_core::Event;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::body::{self, PathId};
use crate::error::ApiError;
use crate::{App, Now};

/// An event about the business, tied to no contact.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BusinessEventBody {
    /// Your id for it: the same id twice fires once.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    id: Option<String>,
    /// Its name (`product_price_changed`).
    #[schemars(length(min = 1))]
    event: String,
    /// Its properties, for the broadcasts' filters and templates.
    #[serde(default)]
    props: Map<String, Value>,
    /// When it happened (ISO 8601); the time of receipt when absent.
    #[serde(default)]
    at: Option<String>,
}

/// What a business event fired.
#[derive(Serialize, JsonSchema)]
pub(crate) struct FiredRuns {
    /// The broadcast runs it started (`price-drop:3`).
    runs: Vec<String>,
}

pub(crate) async fn business_event<P: Ports>(
    State(app): State<Arc<App<P>>>,
    Now(now): Now,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<FiredRuns>), ApiError> {
    let b: BusinessEventBody = body::json(&headers, body).await?;
    if b.event.trim().is_empty() {
        return Err(ApiError::bad_request(
            "the event name cannot be empty",
            "event",
        ));
    }
    if b.id
        .as_ref()
        .is_some_and(|id| id.is_empty() || id.len() > 256)
    {
        return Err(ApiError::bad_request("an id is 1 to 256 characters", "id"));
    }
    let at = match b.at.as_deref() {
        Some(text) => kairos_core::calendar::parse_timestamp(text)
            .map_err(|m| ApiError::bad_request(m, "at"))?,
        None => now,
    };
    let event = Event {
        id: b.id,
        name: b.event,
        props: b.props,
        at,
    };
    let fired = broadcasts::fire(app.ports.catalog(), app.ports.contacts(), event, now).await?;
    let runs = fired.runs.iter().map(|r| r.id()).collect();
    Ok((StatusCode::ACCEPTED, Json(FiredRuns { runs })))
}

/// A broadcast and its runs.
#[derive(Serialize, JsonSchema)]
pub(crate) struct BroadcastView {
    /// The broadcast's id.
    id: String,
    /// Every run, oldest first, with its counts.
    runs: Vec<RunStatus>,
}

pub(crate) async fn get<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
) -> Result<Json<BroadcastView>, ApiError> {
    let catalog = app.ports.catalog().catalog().await?;
    if !catalog.definitions().broadcasts.contains_key(&id)
        && catalog.broadcast_runs(&id).next().is_none()
    {
        return Err(ApiError::not_found(format!("no broadcast `{id}`")));
    }
    let runs = broadcasts::status(&catalog, app.ports.contacts(), &id).await?;
    Ok(Json(BroadcastView { id, runs }))
}

/// `POST /v1/broadcasts/{id}/pause`, `…/resume`, `…/cancel`: 202 with the runs changed.
async fn control<P: Ports>(
    app: &App<P>,
    id: &str,
    action: Control,
) -> Result<(StatusCode, Json<FiredRuns>), ApiError> {
    match broadcasts::control(app.ports.catalog(), id, action).await {
        Ok(runs) => Ok((
            StatusCode::ACCEPTED,
            Json(FiredRuns {
                runs: runs.iter().map(|r| r.id()).collect(),
            }),
        )),
        Err(ControlError::Unknown) => Err(ApiError::not_found(format!("no broadcast `{id}`"))),
        Err(ControlError::NothingToDo) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "no run of this broadcast is in a state this applies to",
        )),
        Err(ControlError::Port(e)) => Err(e.into()),
    }
}

macro_rules! control_route {
    ($name:ident, $action:expr) => {
        pub(crate) async fn $name<P: Ports>(
            State(app): State<Arc<App<P>>>,
            PathId(id): PathId,
        ) -> Result<(StatusCode, Json<FiredRuns>), ApiError> {
            control(&app, &id, $action).await
        }
    };
}

control_route!(pause, Control::Pause);
control_route!(resume, Control::Resume);
control_route!(cancel, Control::Cancel);
