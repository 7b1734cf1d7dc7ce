//! Journal pages in the contact's partition, and the sparse `by-workflow` index a
//! workflow's report reads. One input's batch of entries is stored as few items as it
//! can be: one page per workflow (or broadcast, or none) it names, each entry with its
//! place in the batch — DynamoDB bills a write per item and per KB, so twelve entries of
//! 300 bytes in one deflated page cost one unit in the table and one in the index instead
//! of twelve each. Entries stored one per item by earlier versions read back as before.

use std::collections::BTreeMap;

use super::{
    body, contact_pk, key, n, put_body, s, to_json, workflow_pk, Item, Table, WORKFLOW_INDEX,
    WORKFLOW_SHARDS,
};
use crate::port_error;
use kairos_core::model::journal::JournalEntry;
use kairos_core::ports::PortError;

/// A page holds at most this much JSON before deflating (an item holds 400 KB).
const PAGE_BYTES: usize = 64 * 1024;

/// Entries with their places in their batch (a page's body).
type Placed = Vec<(u32, JournalEntry)>;

/// The entries an item holds with their places: a page's, or the one entry of an item
/// written before pages (its place is its sort key's last part).
fn placed(item: &Item) -> Result<Placed, PortError> {
    if item.contains_key("n") {
        return body::<Placed>(item, "journal page");
    }
    let entry = body::<JournalEntry>(item, "journal entry")?;
    let place = item
        .get("sk")
        .and_then(|v| v.as_s().ok())
        .and_then(|sk| sk.rsplit('#').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Ok(vec![(place, entry)])
}

/// The batch an item belongs to: its partition and its sort key without the last part
/// (`C#ann`, `J#<time>#<hash>`).
fn batch_of(item: &Item) -> (String, String) {
    let text = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let sk = text("sk");
    let prefix = sk
        .rsplit_once('#')
        .map_or(sk.as_str(), |(p, _)| p)
        .to_string();
    (text("pk"), prefix)
}

impl Table {
    /// Every journal entry that names `workflow`, in time order, from the `by-workflow`
    /// index (one query per shard) — what its report is built from.
    pub(super) async fn workflow_entries(
        &self,
        workflow: &str,
    ) -> Result<Vec<JournalEntry>, PortError> {
        let mut entries = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
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
                    let batch = batch_of(&item);
                    for (place, entry) in placed(&item)? {
                        // A batch half written by an earlier version and then again as
                        // pages holds a place twice: counted once.
                        if seen.insert((batch.clone(), place)) {
                            entries.push(entry);
                        }
                    }
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

/// A page to store: its contact and sort key, the index it belongs in, its JSON, how many
/// entries.
struct Page {
    contact: String,
    sk: String,
    index: Option<String>,
    json: String,
    entries: usize,
}

/// A batch's pages: its entries grouped by the index they belong in (in the order the
/// groups first appear), each group cut into pages of at most [`PAGE_BYTES`] of JSON, with
/// their sort keys. The keys come from the content alone — the batch's first time, its
/// hash, the page's number — so the batch appended again by a retry overwrites itself, and
/// a contact's journal reads back in order.
fn pages(entries: &[JournalEntry]) -> Result<Vec<Page>, PortError> {
    let Some(first) = entries.first() else {
        return Ok(Vec::new());
    };
    let batch = format!(
        "{:016x}",
        kairos_core::model::journal::batch_fingerprint(entries)
    );
    let time = first.at.format("%Y%m%dT%H%M%S%.9f");
    // A batch is one contact's (the engine journals per contact); grouped by contact too,
    // so an entry is always stored in its own contact's partition.
    type Group = (String, Option<String>);
    let mut groups: Vec<(Group, Vec<String>)> = Vec::new();
    let mut group_of: BTreeMap<Group, usize> = BTreeMap::new();
    for (place, entry) in entries.iter().enumerate() {
        let text = to_json(&(place as u32, entry), "journal entry")?;
        let group = (entry.contact.clone(), entry.index_name());
        let at = *group_of.entry(group.clone()).or_insert_with(|| {
            groups.push((group, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(text);
    }
    let mut out: Vec<Page> = Vec::new();
    let open = |(contact, index): &Group, out: &mut Vec<Page>| {
        let sk = format!("J#{time}#{batch}#p{:03}", out.len());
        out.push(Page {
            contact: contact.clone(),
            sk,
            index: index.clone(),
            json: String::from("["),
            entries: 0,
        });
    };
    for (group, texts) in groups {
        open(&group, &mut out);
        for text in texts {
            let full = out
                .last()
                .is_some_and(|p| p.entries > 0 && p.json.len() + text.len() > PAGE_BYTES);
            if full {
                open(&group, &mut out);
            }
            if let Some(page) = out.last_mut() {
                if page.entries > 0 {
                    page.json.push(',');
                }
                page.json.push_str(&text);
                page.entries += 1;
            }
        }
    }
    for page in &mut out {
        page.json.push(']');
    }
    Ok(out)
}

impl Table {
    /// Appends a batch: every page but the last in batch writes, then the last on its own,
    /// so a stored last page means the whole batch is stored (what
    /// [`Table::journal_batch_stored`] reads). Requests are not what on-demand capacity
    /// bills, so the extra call costs nothing.
    pub(super) async fn append(&self, entries: &[JournalEntry]) -> Result<(), PortError> {
        let mut items = Vec::new();
        for page in pages(entries)? {
            let mut item = key(contact_pk(&page.contact), page.sk.clone());
            item.insert("n".into(), n(page.entries));
            put_body(&mut item, page.json);
            if let Some(index) = page.index {
                item.insert("wpk".into(), s(workflow_pk(&index, &page.contact)));
                item.insert("wsk".into(), s(page.sk));
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
        self.put(last, "append a journal page").await
    }

    /// Whether the batch's last page (and so the whole batch) is stored — or, for a batch
    /// an earlier version wrote one entry per item, its last entry. An eventually
    /// consistent read (half the price): one that has not seen a fresh write yet says no,
    /// and the batch is handed on again, which overwrites it.
    pub(super) async fn journal_batch_stored(
        &self,
        entries: &[JournalEntry],
    ) -> Result<bool, PortError> {
        let Some(Page { contact, sk, .. }) = pages(entries)?.pop() else {
            return Ok(false);
        };
        if self.journal_item_exists(&contact, sk).await? {
            return Ok(true);
        }
        // The key the previous version gave a batch's last entry.
        let Some(last) = entries.last() else {
            return Ok(false);
        };
        let legacy = format!(
            "J#{}#{:016x}#{:04}",
            last.at.format("%Y%m%dT%H%M%S%.9f"),
            kairos_core::model::journal::batch_fingerprint(entries),
            entries.len() - 1
        );
        self.journal_item_exists(&last.contact, legacy).await
    }

    async fn journal_item_exists(&self, contact: &str, sk: String) -> Result<bool, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(contact_pk(contact), sk)))
            .projection_expression("pk")
            .send()
            .await
            .map_err(|e| port_error("look up a journal page", e))?;
        Ok(out.item.is_some())
    }

    /// A contact's journal in order: batches by their keys, a batch's entries by their
    /// places in it.
    pub(super) async fn contact_journal(
        &self,
        contact: &str,
    ) -> Result<Vec<JournalEntry>, PortError> {
        let items = self.query(contact_pk(contact), "J#").await?;
        let mut entries = Vec::new();
        let mut batch: (Option<String>, Placed) = (None, Vec::new());
        for item in &items {
            let sk = item.get("sk").and_then(|v| v.as_s().ok());
            let prefix = sk
                .and_then(|sk| sk.rsplit_once('#'))
                .map(|(p, _)| p.to_string());
            if prefix != batch.0 {
                entries.extend(in_place(std::mem::take(&mut batch.1)));
                batch.0 = prefix;
            }
            batch.1.extend(placed(item)?);
        }
        entries.extend(in_place(batch.1));
        Ok(entries)
    }
}

/// A batch's entries in their places, each place once (a batch half written by an earlier
/// version and then again as pages holds a place twice).
fn in_place(mut placed: Placed) -> impl Iterator<Item = JournalEntry> {
    placed.sort_by_key(|(place, _)| *place);
    placed.dedup_by_key(|(place, _)| *place);
    placed.into_iter().map(|(_, e)| e)
}
