//! `GET /v1/workflows` (every deployed workflow), `PUT /v1/workflows/{id}` (deploy),
//! `GET /v1/workflows/{id}`, and its report.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use kairos_core::language::workflow::WorkflowDoc;
use kairos_core::ports::{CatalogStore, ContactStore};
use kairos_core::report::WorkflowReport;
use kairos_core::service::deploy::deploy_workflow;
use kairos_core::service::Ports;
use schemars::JsonSchema;
use serde::Serialize;

use crate::answer::Deployed;
use crate::body::{self, PathId};
use crate::error::ApiError;
use crate::{App, Now};

/// A workflow's newest version and the versions there are.
#[derive(Serialize, JsonSchema)]
pub(crate) struct WorkflowVersions {
    /// The workflow's id.
    id: String,
    /// Its newest version.
    version: u32,
    /// Every version deployed, oldest first.
    versions: Vec<u32>,
    /// The newest version's definition.
    workflow: WorkflowDoc,
}

/// Every deployed workflow.
#[derive(Serialize, JsonSchema)]
pub(crate) struct WorkflowList {
    /// One entry per workflow.
    workflows: Vec<WorkflowSummary>,
}

/// One deployed workflow.
#[derive(Serialize, JsonSchema)]
pub(crate) struct WorkflowSummary {
    /// Its id.
    id: String,
    /// Its name (the id when it has none).
    name: String,
    /// Its newest version.
    version: u32,
    /// Whether its triggers enroll contacts.
    enabled: bool,
    /// Runs started.
    entered: u64,
    /// Runs still active.
    active_runs: u64,
}

pub(crate) async fn put<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
    Now(now): Now,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Deployed>, ApiError> {
    let (text, name) = body::document(&headers, body).await?;
    let deployed = deploy_workflow(&app.ports, &id, name, &text, now).await?;
    Ok(Json(Deployed {
        id,
        version: deployed.version,
        changed: deployed.changed,
    }))
}

pub(crate) async fn get<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
) -> Result<Json<WorkflowVersions>, ApiError> {
    let catalog = app.ports.catalog().catalog().await?;
    let latest = catalog
        .latest(&id)
        .ok_or_else(|| ApiError::not_found(format!("no workflow `{id}`")))?;
    let versions: Vec<u32> = catalog.versions(&id).iter().map(|w| w.version).collect();
    Ok(Json(WorkflowVersions {
        version: latest.version,
        versions,
        workflow: latest.doc.clone(),
        id,
    }))
}

pub(crate) async fn report<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
) -> Result<Json<Option<WorkflowReport>>, ApiError> {
    let catalog = app.ports.catalog().catalog().await?;
    if catalog.latest(&id).is_none() {
        return Err(ApiError::not_found(format!("no workflow `{id}`")));
    }
    let report = app.ports.contacts().workflow_report(&id, &catalog).await?;
    Ok(Json(report))
}

/// Every deployed workflow: id, name, newest version, enabled, runs entered and active.
pub(crate) async fn list<P: Ports>(
    State(app): State<Arc<App<P>>>,
) -> Result<Json<WorkflowList>, ApiError> {
    let catalog = app.ports.catalog().catalog().await?;
    let mut workflows = Vec::new();
    for wf in catalog.latest_all() {
        let counts = app
            .ports
            .contacts()
            .workflow_report(&wf.id, &catalog)
            .await?;
        let (entered, active) = counts.map_or((0, 0), |c| (c.entered, c.active));
        workflows.push(WorkflowSummary {
            id: wf.id.clone(),
            name: wf.name().to_string(),
            version: wf.version,
            enabled: wf.enabled,
            entered,
            active_runs: active,
        });
    }
    Ok(Json(WorkflowList { workflows }))
}
