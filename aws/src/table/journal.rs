//! Journal pages. One input's batch of entries is stored as few items as it can be: one
//! page per workflow (or broadcast, or none) it names, each entry with its place in the
//! batch — DynamoDB bills a write per item and per KB, so twelve entries of 300 bytes in
//! one deflated page cost one unit instead of twelve.
//!
//! A page that names no workflow lives in the contact's partition (`C#<contact>`,
//! `J#<time>#<hash>#p<n>`). One that names a workflow lives in that workflow's journal,
//! spread over [`WORKFLOW_SHARDS`] partitions by contact (`W#<workflow>#<shard>`,
//! `C#<contact>#J#<time>#<hash>#p<n>`): a report queries the workflow's shards, and a
//! contact's journal (and its deletion) queries the contact's prefix in the shard of each
//! workflow the catalog knows. So a page is written once — the `by-workflow` index it
//! used to be copied into as well was a second write of every page; pages of earlier
//! versions (in the contact's partition, in that index, or one entry per item) read back
//! as before.

use std::collections::BTreeMap;

use super::{
    body, contact_pk, key, n, put_body, s, to_json, workflow_pk, Item, Table, WORKFLOW_INDEX,
    WORKFLOW_SHARDS,
};
use crate::port_error;
use kairos_core::model::journal::JournalEntry;
use kairos_core::ports::{CatalogStore, PortError};

/// A page holds at most this much JSON before deflating (an item holds 400 KB).
const PAGE_BYTES: usize = 64 * 1024;

/// How many of a contact's workflow-journal queries run at once.
const PARALLEL_QUERIES: usize = 16;

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

/// The batch an item belongs to, the same wherever the item is stored: its sort key from
/// `J#` on, without the last part (`J#<time>#<hash>`). Contact ids hold no `#`, so the
/// contact prefix of a workflow page (`C#<contact>#`) ends at the second `#`.
fn batch_of(item: &Item) -> String {
    let sk = item
        .get("sk")
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str);
    let from_j = match sk.strip_prefix("C#") {
        Some(rest) => rest.split_once('#').map_or("", |(_, j)| j),
        None => sk,
    };
    from_j
        .rsplit_once('#')
        .map_or(from_j, |(batch, _)| batch)
        .to_string()
}

/// The sort-key prefix of a contact's pages in a workflow's journal.
fn contact_prefix(contact: &str) -> String {
    format!("{}#J#", contact_pk(contact))
}

impl Table {
    /// Every journal entry that names `workflow`, in time order — what its report is built
    /// from: its shards' partitions, and the `by-workflow` index for pages earlier versions
    /// stored in the contacts' partitions.
    pub(super) async fn workflow_entries(
        &self,
        workflow: &str,
    ) -> Result<Vec<JournalEntry>, PortError> {
        let mut entries = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for shard in 0..WORKFLOW_SHARDS {
            let pk = format!("W#{workflow}#{shard}");
            // Eventually consistent, as the index's reads always were: half the price.
            let mut items = self.query_recent(pk.clone(), "").await?;
            items.extend(self.indexed_pages(&pk).await?);
            for item in items {
                let batch = batch_of(&item);
                for (place, entry) in placed(&item)? {
                    // A batch stored in one layout and handed on again in another holds a
                    // place twice: counted once.
                    if seen.insert((entry.contact.clone(), batch.clone(), place)) {
                        entries.push(entry);
                    }
                }
            }
        }
        entries.sort_by_key(|e| e.at);
        Ok(entries)
    }

    /// The items of one `by-workflow` index partition (pages of earlier versions).
    async fn indexed_pages(&self, wpk: &str) -> Result<Vec<Item>, PortError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.name)
                .index_name(WORKFLOW_INDEX)
                .key_condition_expression("#w = :w")
                .expression_attribute_names("#w", "wpk")
                .expression_attribute_values(":w", s(wpk))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| port_error("query a workflow's journal", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(items),
            }
        }
    }

    /// A contact's pages in the workflows' journals: its prefix in its shard of every
    /// journal index the catalog knows (the catalog only grows: versions and broadcast
    /// runs are never removed), strongly consistent — a deletion must see a page written
    /// just before it — and [`PARALLEL_QUERIES`] at a time.
    pub(super) async fn pages_in_workflows(&self, contact: &str) -> Result<Vec<Item>, PortError> {
        use futures_util::{StreamExt, TryStreamExt};
        let indexes = self.catalog().await?.journal_indexes();
        let prefix = contact_prefix(contact);
        let partitions: Vec<String> = indexes
            .iter()
            .map(|index| workflow_pk(index, contact))
            .collect();
        let found: Vec<Vec<Item>> = futures_util::stream::iter(partitions)
            .map(|pk| self.query(pk, &prefix))
            .buffer_unordered(PARALLEL_QUERIES)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }
}

/// A page to store: its key (see the module doc), its JSON, how many entries; and the key
/// an earlier version gave it (in the contact's partition), for pages naming a workflow.
struct Page {
    pk: String,
    sk: String,
    earlier_key: Option<(String, String)>,
    json: String,
    entries: usize,
}

/// A batch's pages: its entries grouped by the index they belong in (in the order the
/// groups first appear), each group cut into pages of at most [`PAGE_BYTES`] of JSON, with
/// their keys. The keys come from the content alone — the batch's first time, its hash,
/// the page's number — so the batch appended again by a retry overwrites itself, and a
/// contact's journal reads back in order.
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
    // so an entry is always stored under its own contact.
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
        let in_batch = format!("J#{time}#{batch}#p{:03}", out.len());
        let in_contact = (contact_pk(contact), in_batch.clone());
        let (pk, sk, earlier_key) = match index {
            None => (in_contact.0, in_contact.1, None),
            Some(index) => (
                workflow_pk(index, contact),
                format!("{}#{in_batch}", contact_pk(contact)),
                Some(in_contact),
            ),
        };
        out.push(Page {
            pk,
            sk,
            earlier_key,
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
            let mut item = key(page.pk, page.sk);
            item.insert("n".into(), n(page.entries));
            put_body(&mut item, page.json);
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

    /// Whether the batch's last page (and so the whole batch) is stored — where this
    /// version puts it, where the previous one did, or, for a batch written one entry per
    /// item, its last entry. An eventually consistent read (half the price): one that has
    /// not seen a fresh write yet says no, and the batch is handed on again, which
    /// overwrites it.
    pub(super) async fn journal_batch_stored(
        &self,
        entries: &[JournalEntry],
    ) -> Result<bool, PortError> {
        let Some(last_page) = pages(entries)?.pop() else {
            return Ok(false);
        };
        if self.journal_item_exists(last_page.pk, last_page.sk).await? {
            return Ok(true);
        }
        if let Some((pk, sk)) = last_page.earlier_key {
            if self.journal_item_exists(pk, sk).await? {
                return Ok(true);
            }
        }
        // The key the version before pages gave a batch's last entry.
        let Some(last) = entries.last() else {
            return Ok(false);
        };
        let legacy = format!(
            "J#{}#{:016x}#{:04}",
            last.at.format("%Y%m%dT%H%M%S%.9f"),
            kairos_core::model::journal::batch_fingerprint(entries),
            entries.len() - 1
        );
        self.journal_item_exists(contact_pk(&last.contact), legacy)
            .await
    }

    async fn journal_item_exists(&self, pk: String, sk: String) -> Result<bool, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .projection_expression("pk")
            .send()
            .await
            .map_err(|e| port_error("look up a journal page", e))?;
        Ok(out.item.is_some())
    }

    /// A contact's journal in order: its pages in its partition and in the workflows'
    /// journals, batches by their keys, a batch's entries by their places in it.
    pub(super) async fn contact_journal(
        &self,
        contact: &str,
    ) -> Result<Vec<JournalEntry>, PortError> {
        let mut items = self.query(contact_pk(contact), "J#").await?;
        items.extend(self.pages_in_workflows(contact).await?);
        let mut batches: BTreeMap<String, Placed> = BTreeMap::new();
        for item in &items {
            batches
                .entry(batch_of(item))
                .or_default()
                .extend(placed(item)?);
        }
        Ok(batches.into_values().flat_map(in_place).collect())
    }
}

/// A batch's entries in their places, each place once (a batch stored in one layout and
/// handed on again in another holds a place twice).
fn in_place(mut placed: Placed) -> impl Iterator<Item = JournalEntry> {
    placed.sort_by_key(|(place, _)| *place);
    placed.dedup_by_key(|(place, _)| *place);
    placed.into_iter().map(|(_, e)| e)
}
