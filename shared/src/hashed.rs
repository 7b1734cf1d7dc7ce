//! A contact's identifiers as ad platforms take them for customer lists (Meta custom
//! audiences, Google Customer Match): email trimmed and lower-cased, phone as E.164
//! digits without `+`, each SHA-256 in lower-case hex — and whether the contact may be in
//! such a list at all (it takes marketing).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::contact::Contact;

/// The hashed identifiers of one contact (either may be empty, not both).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashedIds {
    pub email_sha256: String,
    pub phone_sha256: String,
}

/// Whether the contact takes marketing: not unsubscribed, no hard bounce, no complaint.
pub fn takes_marketing(contact: &Contact) -> bool {
    let c = &contact.consent;
    !c.unsubscribed && !c.bounced && !c.complained
}

/// An email as the ad platforms hash it: trimmed, lower-case.
pub fn normal_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A phone number as the ad platforms hash it: digits only, with the country code, no
/// `+` (`+49 151 1234-5678` → `4915112345678`; `0049…` → `49…`).
pub fn normal_phone(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix("00") {
        Some(rest) if !phone.trim_start().starts_with('+') => rest.to_string(),
        _ => digits,
    }
}

/// SHA-256 in lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The contact's hashed identifiers; `None` when it has neither an email nor a phone.
pub fn hashed(contact: &Contact) -> Option<HashedIds> {
    let email = contact
        .email
        .as_deref()
        .map(normal_email)
        .filter(|e| !e.is_empty());
    let phone = contact
        .phone
        .as_deref()
        .map(normal_phone)
        .filter(|p| !p.is_empty());
    if email.is_none() && phone.is_none() {
        return None;
    }
    Some(HashedIds {
        email_sha256: email.map(|e| sha256_hex(&e)).unwrap_or_default(),
        phone_sha256: phone.map(|p| sha256_hex(&p)).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_as_the_ad_platforms_say() {
        assert_eq!(
            normal_email("  Ann.Lee@Example.COM "),
            "ann.lee@example.com"
        );
        assert_eq!(normal_phone("+49 151 1234-5678"), "4915112345678");
        assert_eq!(normal_phone("0049 151 12345678"), "4915112345678");
        assert_eq!(normal_phone("+1 (555) 010-0199"), "15550100199");
        // SHA-256 of "abc", as the standard's test vector says.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
