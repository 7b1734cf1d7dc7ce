//! Claims of side effects: a conditional put per key, `true` exactly once (TTL).

use super::{key, ttl, Table, KEEP_DAYS};
use crate::port_error;
use kairos_core::ports::PortError;

impl Table {
    pub(super) async fn take_claim(&self, claim_key: &str) -> Result<bool, PortError> {
        let mut item = key(self.claim_pk(claim_key), "CLAIM");
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
    pub(super) async fn give_back_claim(&self, claim_key: &str) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(key(self.claim_pk(claim_key), "CLAIM")))
            .send()
            .await
            .map_err(|e| port_error("release a claim", e))?;
        Ok(())
    }

    /// Strongly consistent: intake's duplicate check must see a request that finished a
    /// moment ago — a retried batch queued again would be applied again past the last
    /// inputs the engine remembers per contact (`HANDLED_KEPT`).
    pub(super) async fn is_claimed(&self, claim_key: &str) -> Result<bool, PortError> {
        Ok(self.get(self.claim_pk(claim_key), "CLAIM").await?.is_some())
    }
}
