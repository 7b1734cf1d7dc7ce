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
        let message = clean_message(&e.into_inner().to_string());
        let mut diag = Diagnostic::error(file, path.clone(), message);
        diag.line = LineIndex::new(text).line_of(&path);
        diag
    })
}

/// Deserializes a nested part that was first read as a plain value (the shapes that are
/// "a scalar or a map"), keeping the inner path in the message.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = display_path(e.path());
        let inner = clean_message(&e.into_inner().to_string());
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
/// What a user writes where serde says `expected struct X`: words and an example, never a
/// Rust type name.
fn shape_of(rust_type: &str) -> &'static str {
    match rust_type {
        "WaitStep" => "a map such as `{ for: 3d }`, `{ until: { tag: vip }, timeout: 7d }` or `{ until_time: \"09:00\" }`",
        "EventTest" => "a map such as `{ name: purchase, within: 30d }`",
        "FieldTest" => "a map such as `{ name: plan, eq: pro }`",
        "ScoreTest" => "a map such as `{ gte: 10 }` (with `name:` for another score than `lead`)",
        "SendStep" => "a map such as `{ channel: email, template: welcome }`",
        "GoalStep" => "a map such as `{ when: { tag: customer }, otherwise: wait }`",
        "TagStep" => "a map such as `{ add: [vip] }` or `{ remove: [trial] }`",
        "ListStep" => "a map such as `{ join: [newsletter] }` or `{ leave: [newsletter] }`",
        "WebhookStep" => "a map such as `{ url: \"https://…\", method: post }`",
        "Entry" => "a map such as `{ triggers: [ { event: signed_up } ] }`",
        "SumTest" => "a map such as `{ of: amount, gt: 70 }`",
        _ => "a map of keys",
    }
}

fn clean_message(message: &str) -> String {
    let mut text = message.to_string();
    for article in ["expected struct ", "expected enum "] {
        if let Some(pos) = text.find(article) {
            let rest = &text[pos + article.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .unwrap_or(rest.len());
            let shape = if article == "expected struct " {
                shape_of(&rest[..end])
            } else {
                "one of the allowed values"
            };
            text = format!("{}expected {shape}{}", &text[..pos], &rest[end..]);
        }
    }
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
