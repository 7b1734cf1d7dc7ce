//! A contact as a change will leave it.
//!
//! `PUT /v1/contacts/{id}` answers with the contact as it will be once its inputs are
//! applied, while the engine applies them later, in order with everything else that
//! happens to the contact. The preview runs those inputs through the engine itself on a
//! copy of the stored partition, so the answer cannot disagree with what is stored
//! (a field sent as `null` is removed, `fields.email` is the address, triggers start
//! runs); the copy and its effects are dropped.

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::engine::{process, Input};
use crate::model::contact::{Contact, ContactState};

/// `stored` (or a new contact `id`) after `inputs`, at `now`.
pub fn preview(
    catalog: &Catalog,
    stored: Option<ContactState>,
    id: &str,
    inputs: &[Input],
    now: DateTime<Utc>,
) -> ContactState {
    let mut state = stored.unwrap_or_else(|| ContactState::new(Contact::new(id.to_string(), now)));
    for input in inputs {
        // The output (journal, effects) is the real run's to produce, not the preview's.
        let _ = process(catalog, &mut state, input.clone(), now);
    }
    state
}
