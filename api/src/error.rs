//! API errors: `{"error": {"code", "message", "path"}}` with the status the contract names.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kairos_core::diagnostic::Severity;
use kairos_core::ports::PortError;
use kairos_core::service::deploy::DeployError;
use kairos_core::Diagnostic;

use crate::answer::{ErrorBody, ErrorDetail, Finding};

#[derive(Debug)]
/// An API error as the contract shapes it, with the status it is answered with.
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`bad_request`, `validation_failed`, `conflict`, …).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The field or document path the error is about, when there is one.
    pub path: Option<String>,
    /// Every diagnostic, when a document was invalid.
    pub details: Vec<Diagnostic>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            path: None,
            details: Vec::new(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>, path: &str) -> ApiError {
        ApiError {
            path: Some(path.to_string()),
            ..ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// Invalid documents: a parse error is 400, a validation error 422; both list everything found.
    pub(crate) fn invalid(diagnostics: Vec<Diagnostic>, parse: bool) -> ApiError {
        let first = diagnostics.first().cloned();
        let (status, code) = if parse {
            (StatusCode::BAD_REQUEST, "bad_request")
        } else {
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        };
        ApiError {
            status,
            code,
            message: first
                .as_ref()
                .map_or_else(|| "invalid".into(), |d| d.message.clone()),
            path: first.map(|d| d.path),
            details: diagnostics,
        }
    }
}

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> ApiError {
        match e {
            DeployError::Parse(d) => ApiError::invalid(vec![d], true),
            DeployError::Invalid(all) => ApiError::invalid(all, false),
            DeployError::Port(e) => e.into(),
        }
    }
}

impl From<PortError> for ApiError {
    fn from(e: PortError) -> ApiError {
        if let PortError::Conflict { .. } = e {
            return ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "someone else changed this at the same time; read it again and retry",
            );
        }
        tracing::error!(error = %e, retryable = e.retryable(), "backend failure");
        let status = if e.retryable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        ApiError::new(
            status,
            "internal",
            "the service could not complete the request; try again",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let details = self
            .details
            .into_iter()
            .map(|d| Finding {
                path: d.path,
                line: d.line,
                message: d.message,
                severity: match d.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                }
                .to_string(),
            })
            .collect();
        let error = ErrorDetail {
            code: self.code.to_string(),
            message: self.message,
            path: self.path.filter(|p| !p.is_empty()),
            details,
        };
        let body = ErrorBody {
            error,
            rejected: Vec::new(),
        };
        (self.status, Json(body)).into_response()
    }
}
