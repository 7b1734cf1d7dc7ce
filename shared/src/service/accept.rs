//! Accepting inputs exactly once.
//!
//! An input the client named (an event `id`, an SES notification's id) is claimed under
//! that name — but only *after* it is queued. Claiming first would lose it: a crash or a
//! Lambda timeout between the claim and the queue, and the client's retry finds the claim
//! and is told the input was accepted while nothing was ever queued. Queued first, a crash
//! before the claim makes the retry queue it again, and the engine applies it once: a
//! named input's fingerprint is its name ([`WorkItem::fingerprint`]), which the contact's
//! partition remembers. A name already claimed is not queued again.

use super::Ports;
use crate::ports::{ContactStore, PortError, WorkItem, WorkQueue};

/// One input to accept, with the name that makes a repeat of it the same input.
#[derive(Clone, Debug)]
pub struct Submission {
    pub item: WorkItem,
    /// A claim key (`event/<id>`); `None` when the client gave no name.
    pub dedupe: Option<String>,
}

/// Queues each submission not accepted before; how many were new. Stops at the first
/// failure: the submissions before it are accepted, that one and the rest are not (a
/// retry of the whole request accepts just those).
pub async fn accept<P: Ports>(
    ports: &P,
    submissions: impl IntoIterator<Item = Submission>,
) -> Result<usize, PortError> {
    let mut accepted = 0;
    for Submission { item, dedupe } in submissions {
        if let Some(key) = &dedupe {
            if ports.contacts().claimed(key).await? {
                continue;
            }
        }
        ports.work().push(item).await?;
        crate::failpoint::hit("accept.after_queue")?;
        match &dedupe {
            // A concurrent request with the same name may have claimed it in between; it
            // was queued twice then, and the engine applies it once.
            Some(key) => accepted += usize::from(ports.contacts().claim(key).await?),
            None => accepted += 1,
        }
    }
    Ok(accepted)
}
