//! `enroll_existing` fan-out: a job per activated workflow, worked through in pages by
//! the sweep so no single invocation has to visit every contact.

use super::{key, s, Table};
use crate::port_error;
use kairos_core::ports::PortError;

impl Table {
    /// Starts offering every contact to `workflow` (its `enroll_existing`).
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

    /// Records how far a fan-out got (`next`), or ends it (`None`).
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
