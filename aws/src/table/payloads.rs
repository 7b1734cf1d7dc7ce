//! Stored payloads: what a queue message names by key (ids on queues, data here).

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{body, contact_pk, key, s, to_json, ttl, Table, KEEP_DAYS};
use crate::port_error;
use kairos_core::ports::PortError;

impl Table {
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

    /// Removes a payload whose queue message is done.
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
}
