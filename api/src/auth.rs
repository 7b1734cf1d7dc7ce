//! The keys: the API key (`Authorization: Bearer <key>`) for the whole API, the write key
//! (`Authorization: Basic base64(<key>:)`, as tracking libraries send it) for the tracking
//! routes only. Both compared in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
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

/// Which key a tracking call came with: the write key (public, in web pages) may do less
/// than the API key — it merges only anonymous profiles.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrackingKey {
    pub(crate) write_key_only: bool,
}

/// The tracking routes: the write key or the API key, as Basic auth's user name (Segment's
/// libraries) or the API key as a Bearer token. The write key opens nothing else.
pub(crate) async fn require_write_key<P: Ports>(
    State(app): State<Arc<App<P>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let credentials = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '));
    // `Some(write_key_only)` when admitted.
    let admitted = match credentials {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("basic") => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(token.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .unwrap_or_default();
            let user = decoded.split_once(':').map_or(decoded.as_str(), |(u, _)| u);
            if is_key(&app.api_key, user) {
                Some(false)
            } else {
                is_key(&app.write_key, user).then_some(true)
            }
        }
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            is_key(&app.api_key, token.trim()).then_some(false)
        }
        _ => None,
    };
    let Some(write_key_only) = admitted else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid write key is required: `Authorization: Basic base64(<write key>:)`",
        )
        .into_response();
    };
    request
        .extensions_mut()
        .insert(TrackingKey { write_key_only });
    next.run(request).await
}
