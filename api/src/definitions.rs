//! `PUT /v1/definitions` and `GET /v1/definitions`: segments, templates, scoring, delivery
//! policy.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use kairos_core::language::definitions::Definitions;
use kairos_core::ports::CatalogStore;
use kairos_core::service::deploy::deploy_definitions;
use kairos_core::service::Ports;
use schemars::JsonSchema;
use serde::Serialize;

use crate::answer::DefinitionsDeployed;
use crate::body;
use crate::error::ApiError;
use crate::App;

pub(crate) async fn put<P: Ports>(
    State(app): State<Arc<App<P>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<DefinitionsDeployed>, ApiError> {
    let (text, name) = body::document(&headers, body).await?;
    let defs = deploy_definitions(&app.ports, name, &text).await?;
    Ok(Json(DefinitionsDeployed {
        segments: defs.segments.len(),
        templates: defs.templates.len(),
        scoring: defs.scoring.len(),
    }))
}

/// The definitions in force.
#[derive(Serialize, JsonSchema)]
pub(crate) struct DefinitionsInForce {
    /// Segments, templates, scoring, delivery policy, identity, as deployed.
    definitions: Definitions,
}

/// The definitions in force, as stored (what `kairos deploy` compares its own with).
pub(crate) async fn get<P: Ports>(
    State(app): State<Arc<App<P>>>,
) -> Result<Json<DefinitionsInForce>, ApiError> {
    let catalog = app.ports.catalog().catalog().await?;
    Ok(Json(DefinitionsInForce {
        definitions: catalog.definitions().clone(),
    }))
}
