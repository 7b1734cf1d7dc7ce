//! From text to documents: YAML or JSON, with the path inside the document and the line
//! of every error. Unknown keys are errors (`deny_unknown_fields` throughout the language).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diagnostic::Diagnostic;

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
pub fn parse_document<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, Diagnostic> {
    if text.trim().is_empty() {
        return Err(Diagnostic::error(file, "", "the file is empty"));
    }
    match Format::detect(file, text) {
        Format::Yaml => {
            let de = serde_yaml_ng::Deserializer::from_str(text);
            serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
                let path = display_path(e.path());
                let inner = e.into_inner();
                let line = inner.location().map(|l| l.line());
                let mut diag = Diagnostic::error(file, path, clean_message(&inner.to_string()));
                diag.line = line;
                diag
            })
        }
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
                let path = display_path(e.path());
                let inner = e.into_inner();
                let mut diag = Diagnostic::error(file, path, clean_message(&inner.to_string()));
                diag.line = (inner.line() > 0).then_some(inner.line());
                diag
            })
        }
    }
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
            if text[pos + marker.len()..].chars().next().is_some_and(|c| c.is_ascii_digit()) {
                text.truncate(pos);
            }
        }
    }
    text
}
