//! Provider feedback about a sent email (SES's delivery, open, bounce … records, already
//! attributed to a contact): which of it the engine must see, and which only the journal.
//!
//! A delivery (or a delivery delay) that no deployed document names changes nothing but a
//! report's count, so it is journaled on the message's step directly: no queue message,
//! no evaluation, no contact write — per email, most of what feedback cost. Everything
//! else (opens and clicks are engagement, bounces and complaints consent) is an input.

use crate::catalog::Catalog;
use crate::model::event::Event;
use crate::model::journal::{feedback_entry, JOURNAL_ONLY_FEEDBACK};
use crate::ports::{ContactStore, PortError};

/// What became of a piece of feedback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Journaled (or its contact is gone): nothing more to do.
    Journaled,
    /// The engine must see it: queue it as the contact's input.
    Input,
}

/// Journals `event` for `contact` when only reports read it. A redelivered notification
/// journals the same entry again, which the store keeps once (entries are keyed by
/// content), so no claim is needed; a deleted contact gets nothing (also when deleted
/// while this runs), a merged one's feedback lands on the profile it went into. Such
/// deliveries do not enter the contact's history: a workflow deployed later that counts
/// `email_delivered` sees the deliveries from then on.
pub async fn journal_only<S: ContactStore>(
    store: &S,
    catalog: &Catalog,
    contact: &str,
    event: &Event,
) -> Result<Handled, PortError> {
    let name = event.name.as_str();
    if !JOURNAL_ONLY_FEEDBACK.contains(&name) || catalog.mentions_feedback(name) {
        return Ok(Handled::Input);
    }
    // Only the contact's id is wanted (the entry goes to its journal): a recent read.
    let Some(state) = crate::identity::resolve_recent(store, contact).await? else {
        return Ok(Handled::Journaled);
    };
    let entry = feedback_entry(event, &state.contact.id, event.at).filter(|e| {
        e.index_name()
            .is_some_and(|i| catalog.knows_journal_index(&i))
    });
    match entry {
        Some(entry) => {
            store.append_journal(&[entry]).await?;
            // Deleted meanwhile (the engine's conditional save would have noticed): the
            // deletion runs again, taking the entry just written with it. The tombstone
            // says so (a contact created again lifts it), without reading the contact.
            let id = state.contact.id;
            if let Some(at) = store.deleted_at(&id).await? {
                store.delete(&id, at).await?;
            }
            Ok(Handled::Journaled)
        }
        // Feedback about no message of ours (no workflow or step tags, or tags naming
        // nothing deployed): the engine records it in the history, as before.
        None => Ok(Handled::Input),
    }
}
