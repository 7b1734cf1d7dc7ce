//! Deploying workflows and definitions: the checks, the numbering and the storing, the
//! same for the API on every backend.

use chrono::{DateTime, Utc};

use super::Ports;
use crate::catalog::Deployed;
use crate::diagnostic::Diagnostic;
use crate::language::definitions::Definitions;
use crate::language::parse::parse_document;
use crate::language::validate::{validate_definitions, validate_workflow, References};
use crate::language::workflow::WorkflowDoc;
use crate::language::{load_workflow, with_lines};
use crate::ports::{CatalogStore, PortError};

/// Why a deploy did not happen.
#[derive(Debug)]
pub enum DeployError {
    /// The document does not parse (syntax, an unknown key, a wrong shape).
    Parse(Diagnostic),
    /// It parses, but is not valid here; every problem found.
    Invalid(Vec<Diagnostic>),
    /// The store failed (a concurrent deploy is [`PortError::Conflict`]).
    Port(PortError),
}

impl From<PortError> for DeployError {
    fn from(e: PortError) -> DeployError {
        DeployError::Port(e)
    }
}

/// What a workflow deploy did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkflowDeployed {
    pub version: u32,
    /// A new version was stored (`false`: identical to the newest one, kept).
    pub changed: bool,
}

/// Deploys the workflow in `text` (YAML or JSON, as `file` says) under `id`: checked
/// against the deployed workflows and definitions, numbered, stored; with
/// `enroll_existing`, every existing contact is then offered to it.
pub async fn deploy_workflow<P: Ports>(
    ports: &P,
    id: &str,
    file: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<WorkflowDeployed, DeployError> {
    let doc: WorkflowDoc = parse_document(file, text).map_err(DeployError::Parse)?;
    if doc.id != id {
        let message = format!(
            "the workflow's id `{}` differs from the id in the path `{id}`",
            doc.id
        );
        return Err(DeployError::Invalid(vec![Diagnostic::error(
            file, "id", message,
        )]));
    }
    let mut catalog = ports.catalog().catalog().await?;
    let mut known = catalog.ids();
    known.insert(id.to_string());
    let defs = catalog.definitions().clone();
    // Until definitions are deployed, segment and template references are not checked.
    let refs = References {
        definitions: (defs != Definitions::default()).then_some(&defs),
        workflows: Some(&known),
    };
    let workflow = load_workflow(file, text, refs).map_err(DeployError::Invalid)?;
    let enroll_existing = workflow.enroll_existing;
    let deployed = catalog
        .deploy(workflow)
        .map_err(|e| DeployError::Invalid(vec![Diagnostic::error(file, "migrate", e)]))?;
    if let (Deployed::New(_), Some(latest)) = (deployed, catalog.latest(id)) {
        ports.catalog().put_workflow(latest).await?;
        if enroll_existing {
            ports.enroll_existing(id, now).await?;
        }
    }
    Ok(WorkflowDeployed {
        version: deployed.version(),
        changed: matches!(deployed, Deployed::New(_)),
    })
}

/// Deploys the definitions in `text`. Besides their own checks, every deployed workflow
/// must still find each segment and template it names. Template parts must be inline
/// (a file name means nothing to a server).
pub async fn deploy_definitions<P: Ports>(
    ports: &P,
    file: &str,
    text: &str,
) -> Result<Definitions, DeployError> {
    let defs: Definitions = parse_document(file, text).map_err(DeployError::Parse)?;
    let mut errors = defs.file_references(file);
    errors.extend(validate_definitions(&defs, file));
    let catalog = ports.catalog().catalog().await?;
    let known = catalog.ids();
    for workflow in catalog.latest_all() {
        let refs = References {
            definitions: Some(&defs),
            workflows: Some(&known),
        };
        let name = format!("workflow {}", workflow.id);
        if let Err(broken) = validate_workflow(workflow.doc.clone(), &name, refs) {
            errors.extend(broken.into_iter().map(|mut d| {
                d.message = format!(
                    "{} (deployed workflow `{}` would lose it)",
                    d.message, workflow.id
                );
                d
            }));
        }
    }
    if !errors.is_empty() {
        return Err(DeployError::Invalid(with_lines(errors, text)));
    }
    ports.catalog().put_definitions(&defs).await?;
    Ok(defs)
}
