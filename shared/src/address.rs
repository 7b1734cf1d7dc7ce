//! Email addresses and mailboxes, parsed at the boundary into types that cannot hold a
//! value that would break a header: no CR, LF or other control character, no spaces, no
//! angle brackets, one `@`, at most 254 bytes.
//!
//! The rule is the WHATWG HTML "valid email address" (what browsers check in an
//! `<input type=email>`): a practical subset of RFC 5322 without quoted local parts or
//! comments, which no marketing list needs and which are where header injection hides.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An email address, valid by construction (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

/// Longest address SMTP can carry (RFC 5321: a 256-byte path minus the angle brackets).
const MAX_ADDRESS: usize = 254;

fn local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c)
}

fn valid_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

impl EmailAddress {
    /// Parses an address; the message says what is wrong, for a 400 naming the field.
    pub fn parse(text: &str) -> Result<EmailAddress, String> {
        let problem = |why: &str| Err(format!("`{}` is not an email address: {why}", shown(text)));
        if text.len() > MAX_ADDRESS {
            return problem("longer than 254 bytes");
        }
        let Some((local, domain)) = text.split_once('@') else {
            return problem("it has no `@`");
        };
        if local.is_empty() || !local.chars().all(local_char) {
            return problem(
                "the part before `@` may hold only letters, digits and .!#$%&'*+/=?^_`{|}~-",
            );
        }
        if !domain.split('.').all(valid_label) {
            return problem("the domain must be labels of letters, digits and `-`, joined by dots");
        }
        Ok(EmailAddress(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most 80 characters of what was given, control characters escaped, for messages.
fn shown(text: &str) -> String {
    text.chars().take(80).flat_map(char::escape_debug).collect()
}

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(text: String) -> Result<EmailAddress, String> {
        EmailAddress::parse(&text)
    }
}

impl From<EmailAddress> for String {
    fn from(address: EmailAddress) -> String {
        address.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sender: an address with an optional display name (`Kairos <news@example.com>`). The
/// name holds no control character; a mail library quotes or encodes it as it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: EmailAddress,
}

impl Mailbox {
    /// `addr@example.com`, `Name <addr@example.com>` or `"Name" <addr@example.com>`.
    pub fn parse(text: &str) -> Result<Mailbox, String> {
        let text = text.trim();
        let Some(open) = text.find('<').filter(|_| text.ends_with('>')) else {
            return Ok(Mailbox {
                name: None,
                address: EmailAddress::parse(text)?,
            });
        };
        let address = EmailAddress::parse(&text[open + 1..text.len() - 1])?;
        let name = text[..open].trim().trim_matches('"').trim();
        if name
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '<' || c == '>')
        {
            return Err(format!(
                "`{}`: a sender's name cannot hold quotes, angle brackets or control characters",
                shown(text)
            ));
        }
        Ok(Mailbox {
            name: (!name.is_empty()).then(|| name.to_string()),
            address,
        })
    }
}

/// One line of header text: every control character (CR and LF above all) becomes a
/// space, so text from a contact or a template can never start a header of its own.
pub fn header_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for good in ["ann@example.com", "a.b+tag@sub.example.co", "x@localhost"] {
            assert!(EmailAddress::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "not an email<script>",
            "ann@example.com\r\nBcc: x@evil.test",
            "ann@@example.com",
            "ann@-example.com",
            "<ann@example.com>",
            "ann@exa mple.com",
            "\"quoted\"@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(EmailAddress::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn mailboxes() {
        let m = Mailbox::parse("Kairos <kairos@example.com>").unwrap();
        assert_eq!(m.name.as_deref(), Some("Kairos"));
        assert_eq!(m.address.as_str(), "kairos@example.com");
        assert_eq!(Mailbox::parse("kairos@example.com").unwrap().name, None);
        assert_eq!(
            Mailbox::parse("\"Kairos News\" <n@example.com>")
                .unwrap()
                .name
                .as_deref(),
            Some("Kairos News")
        );
        assert!(Mailbox::parse("Evil\r\nBcc: x@y.test <n@example.com>").is_err());
        assert_eq!(
            header_line("Hi Ann\r\nBcc: x@y.test"),
            "Hi Ann  Bcc: x@y.test"
        );
    }
}
