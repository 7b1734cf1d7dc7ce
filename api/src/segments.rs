//! `GET /v1/segments/{id}/members` (paged contact ids) and
//! `GET /v1/segments/{id}/export?format=hashed` (CSV of hashed identifiers for ad
//! platforms' customer lists, members who take marketing only).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kairos_core::ports::CatalogStore;
use kairos_core::service::audiences::{self, AudienceError, HASHED_HEADER};
use kairos_core::service::Ports;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::body::PathId;
use crate::error::ApiError;
use crate::{App, Now};

/// The most ids one page may ask for.
const MAX_LIMIT: usize = 10_000;

/// `?cursor=…&limit=…` (and `format=hashed` for the export).
#[derive(Deserialize, JsonSchema)]
pub(crate) struct PageQuery {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

/// One page of a segment's members.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Members {
    /// Contact ids, in id order.
    members: Vec<String>,
    /// Pass it as `cursor` for the next page; absent after the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

fn limit(query: &PageQuery, default: usize) -> Result<usize, ApiError> {
    match query.limit.as_deref() {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                format!("`limit` is a number from 1 to {MAX_LIMIT}"),
                "limit",
            )),
        },
    }
}

/// A store's cursor as the API hands it out: base64url, so any position (DynamoDB's is a
/// key with a newline; ids may be any Unicode) is a safe query value and header value.
fn encode_cursor(cursor: Option<String>) -> Option<String> {
    cursor.map(|c| URL_SAFE_NO_PAD.encode(c))
}

fn decode_cursor(cursor: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(text) = cursor else { return Ok(None) };
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("not a cursor this API handed out", "cursor"))
}

fn audience_error(id: &str, e: AudienceError) -> ApiError {
    match e {
        AudienceError::UnknownSegment => ApiError::not_found(format!("no segment `{id}`")),
        AudienceError::Port(e) => e.into(),
    }
}

/// The page of members a query asks for, and the cursor after it (as the store has it).
async fn page<P: Ports>(
    app: &App<P>,
    id: &str,
    query: &PageQuery,
    default_limit: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<kairos_core::ContactState>, Option<String>), ApiError> {
    let limit = limit(query, default_limit)?;
    let catalog = app.ports.catalog().catalog().await?;
    audiences::members(
        app.ports.contacts(),
        catalog.definitions(),
        id,
        decode_cursor(query.cursor.as_deref())?,
        limit,
        now,
    )
    .await
    .map_err(|e| audience_error(id, e))
}

pub(crate) async fn members<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
    Now(now): Now,
    Query(query): Query<PageQuery>,
) -> Result<Json<Members>, ApiError> {
    let (found, cursor) = page(&app, &id, &query, 1000, now).await?;
    let members = found.into_iter().map(|s| s.contact.id).collect();
    Ok(Json(Members {
        members,
        cursor: encode_cursor(cursor),
    }))
}

/// The CSV; a next page's cursor, when there is one, in the `Kairos-Next-Cursor` header.
pub(crate) async fn export<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
    Now(now): Now,
    Query(query): Query<PageQuery>,
) -> Result<Response, ApiError> {
    if query.format.as_deref() != Some("hashed") {
        return Err(ApiError::bad_request(
            "the export is `format=hashed`: SHA-256 of the normalised email and phone",
            "format",
        ));
    }
    let (found, cursor) = page(&app, &id, &query, MAX_LIMIT, now).await?;
    let mut csv = format!("{HASHED_HEADER}\n");
    for state in &found {
        if let Some(row) = audiences::hashed_row(&state.contact) {
            csv.push_str(&row);
            csv.push('\n');
        }
    }
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        csv,
    )
        .into_response();
    if let Some(cursor) = encode_cursor(cursor) {
        // base64url: always a header value.
        let value = HeaderValue::from_str(&cursor).map_err(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "a cursor")
        })?;
        response.headers_mut().insert("kairos-next-cursor", value);
    }
    Ok(response)
}
