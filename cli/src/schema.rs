//! `kairos schema`: the JSON Schemas (2020-12) of workflow, definitions and scenario files,
//! generated from the language's own types and made publishable: integer and float
//! formats that are not JSON Schema's own are dropped, a step must have exactly one kind,
//! ids must be slugs. The committed copies under `schemas/` are what editors load
//! (`# yaml-language-server: $schema=…` in every example); a test fails when they are stale.

use std::io::Write;

use kairos_core::language::definitions::Definitions;
use kairos_core::language::workflow::WorkflowDoc;
use serde_json::{json, Value};

/// Which file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Workflow,
    Definitions,
    Scenario,
}

/// The step kinds: a step has exactly one of them.
const STEP_KINDS: [&str; 14] = [
    "send", "wait", "if", "split", "goal", "tag", "list", "score", "set", "start", "stop",
    "webhook", "goto", "end",
];

/// What `validate` calls a slug (`is_slug`): an ASCII letter or digit, then lowercase
/// letters, digits, `-` and `_`, 128 characters at most.
const SLUG: &str = "^[A-Za-z0-9][a-z0-9_-]{0,127}$";

/// The schema of `format`, publishable.
pub fn schema(format: Format) -> Value {
    let generated = match format {
        Format::Workflow => schemars::schema_for!(WorkflowDoc),
        Format::Definitions => schemars::schema_for!(Definitions),
        Format::Scenario => crate::scenario::schema(),
    };
    let mut value = serde_json::to_value(generated).unwrap_or(Value::Null);
    drop_rust_formats(&mut value);
    describe_variant_keys(&mut value);
    if let Some(defs) = value.get_mut("$defs") {
        if let Some(step) = defs.get_mut("StepDoc") {
            let one_of: Vec<Value> = STEP_KINDS
                .iter()
                .map(|k| json!({ "required": [k] }))
                .collect();
            step["oneOf"] = Value::Array(one_of);
            step["properties"]["id"]["pattern"] = json!(SLUG);
        }
    }
    if format == Format::Workflow {
        value["properties"]["id"]["pattern"] = json!(SLUG);
    }
    if format == Format::Definitions {
        // Maps keyed by channel list each channel as a property.
        for policy in ["frequency_cap", "quiet_hours"] {
            let keys = &mut value["$defs"]["Delivery"]["properties"][policy]["properties"];
            if let Value::Object(channels) = keys {
                for (channel, schema) in channels.iter_mut() {
                    schema["description"] = json!(format!("For {channel} messages."));
                }
            }
        }
    }
    value
}

/// An enum written as one key (`{ tag: vip }`) is a `oneOf` of single-key objects whose
/// description sits on the object; editors show a key's own description on hover, so it
/// is repeated there.
fn describe_variant_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(variants)) = map.get_mut("oneOf") {
                for variant in variants.iter_mut() {
                    let description = variant.get("description").cloned();
                    let Some(Value::Object(props)) = variant.get_mut("properties") else {
                        continue;
                    };
                    if let (Some(d), 1) = (description, props.len()) {
                        for prop in props.values_mut() {
                            if prop.get("description").is_none() {
                                if let Value::Object(p) = prop {
                                    p.insert("description".into(), d.clone());
                                }
                            }
                        }
                    }
                }
            }
            map.values_mut().for_each(describe_variant_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(describe_variant_keys),
        _ => {}
    }
}

/// `int64`, `uint32`, `double` … are Rust's names, not JSON Schema formats: strict
/// validators (ajv) refuse them.
fn drop_rust_formats(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let rust = map.get("format").and_then(Value::as_str).is_some_and(|f| {
                matches!(
                    f,
                    "int8"
                        | "int16"
                        | "int32"
                        | "int64"
                        | "uint"
                        | "uint8"
                        | "uint16"
                        | "uint32"
                        | "uint64"
                        | "float"
                        | "double"
                )
            });
            if rust {
                map.remove("format");
            }
            map.values_mut().for_each(drop_rust_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_rust_formats),
        _ => {}
    }
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
