//! DynamoDB, single-table design. Keys (`pk`, `sk`):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | contact partition (contact, history, runs; versioned) | `C#<contact>` | `STATE` |
//! | tombstone of a deleted contact (TTL) | `C#<contact>` | `TOMB` |
//! | journal entry | `C#<contact>` | `J#<time>#<batch hash>#<n>` |
//! | stored work item / dispatch job (queues carry only its key; TTL) | `C#<contact>` | `P#<key>` |
//! | claim of a side effect (TTL) | `K#<key>` | `CLAIM` |
//! | timer due later than the delay queue reaches (sharded) | `T#<shard>` | `<due>#<key>` |
//! | workflow version / definitions / catalog stamp | `CATALOG` | `WF#<id>#V#<n>`, `DEFS`, `STAMP` |
//!
//! One `GetItem` loads everything the engine needs for a contact; every save is
//! conditional on the version read (optimistic locking).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, PutRequest, ScalarAttributeType,
    TimeToLiveSpecification, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::port_error;
use crate::keys::short_hash;
use crate::model::contact::ContactState;
use crate::model::effect::Timer;
use crate::model::journal::JournalEntry;
use crate::ports::{ContactStore, PortError};

/// Timer items spread over this many partitions (the index would be a hot key otherwise).
pub const TIMER_SHARDS: u32 = 16;
/// The `by-workflow` index spreads a workflow's journal over this many partitions, so a
/// busy workflow's journal writes do not all land on one index partition.
const WORKFLOW_SHARDS: u32 = 8;
/// The sparse index over journal entries that name a workflow (`wpk`, `wsk`): a workflow's
/// report reads its entries, not the table.
pub const WORKFLOW_INDEX: &str = "by-workflow";
/// Claims, tombstones and stored payloads expire after this long (DynamoDB TTL).
const KEEP_DAYS: i64 = 30;

type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct Table {
    pub client: Client,
    pub name: String,
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

fn body<T: DeserializeOwned>(item: &Item, what: &str) -> Result<T, PortError> {
    let text = item
        .get("body")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| corrupt(what, "no body"))?;
    serde_json::from_str(text).map_err(|e| corrupt(what, &e.to_string()))
}

fn to_json<T: Serialize>(value: &T, what: &str) -> Result<String, PortError> {
    serde_json::to_string(value).map_err(|e| PortError::Failed {
        what: what.into(),
        detail: e.to_string(),
    })
}

/// The `by-workflow` index partition of a journal entry: the workflow and a shard chosen by
/// the contact, so one contact's entries stay in one shard, in order.
fn workflow_pk(workflow: &str, contact: &str) -> String {
    let shard = crate::keys::fnv1a(contact.bytes()) % u64::from(WORKFLOW_SHARDS);
    format!("W#{workflow}#{shard}")
}

fn corrupt(what: &str, detail: &str) -> PortError {
    PortError::Failed {
        what: format!("stored {what}"),
        detail: detail.into(),
    }
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Table {
        Table {
            client,
            name: name.into(),
        }
    }

    /// Creates the table (pay per request, TTL on `ttl`) unless it exists. For `kairos
    /// serve --aws-endpoint` and tests; on AWS the SAM template creates it.
    pub async fn create_if_missing(&self) -> Result<(), PortError> {
        if self
            .client
            .describe_table()
            .table_name(&self.name)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let schema = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let build_err = |e: aws_sdk_dynamodb::error::BuildError| PortError::Failed {
            what: "create table".into(),
            detail: e.to_string(),
        };
        self.client
            .create_table()
            .table_name(&self.name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk").map_err(build_err)?)
            .attribute_definitions(attr("sk").map_err(build_err)?)
            .attribute_definitions(attr("wpk").map_err(build_err)?)
            .attribute_definitions(attr("wsk").map_err(build_err)?)
            .key_schema(schema("pk", KeyType::Hash).map_err(build_err)?)
            .key_schema(schema("sk", KeyType::Range).map_err(build_err)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(WORKFLOW_INDEX)
                    .key_schema(schema("wpk", KeyType::Hash).map_err(build_err)?)
                    .key_schema(schema("wsk", KeyType::Range).map_err(build_err)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .map_err(|e| port_error("create table", e))?;
        let spec = TimeToLiveSpecification::builder()
            .attribute_name("ttl")
            .enabled(true)
            .build()
            .map_err(build_err)?;
        self.client
            .update_time_to_live()
            .table_name(&self.name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| port_error("enable TTL", e))?;
        Ok(())
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

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("read an item", e))?;
        Ok(out.item)
    }

    /// Every item of a partition whose sort key starts with `prefix`, following pages.
    async fn query(&self, pk: String, prefix: &str) -> Result<Vec<Item>, PortError> {
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
                .consistent_read(true)
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

    /// Stores a payload that a queue message names by key (ids on queues, data here).
    pub async fn put_payload<T: Serialize>(
        &self,
        contact: &str,
        payload_key: &str,
        value: &T,
    ) -> Result<(), PortError> {
        let mut item = key(contact_pk(contact), format!("P#{payload_key}"));
        item.insert("body".into(), s(to_json(value, "payload")?));
        item.insert("ttl".into(), ttl(KEEP_DAYS));
        self.put(item, "store a payload").await?;
        Ok(())
    }

    /// The payload a queue message names; `None` when it is gone (processed, or the contact deleted).
    pub async fn payload<T: DeserializeOwned>(
        &self,
        contact: &str,
        payload_key: &str,
    ) -> Result<Option<T>, PortError> {
        match self
            .get(contact_pk(contact), &format!("P#{payload_key}"))
            .await?
        {
            Some(item) => body(&item, "payload").map(Some),
            None => Ok(None),
        }
    }

    pub async fn delete_payload(&self, contact: &str, payload_key: &str) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(key(contact_pk(contact), format!("P#{payload_key}"))))
            .send()
            .await
            .map_err(|e| port_error("delete a payload", e))?;
        Ok(())
    }

    /// Puts a timer in the sharded index.
    pub async fn put_timer(&self, timer: &Timer) -> Result<(), PortError> {
        let shard =
            u32::from_str_radix(&short_hash(&timer.contact)[..8], 16).unwrap_or(0) % TIMER_SHARDS;
        let mut item = key(
            format!("T#{shard}"),
            format!("{:012}#{}", timer.due.timestamp(), timer.key()),
        );
        item.insert("body".into(), s(to_json(timer, "timer")?));
        self.put(item, "store a timer").await?;
        Ok(())
    }

    /// Removes and returns the indexed timers due at or before `until`. Each is removed
    /// with a conditional delete first, so two concurrent sweeps never both take one.
    pub async fn take_timers(&self, until: DateTime<Utc>) -> Result<Vec<Timer>, PortError> {
        let mut taken = Vec::new();
        let upper = format!("{:012}#\u{10FFFF}", until.timestamp());
        for shard in 0..TIMER_SHARDS {
            let out = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression("#pk = :pk AND #sk <= :upper")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":pk", s(format!("T#{shard}")))
                .expression_attribute_values(":upper", s(upper.clone()))
                .limit(500)
                .send()
                .await
                .map_err(|e| port_error("query timers", e))?;
            for item in out.items.unwrap_or_default() {
                let timer: Timer = body(&item, "timer")?;
                let (Some(pk), Some(sk)) = (item.get("pk").cloned(), item.get("sk").cloned())
                else {
                    continue;
                };
                let deleted = self
                    .client
                    .delete_item()
                    .table_name(&self.name)
                    .key("pk", pk)
                    .key("sk", sk)
                    .condition_expression("attribute_exists(#pk)")
                    .expression_attribute_names("#pk", "pk")
                    .send()
                    .await;
                match deleted {
                    Ok(_) => taken.push(timer),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                    Err(e) => return Err(port_error("take a timer", e)),
                }
            }
        }
        taken.sort();
        Ok(taken)
    }

    /// The earliest indexed timer, if any.
    pub async fn next_timer(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        let mut earliest: Option<DateTime<Utc>> = None;
        for shard in 0..TIMER_SHARDS {
            let out = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", s(format!("T#{shard}")))
                .limit(1)
                .send()
                .await
                .map_err(|e| port_error("query timers", e))?;
            if let Some(item) = out.items.unwrap_or_default().first() {
                let timer: Timer = body(item, "timer")?;
                earliest = Some(earliest.map_or(timer.due, |e| e.min(timer.due)));
            }
        }
        Ok(earliest)
    }

    /// Stores a catalog document (`WF#<id>#V#<n>` or `DEFS`) and bumps the catalog stamp.
    /// Stores a catalog item and bumps the stamp. `only_new`: versions are immutable, so a
    /// version someone else stored first is a [`PortError::Conflict`], not an overwrite.
    pub async fn put_catalog_item(
        &self,
        sort_key: &str,
        text: &str,
        only_new: bool,
    ) -> Result<(), PortError> {
        let mut item = key("CATALOG".into(), sort_key);
        item.insert("body".into(), s(text));
        let mut put = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item));
        if only_new {
            put = put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", "pk");
        }
        match put.send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                return Err(PortError::Conflict { expected: 0 });
            }
            Err(e) => return Err(port_error("store the catalog", e)),
        }
        self.client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key("CATALOG".into(), "STAMP")))
            .update_expression("ADD #n :one")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(|e| port_error("bump the catalog stamp", e))?;
        Ok(())
    }

    /// Every catalog item (sort key, text), in sort-key order; and the stamp.
    pub async fn catalog_items(&self) -> Result<(Vec<(String, String)>, u64), PortError> {
        let items = self.query("CATALOG".into(), "").await?;
        let mut docs = Vec::new();
        let mut stamp = 0;
        for item in items {
            let sk = item
                .get("sk")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if sk == "STAMP" {
                stamp = item
                    .get("n")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            } else if let Some(text) = item.get("body").and_then(|v| v.as_s().ok()) {
                docs.push((sk, text.clone()));
            }
        }
        Ok((docs, stamp))
    }

    /// The catalog stamp alone (one read), to tell whether a cached catalog is current.
    pub async fn catalog_stamp(&self) -> Result<u64, PortError> {
        let item = self.get("CATALOG".into(), "STAMP").await?;
        Ok(item
            .and_then(|i| {
                i.get("n")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0))
    }

    /// Every stored journal entry (for reports). Scans: fine for reports, not a hot path.
    /// Every journal entry that names `workflow`, in time order, from the `by-workflow`
    /// index (one query per shard) — what its report is built from.
    pub async fn workflow_journal(&self, workflow: &str) -> Result<Vec<JournalEntry>, PortError> {
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

impl ContactStore for Table {
    async fn load(&self, contact: &str) -> Result<Option<ContactState>, PortError> {
        match self.get(contact_pk(contact), "STATE").await? {
            None => Ok(None),
            Some(item) => {
                let mut state: ContactState = body(&item, "contact")?;
                state.version = item
                    .get("version")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                Ok(Some(state))
            }
        }
    }

    async fn save(&self, state: &mut ContactState) -> Result<(), PortError> {
        let expected = state.version;
        let mut item = key(contact_pk(&state.contact.id), "STATE");
        item.insert("body".into(), s(to_json(state, "contact")?));
        item.insert("version".into(), n(expected + 1));
        let put = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item));
        let put = if expected == 0 {
            put.condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", "pk")
        } else {
            put.condition_expression("#v = :expected")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":expected", n(expected))
        };
        match put.send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                return Err(PortError::Conflict { expected });
            }
            Err(e) => return Err(port_error("save a contact", e)),
        }
        state.version = expected + 1;
        if expected == 0 {
            // A contact created again after a deletion is a new contact: lift the tombstone.
            self.client
                .delete_item()
                .table_name(&self.name)
                .set_key(Some(key(contact_pk(&state.contact.id), "TOMB")))
                .send()
                .await
                .map_err(|e| port_error("lift a tombstone", e))?;
        }
        Ok(())
    }

    async fn delete(&self, contact: &str, at: DateTime<Utc>) -> Result<(), PortError> {
        let items = self.query(contact_pk(contact), "").await?;
        let mut requests = Vec::new();
        for item in items {
            let (Some(pk), Some(sk)) = (item.get("pk").cloned(), item.get("sk").cloned()) else {
                continue;
            };
            let delete = DeleteRequest::builder()
                .key("pk", pk)
                .key("sk", sk)
                .build()
                .map_err(|e| corrupt("key", &e.to_string()))?;
            requests.push(WriteRequest::builder().delete_request(delete).build());
        }
        self.batch_write(requests).await?;
        let mut tomb = key(contact_pk(contact), "TOMB");
        tomb.insert("ttl".into(), ttl(KEEP_DAYS));
        tomb.insert("at".into(), s(at.to_rfc3339()));
        self.put(tomb, "leave a tombstone").await?;
        Ok(())
    }

    async fn deleted_at(&self, contact: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        let Some(tomb) = self.get(contact_pk(contact), "TOMB").await? else {
            return Ok(None);
        };
        let at = tomb
            .get("at")
            .and_then(|v| v.as_s().ok())
            .and_then(|t| crate::calendar::parse_timestamp(t).ok());
        Ok(Some(at.unwrap_or(DateTime::UNIX_EPOCH)))
    }

    async fn contact_ids(&self) -> Result<Vec<String>, PortError> {
        let mut ids = Vec::new();
        let mut cursor = String::new();
        loop {
            let (page, next) = self.contacts_after(&cursor, 1000).await?;
            ids.extend(page);
            match next {
                Some(next) => cursor = next,
                None => break,
            }
        }
        ids.sort();
        Ok(ids)
    }

    async fn append_journal(&self, entries: &[JournalEntry]) -> Result<(), PortError> {
        let mut requests = Vec::new();
        // Keys come from the content alone — the entry's time, the batch's hash, the place
        // in the batch — so the batch appended again by a retry overwrites itself, and a
        // contact's journal reads back in order.
        let batch = format!("{:016x}", crate::model::journal::batch_fingerprint(entries));
        for (i, entry) in entries.iter().enumerate() {
            let text = to_json(entry, "journal entry")?;
            let sk = format!("J#{}#{batch}#{i:04}", entry.at.format("%Y%m%dT%H%M%S%.9f"));
            let mut item = key(contact_pk(&entry.contact), sk.clone());
            item.insert("body".into(), s(text));
            if let Some(workflow) = &entry.workflow {
                item.insert("wpk".into(), s(workflow_pk(workflow, &entry.contact)));
                item.insert("wsk".into(), s(sk));
            }
            requests.push(Self::put_request(item)?);
        }
        self.batch_write(requests).await
    }

    async fn journal(&self, contact: &str) -> Result<Vec<JournalEntry>, PortError> {
        let items = self.query(contact_pk(contact), "J#").await?;
        let entries = items
            .iter()
            .map(|i| body::<JournalEntry>(i, "journal entry"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(entries)
    }

    async fn claim(&self, claim_key: &str) -> Result<bool, PortError> {
        let mut item = key(format!("K#{claim_key}"), "CLAIM");
        item.insert("ttl".into(), ttl(KEEP_DAYS));
        let put = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(port_error("claim", e)),
        }
    }
    async fn release(&self, claim_key: &str) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(key(format!("K#{claim_key}"), "CLAIM")))
            .send()
            .await
            .map_err(|e| port_error("release a claim", e))?;
        Ok(())
    }
}

/// The catalog as stored: definitions and every workflow version, replayed in order.
impl Table {
    pub async fn save_workflow(
        &self,
        workflow: &crate::program::Workflow,
    ) -> Result<(), PortError> {
        let text = to_json(&workflow.doc, "workflow")?;
        self.put_catalog_item(
            &format!("WF#{}#V#{:06}", workflow.id, workflow.version),
            &text,
            true,
        )
        .await
    }

    pub async fn save_definitions(
        &self,
        definitions: &crate::language::definitions::Definitions,
    ) -> Result<(), PortError> {
        self.put_catalog_item("DEFS", &to_json(definitions, "definitions")?, false)
            .await
    }

    /// Loads the catalog and its stamp. Stored documents were valid when deployed; one that
    /// no longer loads is reported, not skipped, so no version silently disappears.
    pub async fn load_catalog(&self) -> Result<(crate::catalog::Catalog, u64), PortError> {
        use crate::language::definitions::Definitions;
        use crate::language::validate::References;
        let (items, stamp) = self.catalog_items().await?;
        let mut definitions = Definitions::default();
        let mut workflows = Vec::new();
        for (sk, text) in items {
            if sk == "DEFS" {
                definitions = serde_json::from_str(&text)
                    .map_err(|e| corrupt("definitions", &e.to_string()))?;
            } else if sk.starts_with("WF#") {
                workflows.push((sk, text));
            }
        }
        let mut catalog = crate::catalog::Catalog::new(definitions.clone());
        let refs = References {
            definitions: None,
            workflows: None,
        };
        for (sk, text) in workflows {
            let name = format!("{}.json", sk);
            // Stored documents are JSON written by us: no YAML parser on this path.
            let doc: crate::language::workflow::WorkflowDoc =
                serde_json::from_str(&text).map_err(|e| corrupt("workflow", &e.to_string()))?;
            let wf =
                crate::language::validate::validate_workflow(doc, &name, refs).map_err(|d| {
                    let all: Vec<String> = d.iter().map(|d| d.to_string()).collect();
                    corrupt("workflow", &all.join("; "))
                })?;
            catalog.deploy(wf).map_err(|e| corrupt("workflow", &e))?;
        }
        Ok((catalog, stamp))
    }
}

/// `enroll_existing` fan-out: a job per activated workflow, worked through in pages by the
/// sweep so no single invocation has to visit every contact.
impl Table {
    pub async fn start_fanout(&self, workflow: &str) -> Result<(), PortError> {
        let mut item = key("CATALOG".into(), format!("FANOUT#{workflow}"));
        item.insert("cursor".into(), s(""));
        self.put(item, "start a fan-out").await?;
        Ok(())
    }

    /// Pending fan-outs: (workflow, cursor — the last contact visited, empty at the start).
    pub async fn fanouts(&self) -> Result<Vec<(String, String)>, PortError> {
        let items = self.query("CATALOG".into(), "FANOUT#").await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let wf = i
                    .get("sk")?
                    .as_s()
                    .ok()?
                    .strip_prefix("FANOUT#")?
                    .to_string();
                let cursor = i
                    .get("cursor")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                Some((wf, cursor))
            })
            .collect())
    }

    /// Up to `limit` contact ids after `cursor` (an opaque position: the scan's last key);
    /// `None` as the next cursor when done. A page may be empty while more follow.
    pub async fn contacts_after(
        &self,
        cursor: &str,
        limit: i32,
    ) -> Result<(Vec<String>, Option<String>), PortError> {
        let start = cursor
            .split_once('\n')
            .map(|(pk, sk)| key(pk.to_string(), sk));
        let out = self
            .client
            .scan()
            .table_name(&self.name)
            .filter_expression("#sk = :state")
            .projection_expression("#pk, #sk")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":state", s("STATE"))
            .set_exclusive_start_key(start)
            .limit(limit)
            .send()
            .await
            .map_err(|e| port_error("list contacts", e))?;
        let ids: Vec<String> = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| {
                i.get("pk")?
                    .as_s()
                    .ok()?
                    .strip_prefix("C#")
                    .map(str::to_string)
            })
            .collect();
        // The exact last key, not "that contact's STATE": the scan may have stopped on
        // another item of the partition, before its STATE item.
        let next = out
            .last_evaluated_key
            .filter(|k| !k.is_empty())
            .and_then(|k| {
                let pk = k.get("pk")?.as_s().ok()?;
                let sk = k.get("sk")?.as_s().ok()?;
                Some(format!("{pk}\n{sk}"))
            });
        Ok((ids, next))
    }

    pub async fn advance_fanout(
        &self,
        workflow: &str,
        next: Option<String>,
    ) -> Result<(), PortError> {
        let k = key("CATALOG".into(), format!("FANOUT#{workflow}"));
        match next {
            Some(cursor) => {
                let mut item = k;
                item.insert("cursor".into(), s(cursor));
                self.put(item, "advance a fan-out").await?;
            }
            None => {
                self.client
                    .delete_item()
                    .table_name(&self.name)
                    .set_key(Some(k))
                    .send()
                    .await
                    .map_err(|e| port_error("finish a fan-out", e))?;
            }
        }
        Ok(())
    }
}
