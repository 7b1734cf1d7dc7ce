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

/// Queues the submissions not accepted before, together (one write where the queue can),
/// then claims their names; how many were new. A failure accepts none of them (a retry of
/// the whole request queues them again, and the engine applies a named one once).
pub async fn accept<P: Ports>(
    ports: &P,
    submissions: impl IntoIterator<Item = Submission>,
) -> Result<usize, PortError> {
    let mut fresh = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for Submission { item, dedupe } in submissions {
        if let Some(key) = &dedupe {
            // Claimed before, or named twice in this request: accepted once.
            if !names.insert(key.clone()) || ports.contacts().claimed(key).await? {
                continue;
            }
        }
        fresh.push((item, dedupe));
    }
    let (items, names): (Vec<WorkItem>, Vec<Option<String>>) = fresh.into_iter().unzip();
    ports.work().push_all(items).await?;
    crate::failpoint::hit("accept.after_queue")?;
    let unnamed = names.iter().filter(|n| n.is_none()).count();
    let keys: Vec<String> = names.into_iter().flatten().collect();
    // A concurrent request with the same name may have claimed one in between; it was
    // queued twice then, and the engine applies it once.
    let claimed = ports.contacts().claim_all(&keys).await?;
    Ok(unnamed + claimed.into_iter().filter(|new| *new).count())
}
