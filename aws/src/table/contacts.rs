//! The contact partition (`STATE`, versioned) and the tombstone of a deleted contact:
//! the `ContactStore` port, journal and claims delegated to their own files.

use chrono::{DateTime, Utc};

use super::{
    body, contact_pk, key, n, put_body, s, to_json, ttl, Item, Table, EMAIL_INDEX, KEEP_DAYS,
};
use crate::port_error;
use kairos_core::model::contact::ContactState;
use kairos_core::model::journal::JournalEntry;
use kairos_core::ports::{ContactStore, PortError};

/// A contact item's state, with the version its item says.
fn contact_state(item: Option<Item>) -> Result<Option<ContactState>, PortError> {
    let Some(item) = item else {
        return Ok(None);
    };
    let mut state: ContactState = body(&item, "contact")?;
    state.version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Some(state))
}

impl ContactStore for Table {
    async fn load(&self, contact: &str) -> Result<Option<ContactState>, PortError> {
        contact_state(self.get(contact_pk(contact), "STATE").await?)
    }

    async fn peek(&self, contact: &str) -> Result<Option<ContactState>, PortError> {
        contact_state(self.get_recent(contact_pk(contact), "STATE").await?)
    }

    async fn save(&self, state: &mut ContactState) -> Result<(), PortError> {
        let expected = state.version;
        let mut item = key(contact_pk(&state.contact.id), "STATE");
        put_body(&mut item, to_json(state, "contact")?);
        item.insert("version".into(), n(expected + 1));
        // Indexed (`by-email`, keys only): a provider's record that names only the address
        // finds its contact. The index is written only when the address changes.
        if let Some(email) = &state.contact.email {
            item.insert("email".into(), s(email.to_lowercase()));
        }
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
        if expected == 0 && !state.no_tombstone {
            // A contact created again after a deletion is a new contact: lift the tombstone.
            self.client
                .delete_item()
                .table_name(&self.name)
                .set_key(Some(key(self.tombstone_pk(&state.contact.id), "TOMB")))
                .send()
                .await
                .map_err(|e| port_error("lift a tombstone", e))?;
        }
        Ok(())
    }

    async fn delete(&self, contact: &str, at: DateTime<Utc>) -> Result<(), PortError> {
        // The partition, and the contact's pages in the workflows' journals.
        let mut items = self.query(contact_pk(contact), "").await?;
        items.extend(self.pages_in_workflows(contact).await?);
        let mut requests = Vec::new();
        for item in items {
            let (Some(pk), Some(sk)) = (item.get("pk").cloned(), item.get("sk").cloned()) else {
                continue;
            };
            let key = Item::from([("pk".to_string(), pk), ("sk".to_string(), sk)]);
            requests.push(Table::delete_request(key)?);
        }
        self.batch_write(requests).await?;
        let mut tomb = key(self.tombstone_pk(contact), "TOMB");
        tomb.insert("ttl".into(), ttl(KEEP_DAYS));
        tomb.insert("at".into(), s(at.to_rfc3339()));
        self.put(tomb, "leave a tombstone").await?;
        Ok(())
    }

    async fn deleted_at(&self, contact: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        let Some(tomb) = self.get(self.tombstone_pk(contact), "TOMB").await? else {
            return Ok(None);
        };
        let at = tomb
            .get("at")
            .and_then(|v| v.as_s().ok())
            .and_then(|t| kairos_core::calendar::parse_timestamp(t).ok());
        Ok(Some(at.unwrap_or(DateTime::UNIX_EPOCH)))
    }

    /// A page of the table's scan (the cursor is its last key).
    async fn contact_ids_after(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), PortError> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        self.contacts_after(cursor.unwrap_or(""), limit).await
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

    fn append_journal(
        &self,
        entries: &[JournalEntry],
    ) -> impl std::future::Future<Output = Result<(), PortError>> + Send {
        self.append(entries)
    }

    /// The journal is appended last and its last entry on its own (see `journal`).
    const JOURNAL_PROVES_HAND_ON: bool = true;

    fn journal_stored(
        &self,
        entries: &[JournalEntry],
    ) -> impl std::future::Future<Output = Result<bool, PortError>> + Send {
        self.journal_batch_stored(entries)
    }

    fn journal(
        &self,
        contact: &str,
    ) -> impl std::future::Future<Output = Result<Vec<JournalEntry>, PortError>> + Send {
        self.contact_journal(contact)
    }

    fn claim(
        &self,
        key: &str,
    ) -> impl std::future::Future<Output = Result<bool, PortError>> + Send {
        self.take_claim(key)
    }

    async fn contacts_by_email(&self, email: &str) -> Result<Vec<String>, PortError> {
        let out = self
            .client
            .query()
            .table_name(&self.name)
            .index_name(EMAIL_INDEX)
            .key_condition_expression("#e = :e")
            .expression_attribute_names("#e", "email")
            .expression_attribute_values(":e", s(email.to_lowercase()))
            .send()
            .await
            .map_err(|e| port_error("find contacts by address", e))?;
        Ok(out
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
            .collect())
    }

    fn claimed(
        &self,
        key: &str,
    ) -> impl std::future::Future<Output = Result<bool, PortError>> + Send {
        self.is_claimed(key)
    }

    fn workflow_journal(
        &self,
        workflow: &str,
    ) -> impl std::future::Future<Output = Result<Vec<JournalEntry>, PortError>> + Send {
        self.workflow_entries(workflow)
    }

    fn release(
        &self,
        key: &str,
    ) -> impl std::future::Future<Output = Result<(), PortError>> + Send {
        self.give_back_claim(key)
    }
}
