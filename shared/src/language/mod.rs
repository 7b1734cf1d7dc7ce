//! The workflow language: document types (what users write), parsing with paths and
//! lines, validation into a compiled [`crate::program::Workflow`], and lint.

pub mod broadcast;
pub mod condition;
pub mod definitions;
pub mod expr;
pub mod lines;
pub mod lint;
pub mod nesting;
pub mod parse;
pub mod schema;
pub mod step;
pub mod validate;
pub mod workflow;

use crate::diagnostic::Diagnostic;
use crate::program::Workflow;
use definitions::Definitions;
use lines::LineIndex;
use validate::References;
use workflow::WorkflowDoc;

/// Parses and validates a workflow file. Errors name the file, the path and the line.
pub fn load_workflow(
    file: &str,
    text: &str,
    refs: References<'_>,
) -> Result<Workflow, Vec<Diagnostic>> {
    let doc: WorkflowDoc = parse::parse_document(file, text).map_err(|d| vec![d])?;
    validate::validate_workflow(doc, file, refs).map_err(|errors| with_lines(errors, text))
}

/// Parses and validates a definitions file.
pub fn load_definitions(file: &str, text: &str) -> Result<Definitions, Vec<Diagnostic>> {
    let defs: Definitions = parse::parse_document(file, text).map_err(|d| vec![d])?;
    let errors = validate::validate_definitions(&defs, file);
    if errors.is_empty() {
        Ok(defs)
    } else {
        Err(with_lines(errors, text))
    }
}

/// Fills in the line of each diagnostic from its path.
pub fn with_lines(mut diagnostics: Vec<Diagnostic>, text: &str) -> Vec<Diagnostic> {
    let index = LineIndex::new(text);
    for d in diagnostics.iter_mut().filter(|d| d.line.is_none()) {
        d.line = index.line_of(&d.path);
    }
    diagnostics
}
