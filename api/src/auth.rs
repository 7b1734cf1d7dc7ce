//! The API key: `Authorization: Bearer <key>`, compared in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kairos_core::service::Ports;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::App;

/// Whether `given` is the key. Digests of equal length are compared in constant time:
/// neither the key's bytes nor its length show in the timing. An empty key admits no one.
pub(crate) fn is_key(key: &str, given: &str) -> bool {
    let digest = |text: &str| Sha256::digest(text.as_bytes());
    !key.is_empty() && bool::from(digest(given).as_slice().ct_eq(digest(key).as_slice()))
}

pub(crate) async fn require_api_key<P: Ports>(
    State(app): State<Arc<App<P>>>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or_default();
    if !is_key(&app.api_key, given) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid `Authorization: Bearer <api key>` header is required",
        )
        .into_response();
    }
    next.run(request).await
}
