//! Making schemars' output publishable, for the committed schemas (`kairos schema`) and
//! the OpenAPI document alike: integer and float formats that are not JSON Schema's own
//! are dropped (strict validators such as ajv refuse them), a step must have exactly one
//! kind, ids must be slugs, and a one-key variant's description sits on its key too.

use serde_json::{json, Value};

/// The step kinds: a step has exactly one of them.
const STEP_KINDS: [&str; 14] = [
    "send", "wait", "if", "split", "goal", "tag", "list", "score", "set", "start", "stop",
    "webhook", "goto", "end",
];

/// What `validate` calls a slug (`is_slug`): an ASCII letter or digit, then lowercase
/// letters, digits, `-` and `_`, 128 characters at most.
pub const SLUG: &str = "^[A-Za-z0-9][a-z0-9_-]{0,127}$";

/// Makes `document` publishable in place; its named schemas are at the JSON pointer
/// `definitions` (`/$defs` in a schema file, `/components/schemas` in OpenAPI).
pub fn publish(document: &mut Value, definitions: &str) {
    drop_rust_formats(document);
    describe_variant_keys(document);
    let Some(Value::Object(defs)) = document.pointer_mut(definitions) else {
        return;
    };
    if let Some(step) = defs.get_mut("StepDoc") {
        let one_of: Vec<Value> = STEP_KINDS
            .iter()
            .map(|k| json!({ "required": [k] }))
            .collect();
        step["oneOf"] = Value::Array(one_of);
        step["properties"]["id"]["pattern"] = json!(SLUG);
    }
    if let Some(workflow) = defs.get_mut("WorkflowDoc") {
        workflow["properties"]["id"]["pattern"] = json!(SLUG);
    }
    // Maps keyed by channel list each channel as a property.
    if let Some(delivery) = defs.get_mut("Delivery") {
        for policy in ["frequency_cap", "quiet_hours"] {
            if let Some(Value::Object(channels)) =
                delivery.pointer_mut(&format!("/properties/{policy}/properties"))
            {
                for (channel, schema) in channels.iter_mut() {
                    schema["description"] = json!(format!("For {channel} messages."));
                }
            }
        }
    }
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
