//! Audiences: a segment's members, paged, and the same as hashed identifiers for ad
//! platforms' customer lists (Meta custom audiences, Google Customer Match): email trimmed
//! and lower-cased, phone as E.164 digits without `+`, each SHA-256 in hex; only members
//! who take marketing (not unsubscribed, no hard bounce or complaint).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::engine::eval::Scope;
use crate::language::definitions::Definitions;
use crate::model::contact::{Contact, ContactState};
use crate::ports::{ContactStore, PortError};

/// Contacts looked at per page of a store.
const PAGE: usize = 500;
/// At most this many contacts looked at per call: a request answers in bounded time and
/// hands back a cursor to go on from.
const LOOK_AT_MOST: usize = 20 * PAGE;

/// Why members cannot be listed.
#[derive(Debug, PartialEq)]
pub enum AudienceError {
    UnknownSegment,
    Port(PortError),
}

impl From<PortError> for AudienceError {
    fn from(e: PortError) -> AudienceError {
        AudienceError::Port(e)
    }
}

/// Up to `limit` members of `segment` after `cursor`, as they are at `now`, and the
/// cursor to go on from (`None`: no more contacts).
pub async fn members<S: ContactStore>(
    store: &S,
    definitions: &Definitions,
    segment: &str,
    cursor: Option<String>,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<(Vec<ContactState>, Option<String>), AudienceError> {
    let condition = definitions
        .segments
        .get(segment)
        .ok_or(AudienceError::UnknownSegment)?;
    let mut found = Vec::new();
    let mut cursor = cursor;
    let mut looked = 0;
    loop {
        if found.len() >= limit || looked >= LOOK_AT_MOST {
            return Ok((found, cursor));
        }
        // A page no longer than the members still wanted: never more than `limit`.
        let size = (limit - found.len()).min(PAGE);
        let (ids, next) = store.contact_ids_after(cursor.as_deref(), size).await?;
        looked += ids.len();
        for id in ids {
            let Some(state) = store.load(&id).await?.filter(|s| s.merged_into.is_none()) else {
                continue;
            };
            let scope = Scope {
                state: &state,
                definitions,
                now,
                run: None,
            };
            if scope.holds(condition) {
                found.push(state);
            }
        }
        cursor = next;
        if cursor.is_none() {
            return Ok((found, None));
        }
    }
}

/// Whether the contact takes marketing (what ad audiences may contain).
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

/// One CSV row `email_sha256,phone_sha256` for a member who takes marketing (either may
/// be empty); `None` for one who does not, or who has neither.
pub fn hashed_row(contact: &Contact) -> Option<String> {
    if !takes_marketing(contact) {
        return None;
    }
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
    Some(format!(
        "{},{}",
        email.map(|e| sha256_hex(&e)).unwrap_or_default(),
        phone.map(|p| sha256_hex(&p)).unwrap_or_default()
    ))
}

/// The CSV header of a hashed export.
pub const HASHED_HEADER: &str = "email_sha256,phone_sha256";

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
