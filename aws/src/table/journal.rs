//! Journal entries in the contact's partition, and the sparse `by-workflow` index a
//! workflow's report reads.

use super::{
    body, contact_pk, key, s, to_json, workflow_pk, Table, WORKFLOW_INDEX, WORKFLOW_SHARDS,
};
use crate::port_error;
use kairos_core::model::journal::JournalEntry;
use kairos_core::ports::PortError;

impl Table {
    /// Every journal entry that names `workflow`, in time order, from the `by-workflow`
    /// index (one query per shard) — what its report is built from.
    pub(super) async fn workflow_entries(
        &self,
        workflow: &str,
    ) -> Result<Vec<JournalEntry>, PortError> {
        let mut entries = Vec::new();
        for shard in 0..WORKFLOW_SHARDS {
            let mut start = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.name)
                    .index_name(WORKFLOW_INDEX)
                    .key_condition_expression("#w = :w")
                    .expression_attribute_names("#w", "wpk")
                    .expression_attribute_values(":w", s(format!("W#{workflow}#{shard}")))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| port_error("query a workflow's journal", e))?;
                for item in out.items.unwrap_or_default() {
                    entries.push(body::<JournalEntry>(&item, "journal entry")?);
                }
                match out.last_evaluated_key {
                    Some(last) if !last.is_empty() => start = Some(last),
                    _ => break,
                }
            }
        }
        entries.sort_by_key(|e| e.at);
        Ok(entries)
    }
}

/// The sort keys of a batch of entries. They come from the content alone — the entry's
/// time, the batch's hash, the place in the batch — so the batch appended again by a retry
/// overwrites itself, and a contact's journal reads back in order.
fn sort_keys(entries: &[JournalEntry]) -> impl Iterator<Item = String> + '_ {
    let batch = format!(
        "{:016x}",
        kairos_core::model::journal::batch_fingerprint(entries)
    );
    entries
        .iter()
        .enumerate()
        .map(move |(i, entry)| format!("J#{}#{batch}#{i:04}", entry.at.format("%Y%m%dT%H%M%S%.9f")))
}

impl Table {
    /// Appends a batch: every entry but the last in batch writes, then the last on its
    /// own, so a stored last entry means the whole batch is stored (what
    /// [`Table::journal_batch_stored`] reads). Requests are not what on-demand capacity
    /// bills, so the extra call costs nothing.
    pub(super) async fn append(&self, entries: &[JournalEntry]) -> Result<(), PortError> {
        let mut items = Vec::new();
        for (entry, sk) in entries.iter().zip(sort_keys(entries)) {
            let text = to_json(entry, "journal entry")?;
            let mut item = key(contact_pk(&entry.contact), sk.clone());
            item.insert("body".into(), s(text));
            if let Some(workflow) = entry.index_name() {
                item.insert("wpk".into(), s(workflow_pk(&workflow, &entry.contact)));
                item.insert("wsk".into(), s(sk));
            }
            items.push(item);
        }
        let Some(last) = items.pop() else {
            return Ok(());
        };
        let requests = items
            .into_iter()
            .map(Self::put_request)
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(requests).await?;
        self.put(last, "append a journal entry").await
    }

    /// Whether the batch's last entry (and so the whole batch) is stored. An eventually
    /// consistent read (half the price): one that has not seen a fresh write yet says no,
    /// and the batch is handed on again, which overwrites it.
    pub(super) async fn journal_batch_stored(
        &self,
        entries: &[JournalEntry],
    ) -> Result<bool, PortError> {
        let (Some(entry), Some(sk)) = (entries.last(), sort_keys(entries).last()) else {
            return Ok(false);
        };
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(contact_pk(&entry.contact), sk)))
            .send()
            .await
            .map_err(|e| port_error("look up a journal entry", e))?;
        Ok(out.item.is_some())
    }

    pub(super) async fn contact_journal(
        &self,
        contact: &str,
    ) -> Result<Vec<JournalEntry>, PortError> {
        let items = self.query(contact_pk(contact), "J#").await?;
        let entries = items
            .iter()
            .map(|i| body::<JournalEntry>(i, "journal entry"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(entries)
    }
}
