//! `kairos schema`: the JSON Schema generated from the language's own types, so editors can
//! complete and check workflow files (e.g. `# yaml-language-server: $schema=…`).

use kairos_core::language::definitions::Definitions;
use kairos_core::language::workflow::WorkflowDoc;

pub fn run(definitions: bool) -> Result<(), String> {
    let schema = if definitions {
        schemars::schema_for!(Definitions)
    } else {
        schemars::schema_for!(WorkflowDoc)
    };
    let text = serde_json::to_string_pretty(&schema).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}
