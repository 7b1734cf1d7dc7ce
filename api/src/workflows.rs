//! `GET /v1/workflows` (every deployed workflow), `PUT /v1/workflows/{id}` (deploy),
//! `GET /v1/workflows/{id}`, and its report.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use kairos_core::ports::{CatalogStore, ContactStore};
use kairos_core::service::deploy::deploy_workflow;
use kairos_core::service::Ports;
use serde_json::{json, Value};

use crate::body::{self, PathId};
use crate::error::ApiError;
use crate::{App, Now};

pub(crate) async fn put<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
    Now(now): Now,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (text, name) = body::document(&headers, body).await?;
    let deployed = deploy_workflow(&app.ports, &id, name, &text, now).await?;
    Ok(Json(
        json!({ "id": id, "version": deployed.version, "changed": deployed.changed }),
    ))
}

pub(crate) async fn get<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    let catalog = app.ports.catalog().catalog().await?;
    let latest = catalog
        .latest(&id)
        .ok_or_else(|| ApiError::not_found(format!("no workflow `{id}`")))?;
    let versions: Vec<u32> = catalog.versions(&id).iter().map(|w| w.version).collect();
    Ok(Json(
        json!({ "id": id, "version": latest.version, "versions": versions, "workflow": latest.doc }),
    ))
}

pub(crate) async fn report<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    let catalog = app.ports.catalog().catalog().await?;
    if catalog.latest(&id).is_none() {
        return Err(ApiError::not_found(format!("no workflow `{id}`")));
    }
    let journal = app.ports.contacts().workflow_journal(&id).await?;
    let report = kairos_core::report::build(&journal, &catalog);
    let workflow = report.workflows.into_iter().find(|w| w.workflow == id);
    Ok(Json(json!(workflow)))
}

/// Every deployed workflow: id, name, newest version, enabled, runs entered and active.
pub(crate) async fn list<P: Ports>(
    State(app): State<Arc<App<P>>>,
) -> Result<Json<Value>, ApiError> {
    let catalog = app.ports.catalog().catalog().await?;
    let mut workflows = Vec::new();
    for wf in catalog.latest_all() {
        let journal = app.ports.contacts().workflow_journal(&wf.id).await?;
        let report = kairos_core::report::build(&journal, &catalog);
        let counts = report.workflows.into_iter().find(|w| w.workflow == wf.id);
        let (entered, active) = counts.map_or((0, 0), |c| (c.entered, c.active));
        workflows.push(json!({
            "id": wf.id, "name": wf.name(), "version": wf.version, "enabled": wf.enabled,
            "entered": entered, "active_runs": active,
        }));
    }
    Ok(Json(json!({ "workflows": workflows })))
}
