//! From text to documents: YAML or JSON, with the path inside the document and the line
//! of every error. Unknown keys are errors (`deny_unknown_fields` throughout the language).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::language::lines::LineIndex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// `.json` files, and text that starts with `{`, are JSON; everything else is YAML.
    pub fn detect(file: &str, text: &str) -> Format {
        if file.ends_with(".json") || text.trim_start().starts_with('{') {
            Format::Json
        } else {
            Format::Yaml
        }
    }
}

/// Parses one document of type `T`, naming the file, the path and the line of any error.
///
/// The text is first read into a plain value (syntax errors carry the parser's line), then
/// shaped into `T` (shape errors carry the path, and the line is looked up from the path).
/// Going through a plain value also lets enums be written as one-key maps (`{ tag: vip }`)
/// in YAML exactly as in JSON.
pub fn parse_document<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, Diagnostic> {
    if text.trim().is_empty() {
        return Err(Diagnostic::error(file, "", "the file is empty"));
    }
    crate::language::nesting::check_nesting(file, text)?;
    let value: Value = match Format::detect(file, text) {
        Format::Yaml => serde_yaml_ng::from_str(text).map_err(|e| {
            let mut diag = Diagnostic::error(
                file,
                "",
                format!("YAML syntax: {}", clean_message(&e.to_string())),
            );
            diag.line = e.location().map(|l| l.line());
            diag
        })?,
        Format::Json => serde_json::from_str(text).map_err(|e| {
            let mut diag = Diagnostic::error(
                file,
                "",
                format!("JSON syntax: {}", clean_message(&e.to_string())),
            );
            diag.line = (e.line() > 0).then_some(e.line());
            diag
        })?,
    };
    if !value.is_object() {
        let found = match value {
            Value::Array(_) => "a list",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            _ => "nothing",
        };
        let mut diag = Diagnostic::error(
            file,
            "",
            format!("the file must hold a map of keys (e.g. `id:`, `steps:`), not {found}"),
        );
        diag.line = Some(1);
        return Err(diag);
    }
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = display_path(e.path());
        let mut diag = Diagnostic::error(file, path.clone(), e.into_inner().to_string());
        diag.line = LineIndex::new(text).line_of(&path);
        diag
    })
}

/// Deserializes a nested part that was first read as a plain value (the shapes that are
/// "a scalar or a map"), keeping the inner path in the message.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = display_path(e.path());
        let inner = e.into_inner().to_string();
        if path.is_empty() {
            inner
        } else {
            format!("at {path}: {inner}")
        }
    })
}

fn display_path(path: &serde_path_to_error::Path) -> String {
    let text = path.to_string();
    if text == "." {
        String::new()
    } else {
        text
    }
}

/// The parsers append their own position ("at line 3 column 5"); we report it separately.
fn clean_message(message: &str) -> String {
    let mut text = message.to_string();
    for marker in [" at line ", ", line "] {
        if let Some(pos) = text.rfind(marker) {
            if text[pos + marker.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
            {
                text.truncate(pos);
            }
        }
    }
    text
}
