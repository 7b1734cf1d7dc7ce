//! Audiences: a segment's members, paged, and the same as hashed identifiers for ad
//! platforms' customer lists ([`crate::hashed`]); only members who take marketing.

use chrono::{DateTime, Utc};

use crate::engine::eval::Scope;
use crate::hashed::{hashed, takes_marketing};
use crate::language::definitions::Definitions;
use crate::model::contact::{Contact, ContactState};
use crate::ports::{ContactStore, PortError};

use super::broadcasts::PAGE;

/// At most this many pages of the store per call: a request answers in bounded time and
/// hands back a cursor to go on from (on DynamoDB a scan page may hold no contact).
const PAGES_AT_MOST: usize = 20;

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
    let mut pages = 0;
    loop {
        if found.len() >= limit || pages >= PAGES_AT_MOST {
            return Ok((found, cursor));
        }
        pages += 1;
        // A page no longer than the members still wanted: never more than `limit`.
        let size = (limit - found.len()).min(PAGE);
        let (ids, next) = store.contact_ids_after(cursor.as_deref(), size).await?;
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

/// One CSV row `email_sha256,phone_sha256` for a member who takes marketing (either may
/// be empty); `None` for one who does not, or who has neither.
pub fn hashed_row(contact: &Contact) -> Option<String> {
    if !takes_marketing(contact) {
        return None;
    }
    let ids = hashed(contact)?;
    Some(format!("{},{}", ids.email_sha256, ids.phone_sha256))
}

/// The CSV header of a hashed export.
pub const HASHED_HEADER: &str = "email_sha256,phone_sha256";
