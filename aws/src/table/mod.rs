//! DynamoDB, single-table design. Keys (`pk`, `sk`):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | contact partition (contact, history, runs; versioned) | `C#<contact>` | `STATE` |
//! | tombstone of a deleted contact (TTL) | `X#<HMAC of the contact>` | `TOMB` |
//! | journal page: one input's entries naming no workflow | `C#<contact>` | `J#<time>#<batch hash>#p<n>` |
//! | journal page: one input's entries of one workflow or broadcast (sharded by contact) | `W#<workflow>#<shard>` | `C#<contact>#J#<time>#<batch hash>#p<n>` |
//! | work item / dispatch job too large for its queue message (TTL) | `C#<contact>` | `P#<key>` |
//! | claim of a side effect (TTL) | `K#<HMAC of the key>` | `CLAIM` |
//! | timer due later than the delay queue reaches (sharded) | `T#<shard>` | `<due>#<key>` |
//! | workflow version / definitions / catalog stamp | `CATALOG` | `WF#<id>#V#<n>`, `DEFS`, `STAMP` |
//!
//! One `GetItem` loads everything the engine needs for a contact; every save is
//! conditional on the version read (optimistic locking). Bodies over 900 bytes (contacts,
//! journal pages) are stored deflated (`zbody`), the rest as JSON text (`body`).
//!
//! What outlives a deleted contact — its tombstone, the claims of its side effects, both
//! kept 30 days — is keyed by an HMAC under the store key (`KAIROS_STORE_KEY`), so the
//! table holds no address of a contact that asked to be forgotten.

//!
//! One file per item family: `contacts` (the partition and tombstones: the
//! `ContactStore` port), `journal`, `claims`, `payloads`, `timers`, `catalog` (the
//! `CatalogStore` port) and `fanout` (`enroll_existing` in pages).

mod catalog;
pub use catalog::CONSUMER_CATALOG_AGE;
mod claims;
mod contacts;
mod fanout;
mod journal;
mod payloads;
mod timers;

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::port_error;
use kairos_core::keys::StoreKey;
use kairos_core::ports::PortError;

/// Timer items spread over this many partitions (the index would be a hot key otherwise).
pub const TIMER_SHARDS: u32 = 16;
/// A workflow's journal is spread over this many partitions, so a busy workflow's
/// journal writes do not all land on one partition.
const WORKFLOW_SHARDS: u32 = 8;
/// The sparse index over journal entries that name a workflow (`wpk`, `wsk`), as versions
/// before journal pages moved into the workflows' partitions wrote them: reports still
/// read it for those pages; nothing is written to it any more.
pub const WORKFLOW_INDEX: &str = "by-workflow";
/// The sparse index over contact partitions by address (`email`, keys only).
pub const EMAIL_INDEX: &str = "by-email";
/// Claims, tombstones and stored payloads expire after this long (DynamoDB TTL).
const KEEP_DAYS: i64 = 30;

/// A DynamoDB item (or key).
pub type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
/// The DynamoDB table (see the module doc for its items).
pub struct Table {
    /// DynamoDB.
    pub client: Client,
    /// The table's name.
    pub name: String,
    /// Names claims and tombstones: they outlive the contact, so they must not name it.
    store_key: StoreKey,
    /// The deployed catalog as last loaded, shared by the table's clones (see `catalog`).
    catalog: std::sync::Arc<catalog::CatalogCache>,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn contact_pk(contact: &str) -> String {
    format!("C#{contact}")
}

fn ttl(days: i64) -> AttributeValue {
    n((Utc::now() + chrono::Duration::days(days)).timestamp())
}

/// A body longer than this is stored deflated (`zbody`): DynamoDB bills a write per KB
/// begun, and a contact's or a journal batch's JSON deflates to a third or less. Shorter
/// ones stay text (`body`), readable in the console.
const DEFLATE_ABOVE: usize = 900;
/// What a deflated body may inflate to: items hold at most 400 KB, and JSON deflates
/// rarely past 20:1 — more is not a body this table wrote.
const INFLATED_LIMIT: u64 = 16 << 20;

/// Stores `text` as the item's body: as it is, or deflated when that saves capacity (at
/// deflate's fastest level: the queue consumers run at 128 MB, a fraction of a CPU).
fn put_body(item: &mut Item, text: String) {
    use std::io::Write;
    if text.len() > DEFLATE_ABOVE {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        // Writing to a Vec cannot fail.
        if z.write_all(text.as_bytes()).is_ok() {
            if let Ok(bytes) = z.finish() {
                item.insert("zbody".into(), AttributeValue::B(Blob::new(bytes)));
                return;
            }
        }
    }
    item.insert("body".into(), s(text));
}

/// The item's body as `T`: the text of `body`, or `zbody` inflated (within a bound).
fn body<T: DeserializeOwned>(item: &Item, what: &str) -> Result<T, PortError> {
    use std::io::Read;
    if let Some(text) = item.get("body").and_then(|v| v.as_s().ok()) {
        return serde_json::from_str(text).map_err(|e| corrupt(what, &e.to_string()));
    }
    let bytes = item
        .get("zbody")
        .and_then(|v| v.as_b().ok())
        .ok_or_else(|| corrupt(what, "no body"))?;
    let mut text = Vec::new();
    flate2::read::DeflateDecoder::new(bytes.as_ref())
        .take(INFLATED_LIMIT + 1)
        .read_to_end(&mut text)
        .map_err(|e| corrupt(what, &format!("deflated body: {e}")))?;
    if text.len() as u64 > INFLATED_LIMIT {
        return Err(corrupt(what, "deflated body inflates past 16 MB"));
    }
    serde_json::from_slice(&text).map_err(|e| corrupt(what, &e.to_string()))
}

fn to_json<T: Serialize>(value: &T, what: &str) -> Result<String, PortError> {
    serde_json::to_string(value).map_err(|e| PortError::Failed {
        what: what.into(),
        detail: e.to_string(),
    })
}

/// The partition of a workflow's journal a contact's pages are in: the workflow and a
/// shard chosen by the contact, so one contact's entries stay in one shard, in order (the
/// same key the `by-workflow` index used).
fn workflow_pk(workflow: &str, contact: &str) -> String {
    let shard = kairos_core::keys::fnv1a(contact.bytes()) % u64::from(WORKFLOW_SHARDS);
    format!("W#{workflow}#{shard}")
}

fn corrupt(what: &str, detail: &str) -> PortError {
    PortError::Failed {
        what: format!("stored {what}"),
        detail: detail.into(),
    }
}

impl Table {
    /// The table `name` through `client`; `store_key` names claims and tombstones.
    pub fn new(client: Client, name: impl Into<String>, store_key: StoreKey) -> Table {
        Table {
            client,
            name: name.into(),
            store_key,
            catalog: Default::default(),
        }
    }

    /// The key of a claim: `K#` and the claim key's HMAC.
    fn claim_pk(&self, claim_key: &str) -> String {
        format!("K#{}", self.store_key.hex(claim_key))
    }

    /// The key of a contact's tombstone: `X#` and the contact id's HMAC (not in the
    /// contact's partition, whose key is the id itself).
    fn tombstone_pk(&self, contact: &str) -> String {
        format!("X#{}", self.store_key.hex(contact))
    }

    /// An unconditional put.
    async fn put(&self, item: Item, what: &str) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| port_error(what, e))?;
        Ok(())
    }

    /// An item as a strongly consistent read shows it: after every acknowledged write.
    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, PortError> {
        self.read_item(pk, sk, true).await
    }

    /// An item as an eventually consistent read shows it (half the price): possibly a
    /// moment behind the last write.
    async fn get_recent(&self, pk: String, sk: &str) -> Result<Option<Item>, PortError> {
        self.read_item(pk, sk, false).await
    }

    async fn read_item(
        &self,
        pk: String,
        sk: &str,
        consistent: bool,
    ) -> Result<Option<Item>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| port_error("read an item", e))?;
        Ok(out.item)
    }

    /// Every item of a partition whose sort key starts with `prefix`, following pages,
    /// strongly consistent.
    async fn query(&self, pk: String, prefix: &str) -> Result<Vec<Item>, PortError> {
        self.query_items(pk, prefix, true).await
    }

    /// [`Table::query`], eventually consistent (half the price; a moment behind).
    async fn query_recent(&self, pk: String, prefix: &str) -> Result<Vec<Item>, PortError> {
        self.query_items(pk, prefix, false).await
    }

    async fn query_items(
        &self,
        pk: String,
        prefix: &str,
        consistent: bool,
    ) -> Result<Vec<Item>, PortError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let query = self
                .client
                .query()
                .table_name(&self.name)
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", s(pk.clone()));
            // An empty prefix means the whole partition (DynamoDB refuses empty key values).
            let query = if prefix.is_empty() {
                query.key_condition_expression("#pk = :pk")
            } else {
                query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#sk", "sk")
                    .expression_attribute_values(":prefix", s(prefix))
            };
            let out = query
                .consistent_read(consistent)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| port_error("query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(items),
            }
        }
    }

    /// Writes requests in batches of 25 (the DynamoDB limit), retrying unprocessed ones.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), PortError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            for _ in 0..8 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.name, pending.clone())
                    .send()
                    .await
                    .map_err(|e| port_error("batch write", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.name))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            if !pending.is_empty() {
                return Err(PortError::Unavailable {
                    what: "batch write".into(),
                    detail: format!("{} items unprocessed", pending.len()),
                });
            }
        }
        Ok(())
    }

    fn put_request(item: Item) -> Result<WriteRequest, PortError> {
        let put = PutRequest::builder()
            .set_item(Some(item))
            .build()
            .map_err(|e| corrupt("item", &e.to_string()))?;
        Ok(WriteRequest::builder().put_request(put).build())
    }

    fn delete_request(key: Item) -> Result<WriteRequest, PortError> {
        let delete = DeleteRequest::builder()
            .set_key(Some(key))
            .build()
            .map_err(|e| corrupt("key", &e.to_string()))?;
        Ok(WriteRequest::builder().delete_request(delete).build())
    }
}
