//! HTML for the pages the API serves (login, unsubscribe, the console) and the CLI's outbox.

/// `text` safe inside an element or a double-quoted attribute.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `text` as one percent-encoded URL component: everything but letters, digits and
/// `-_.~` is escaped, so an id holding `/`, `?` or spaces stays one path segment, and a
/// URL stays one query value.
pub fn url_component(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
