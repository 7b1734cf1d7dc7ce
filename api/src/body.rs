//! Request bodies and path segments, parsed at the boundary: a size limit before anything
//! is read further, exact media types, UTF-8, and errors in the contract's JSON shape.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use kairos_core::language::parse::parse_document;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Bodies larger than this are refused with 413 before anything is read further or written.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// `POST /v1/events` takes at most this many events at once.
pub const MAX_EVENTS: usize = 100;
/// An event's properties, as JSON, may be at most this large (Segment's limit for a call):
/// a contact's state must stay well under DynamoDB's 400 KB item, so an event too big to
/// keep is refused here, with its path, instead of failing later on every retry.
pub(crate) const MAX_PROPS_BYTES: usize = 32 * 1024;

/// Reads the body with the size limit: 413 before anything is written.
pub(crate) async fn bytes(body: Body) -> Result<Bytes, ApiError> {
    bytes_at_most(body, MAX_BODY_BYTES).await
}

/// Reads the body with a route's own size limit.
pub(crate) async fn bytes_at_most(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is larger than {limit} bytes"),
        )
    })
}

/// The media type of the body, without parameters (`application/json; charset=utf-8` is
/// `application/json`; `application/jsonfoo` is not).
fn media_type(headers: &HeaderMap) -> String {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = value.split(';').next().unwrap_or_default();
    essence.trim().to_ascii_lowercase()
}

/// A JSON body: 415 for another media type, 400 naming the field for a bad one.
pub(crate) async fn json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    json_at_most(headers, body, MAX_BODY_BYTES).await
}

/// A JSON body with a route's own size limit. Compressed bodies are refused (415): a
/// decompressed size cannot be bounded before it is read.
pub(crate) async fn json_at_most<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    if media_type(headers) != "application/json" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send `Content-Type: application/json`",
        ));
    }
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or_default().trim().to_ascii_lowercase());
    if encoding.is_some_and(|e| e != "identity") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body uncompressed (no `Content-Encoding`)",
        ));
    }
    let bytes = bytes_at_most(body, limit).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::bad_request("the body is not UTF-8", ""))?;
    parse_document::<T>("body.json", text).map_err(|d| ApiError::invalid(vec![d], true))
}

/// A document body in YAML or JSON (workflows, definitions), and the file name that
/// tells the parser which.
pub(crate) async fn document(
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, &'static str), ApiError> {
    let kind = media_type(headers);
    let name = if kind == "application/json" {
        "body.json"
    } else if ["application/yaml", "application/x-yaml", "text/yaml"].contains(&kind.as_str()) {
        "body.yaml"
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send `Content-Type: application/yaml` or `application/json`",
        ));
    };
    let bytes = bytes(body).await?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::bad_request("the body is not UTF-8", ""))?;
    Ok((text, name))
}

/// The one path parameter of a route. A segment that does not decode (a bad percent
/// escape, invalid UTF-8) is a JSON 400 like every other error, not axum's plain text.
pub(crate) struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<PathId, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(segment)) => Ok(PathId(segment)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text(), "path")),
        }
    }
}

/// A contact id as the API takes it: 1 to 256 characters, no control character, no `#`
/// (the stores' key separator).
pub(crate) fn contact_id(id: &str, path: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 256 || id.chars().any(|c| c.is_control() || c == '#') {
        return Err(ApiError::bad_request(
            format!("`{}` is not a valid contact id", id.escape_debug()),
            path,
        ));
    }
    Ok(())
}
