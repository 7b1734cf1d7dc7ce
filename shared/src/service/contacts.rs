//! A contact as a change will leave it, and a contact's deletion.
//!
//! `PUT /v1/contacts/{id}` answers with the contact as it will be once its inputs are
//! applied, while the engine applies them later, in order with everything else that
//! happens to the contact. The preview runs those inputs through the engine itself on a
//! copy of the stored partition, so the answer cannot disagree with what is stored
//! (a field sent as `null` is removed, `fields.email` is the address, triggers start
//! runs); the copy and its effects are dropped.

use chrono::{DateTime, Utc};

use super::Ports;
use crate::catalog::Catalog;
use crate::engine::{process, Input};
use crate::model::contact::{Contact, ContactState};
use crate::ports::{CatalogStore, PortError, WorkItem, WorkQueue};

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

/// Deletes a contact (and the profiles merged into it) for good. Its removals from the
/// synced ad audiences it is in are queued first: a crash before the records go leaves
/// the contact, and the client's retry queues them again — each removal's key is claimed
/// at dispatch, so it is posted once.
pub async fn delete<P: Ports>(ports: &P, id: &str, now: DateTime<Utc>) -> Result<(), PortError> {
    if let Some(state) = crate::identity::resolve(ports.contacts(), id).await? {
        let catalog = ports.catalog().catalog().await?;
        let calls = crate::engine::audiences::farewell(&state, catalog.definitions());
        if !calls.is_empty() {
            // Queued under a key of its own: the deletion removes everything stored under
            // the contact's id, queued payloads included (ids hold no `#`: no contact has
            // this one).
            ports
                .work()
                .push(WorkItem {
                    contact: format!("{}#farewell", state.contact.id),
                    input: Input::Farewell { calls },
                    at: now,
                })
                .await?;
        }
    }
    crate::identity::delete(ports.contacts(), id, now).await
}
