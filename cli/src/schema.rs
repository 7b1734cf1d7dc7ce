//! `kairos schema`: the JSON Schemas (2020-12) of workflow, definitions and scenario files,
//! generated from the language's own types and made publishable: integer and float
//! formats that are not JSON Schema's own are dropped, a step must have exactly one kind,
//! ids must be slugs. The committed copies under `schemas/` are what editors load
//! (`# yaml-language-server: $schema=…` in every example); a test fails when they are stale.

use std::io::Write;

use kairos_core::language::definitions::Definitions;
use kairos_core::language::schema;
use kairos_core::language::workflow::WorkflowDoc;
use serde_json::{json, Value};

/// Which file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Workflow,
    Definitions,
    Scenario,
    /// The HTTP API's OpenAPI document (already publishable).
    OpenApi,
}

/// The schema of `format`, publishable.
pub fn schema(format: Format) -> Value {
    let generated = match format {
        Format::Workflow => schemars::schema_for!(WorkflowDoc),
        Format::Definitions => schemars::schema_for!(Definitions),
        Format::Scenario => crate::scenario::schema(),
        Format::OpenApi => return kairos_api::openapi::document(),
    };
    let mut value = serde_json::to_value(generated).unwrap_or(Value::Null);
    schema::publish(&mut value, "/$defs");
    if format == Format::Workflow {
        value["properties"]["id"]["pattern"] = json!(schema::SLUG);
    }
    value
}

pub fn run(format: Format) -> Result<(), String> {
    let text = serde_json::to_string_pretty(&schema(format)).map_err(|e| e.to_string())?;
    // A closed pipe (`kairos schema | head`) ends the output, not the program with a panic.
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
        _ => Ok(()),
    }
}
