//! Rendering messages with Liquid (the syntax marketers know from Braze, Customer.io and
//! Shopify): `{{ contact.* }}`, `{{ event.* }}` (the event that started the run) and
//! `{{ run.* }}`, with the standard filters (`default`, `date`, `upcase`, …).
//!
//! A variable the contact does not have is an error — a render error suppresses the
//! message (`render_error`) rather than sending "Hi ," — unless the output gives a
//! `default`, which then applies (the variable is filled with nil first, because the
//! Liquid crate refuses unknown variables even before a `default` filter).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};

use crate::language::definitions::Template;
use crate::model::contact::ContactState;
use crate::model::effect::Message;

/// A template rendered for one contact.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
}

fn parser() -> &'static liquid::Parser {
    static PARSER: OnceLock<liquid::Parser> = OnceLock::new();
    PARSER.get_or_init(|| {
        liquid::ParserBuilder::with_stdlib()
            .build()
            .unwrap_or_else(|_| liquid::Parser::default())
    })
}

/// A template part parsed, with the variables it guards with `default` (filled with nil
/// before it renders).
struct Compiled {
    template: liquid::Template,
    defaulted: Vec<(&'static str, String)>,
}

/// How much template source stays parsed: every deployed template's, many times over;
/// past it the cache starts again (a long-lived function after many deploys of large
/// HTML: bounded in bytes of source — parsed, a part is several times larger — so a
/// 128 MB Lambda never fills with old versions).
const COMPILED_BYTES_KEPT: usize = 1 << 20;

/// `source` parsed once per process, not once per message: parsing is the larger part of
/// a render (7 % of a simulated year's time when every message parsed its parts).
fn compiled(source: &str) -> Result<Arc<Compiled>, String> {
    /// Parts by source, and their sources' total size.
    type Cache = (HashMap<String, Arc<Compiled>>, usize);
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let lock = || cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = lock().0.get(source) {
        return Ok(Arc::clone(found));
    }
    let template = parser()
        .parse(source)
        .map_err(|e| one_line(&e.to_string()))?;
    let defaulted = ["contact", "event", "run"]
        .into_iter()
        .flat_map(|root| {
            variables(source, root)
                .into_iter()
                .filter(|(_, has_default)| *has_default)
                .map(move |(name, _)| (root, name))
        })
        .collect();
    let made = Arc::new(Compiled {
        template,
        defaulted,
    });
    let (parts, bytes) = &mut *lock();
    if *bytes + source.len() > COMPILED_BYTES_KEPT {
        parts.clear();
        *bytes = 0;
    }
    if parts
        .insert(source.to_string(), Arc::clone(&made))
        .is_none()
    {
        *bytes += source.len();
    }
    Ok(made)
}

/// Syntax errors per part (`subject`, `html`, …), for validation at deploy time.
pub fn check(template: &Template) -> Vec<(&'static str, String)> {
    template
        .parts()
        .filter_map(|(part, source)| {
            parser()
                .parse(source)
                .err()
                .map(|e| (part, one_line(&e.to_string())))
        })
        .collect()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `root.key` names used in outputs and tags, and whether the output has a `default`.
pub fn variables(source: &str, root: &str) -> Vec<(String, bool)> {
    let prefix = format!("{root}.");
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close_marker = match after.chars().next() {
            Some('{') => "}}",
            Some('%') => "%}",
            _ => {
                rest = after;
                continue;
            }
        };
        let Some(close) = after.find(close_marker) else {
            break;
        };
        let inner = &after[1..close];
        let has_default = inner.contains("default");
        let mut search = inner;
        while let Some(pos) = search.find(&prefix) {
            let boundary = pos == 0 || !search.as_bytes()[pos - 1].is_ascii_alphanumeric();
            let name: String = search[pos + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if boundary && !name.is_empty() {
                found.push((name, has_default));
            }
            search = &search[pos + prefix.len()..];
        }
        rest = &after[close + 2..];
    }
    found
}

/// The variables a message renders with.
pub fn context(message: &Message, state: &ContactState, unsubscribe_url: Option<&str>) -> Value {
    let c = &state.contact;
    let mut contact = Map::new();
    contact.insert("id".into(), Value::from(c.id.clone()));
    if let Some(email) = &c.email {
        contact.insert("email".into(), Value::from(email.clone()));
    }
    if let Some(phone) = &c.phone {
        contact.insert("phone".into(), Value::from(phone.clone()));
    }
    contact.insert("timezone".into(), Value::from(c.timezone.name()));
    contact.insert(
        "tags".into(),
        Value::from(c.tags.iter().cloned().collect::<Vec<_>>()),
    );
    contact.insert(
        "lists".into(),
        Value::from(c.lists.iter().cloned().collect::<Vec<_>>()),
    );
    for (k, v) in &c.fields {
        contact.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let mut event = Map::new();
    if let Some(e) = &message.event {
        event.extend(e.props.clone());
        event.insert("name".into(), Value::from(e.name.clone()));
        event.insert("at".into(), Value::from(e.at.to_rfc3339()));
    }
    let run = serde_json::json!({ "id": message.run, "workflow": message.workflow, "step": message.step, "template": message.template });
    let mut vars = serde_json::json!({ "contact": contact, "event": event, "run": run });
    // A broadcast's message also sees its business event as `broadcast.event.*`.
    if let Some(broadcast) = &message.broadcast {
        vars["broadcast"] =
            serde_json::json!({ "id": broadcast, "run": message.run, "event": event });
    }
    // Always defined (empty for transactional mail), so a shared footer still renders.
    vars["unsubscribe_url"] = Value::from(unsubscribe_url.unwrap_or_default());
    vars
}

/// Renders every part of `template` with `vars`; the first failure is the error.
pub fn render(template: &Template, vars: &Value) -> Result<Rendered, String> {
    let one = |part: Option<&String>| -> Result<Option<String>, String> {
        let Some(source) = part else { return Ok(None) };
        let compiled = compiled(source)?;
        // Each part gets nil only for the variables it itself guards with `default`.
        let mut vars = std::borrow::Cow::Borrowed(vars);
        for (root, name) in &compiled.defaulted {
            let missing = |vars: &Value| matches!(vars.get(*root), Some(Value::Object(map)) if !map.contains_key(name));
            if missing(&vars) {
                if let Some(Value::Object(map)) = vars.to_mut().get_mut(*root) {
                    map.insert(name.clone(), Value::Null);
                }
            }
        }
        let globals =
            liquid::model::to_object(vars.as_ref()).map_err(|e| one_line(&e.to_string()))?;
        compiled
            .template
            .render(&globals)
            .map(Some)
            .map_err(|e| one_line(&e.to_string()))
    };
    let body = (template.text.as_ref())
        .or(template.sms.as_ref())
        .or(template.push.as_ref());
    let rendered = Rendered {
        // A subject is one header line, whatever the contact's fields hold.
        subject: one(template.subject.as_ref())?.map(|s| crate::address::header_line(&s)),
        html: one(template.html.as_ref())?,
        text: one(body)?,
    };
    if [&rendered.subject, &rendered.html, &rendered.text]
        .iter()
        .all(|p| p.as_deref().is_none_or(|t| t.trim().is_empty()))
    {
        return Err("the rendered message is blank".into());
    }
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(subject: &str, text: &str) -> Template {
        Template {
            subject: Some(subject.into()),
            text: Some(text.into()),
            ..Template::default()
        }
    }

    #[test]
    fn renders_contact_event_and_run_with_filters() {
        let vars = serde_json::json!({ "contact": { "first_name": "ann" }, "event": { "item_count": 3 }, "run": { "workflow": "cart" } });
        let t = template(
            "Hi {{ contact.first_name | upcase }}",
            "{{ event.item_count }} items ({{ run.workflow }})",
        );
        let r = render(&t, &vars).unwrap();
        assert_eq!(r.subject.as_deref(), Some("Hi ANN"));
        assert_eq!(r.text.as_deref(), Some("3 items (cart)"));
    }

    #[test]
    fn a_part_parsed_once_renders_each_contact_with_its_own_variables() {
        let t = template("Welcome, {{ contact.first_name | default: 'friend' }}", "x");
        let ann = serde_json::json!({ "contact": { "first_name": "Ann" }, "event": {}, "run": {} });
        let nobody = serde_json::json!({ "contact": {}, "event": {}, "run": {} });
        for (vars, subject) in [
            (&ann, "Welcome, Ann"),
            (&nobody, "Welcome, friend"),
            (&ann, "Welcome, Ann"),
        ] {
            assert_eq!(render(&t, vars).unwrap().subject.as_deref(), Some(subject));
        }
        // The caller's variables are never filled in with the defaulted nil.
        assert_eq!(nobody["contact"], serde_json::json!({}));
    }

    #[test]
    fn default_applies_to_a_missing_variable_and_a_bare_missing_one_fails() {
        let vars = serde_json::json!({ "contact": {}, "event": {}, "run": {} });
        let r = render(
            &template("Welcome, {{ contact.first_name | default: 'friend' }}", "x"),
            &vars,
        )
        .unwrap();
        assert_eq!(r.subject.as_deref(), Some("Welcome, friend"));
        let err = render(&template("Welcome, {{ contact.first_name }}", "x"), &vars).unwrap_err();
        assert!(err.contains("first_name"), "{err}");
    }

    #[test]
    fn syntax_errors_are_found_per_part() {
        let errors = check(&template("Hi {{ contact.name ", "{% if %}"));
        assert_eq!(
            errors.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            vec!["subject", "text"]
        );
    }

    #[test]
    fn a_blank_result_is_an_error() {
        let vars = serde_json::json!({ "contact": {}, "event": {}, "run": {} });
        assert!(render(&template("{{ contact.x | default: '' }}", " "), &vars).is_err());
    }
}
