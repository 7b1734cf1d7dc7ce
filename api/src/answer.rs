//! The JSON bodies the routes answer with, as types: what a handler sends is what the
//! OpenAPI document (`openapi`) describes, both derived from these.

use schemars::JsonSchema;
use serde::Serialize;

/// `202`: inputs queued for their contacts.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Accepted {
    /// How many were queued now; a repeated `id` is not counted again.
    pub(crate) accepted: usize,
}

/// A workflow deployed.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Deployed {
    /// The workflow's id.
    pub(crate) id: String,
    /// Its newest version.
    pub(crate) version: u32,
    /// Whether this request made a new version (false: the same definition again).
    pub(crate) changed: bool,
}

/// Definitions deployed: how many of each.
#[derive(Serialize, JsonSchema)]
pub(crate) struct DefinitionsDeployed {
    /// Segments defined.
    pub(crate) segments: usize,
    /// Templates defined.
    pub(crate) templates: usize,
    /// Scoring rules defined.
    pub(crate) scoring: usize,
}

/// A tracking call (or batch) taken, as Segment's libraries expect.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Tracked {
    /// Always true: something was accepted.
    pub(crate) success: bool,
    /// The calls of a batch that were not, by index and reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) rejected: Vec<RejectedCall>,
}

/// One call of a batch that was not accepted.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RejectedCall {
    /// Its position in `batch`.
    pub(crate) index: usize,
    /// The field at fault (`batch[3].userId`).
    pub(crate) path: String,
    /// What is wrong with it.
    pub(crate) message: String,
}

/// Every error: what went wrong, where, and for a batch none of whose calls was valid,
/// each call's reason.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ErrorBody {
    /// The error.
    pub(crate) error: ErrorDetail,
    /// A batch's calls, by index and reason, when none was valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) rejected: Vec<RejectedCall>,
}

/// The error itself.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ErrorDetail {
    /// Stable and machine-readable: `bad_request`, `unauthorized`, `not_found`,
    /// `conflict`, `too_large`, `unsupported_media_type`, `validation_failed`, …
    pub(crate) code: String,
    /// What went wrong, for people.
    pub(crate) message: String,
    /// The field or document path it is about (`steps[2].wait.for`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    /// Every finding, when a document was invalid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) details: Vec<Finding>,
}

/// One finding in an invalid document.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Finding {
    /// Where in the document (`steps[2].wait.for`).
    pub(crate) path: String,
    /// The line, when known.
    pub(crate) line: Option<usize>,
    /// What is wrong.
    pub(crate) message: String,
    /// `error` or `warning`.
    pub(crate) severity: String,
}

/// `GET /health`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Health {
    /// `ok`.
    pub(crate) status: &'static str,
}
