//! The catalog as stored: definitions and every workflow version, and a stamp that
//! moves with every change. A table keeps the catalog it last loaded and reads only the
//! stamp to tell whether it is still current: one small read per request or batch, not
//! the whole catalog (a deployment of fifty workflows is hundreds of KB).

use super::{corrupt, key, n, s, to_json, Table};
use crate::port_error;
use kairos_core::catalog::{broadcast_run_key, winner_key, workflow_key, Catalog, DEFINITIONS_KEY};
use kairos_core::language::definitions::Definitions;
use kairos_core::ports::{CatalogStore, PortError};
use kairos_core::program::Workflow;

/// The catalog last loaded, the stamp it was loaded at, and when that stamp was last
/// read.
#[derive(Default)]
pub(super) struct CatalogCache {
    cached: tokio::sync::Mutex<Option<(Catalog, u64, std::time::Instant)>>,
}

/// How old the catalog of [`Table::catalog_within`]'s callers may be.
pub const CONSUMER_CATALOG_AGE: std::time::Duration = std::time::Duration::from_secs(1);

impl Table {
    /// Stores a catalog item and bumps the stamp. `only_new`: versions are immutable, so a
    /// version someone else stored first is a [`PortError::Conflict`], not an overwrite.
    async fn put_catalog_item(
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
        // What this table wrote, it reads next time (whatever `catalog_within` allows).
        *self.catalog.cached.lock().await = None;
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

    /// The catalog as [`CatalogStore::catalog`] gives it, but the stamp is read again
    /// only when it was last read more than `max_age` ago: for dispatch and feedback,
    /// which act on what evaluations decided earlier — a deploy elsewhere reaches them
    /// within `max_age`, one made through this table at once. Evaluate and the API read
    /// the stamp every time (an event posted after a deploy's answer meets the deploy).
    pub async fn catalog_within(&self, max_age: std::time::Duration) -> Result<Catalog, PortError> {
        {
            let cached = self.catalog.cached.lock().await;
            if let Some((catalog, _, checked)) = cached.as_ref() {
                if checked.elapsed() <= max_age {
                    return Ok(catalog.clone());
                }
            }
        }
        self.catalog().await
    }

    /// Loads the catalog and its stamp.
    pub async fn load_catalog(&self) -> Result<(Catalog, u64), PortError> {
        let (items, stamp) = self.catalog_items().await?;
        let catalog = Catalog::replay(items).map_err(|e| corrupt("catalog", &e))?;
        Ok((catalog, stamp))
    }
}

impl CatalogStore for Table {
    /// The deployed catalog: the one last loaded while the stamp has not moved (a
    /// strongly consistent read, so a deploy just answered is seen), else loaded again.
    /// Kept under the stamp read before loading, not the one the load returns: a writer
    /// puts its item before it bumps the stamp, and the load (pages, not a snapshot) may
    /// see the new stamp beside an item read before its change — kept under the older
    /// stamp, it is loaded again next time instead of served stale until the next change.
    async fn catalog(&self) -> Result<Catalog, PortError> {
        let checked = std::time::Instant::now();
        let stamp = self.catalog_stamp().await?;
        let mut cached = self.catalog.cached.lock().await;
        match cached.as_mut() {
            Some((catalog, seen, at)) if *seen == stamp => {
                *at = checked;
                Ok(catalog.clone())
            }
            _ => {
                let (catalog, _) = self.load_catalog().await?;
                *cached = Some((catalog.clone(), stamp, checked));
                Ok(catalog)
            }
        }
    }

    async fn put_workflow(&self, workflow: &Workflow) -> Result<(), PortError> {
        let text = to_json(&workflow.doc, "workflow")?;
        self.put_catalog_item(&workflow_key(&workflow.id, workflow.version), &text, true)
            .await
    }

    async fn put_definitions(&self, definitions: &Definitions) -> Result<(), PortError> {
        self.put_catalog_item(
            DEFINITIONS_KEY,
            &to_json(definitions, "definitions")?,
            false,
        )
        .await
    }

    /// `create`: conditional (a concurrent firing that took the number wins).
    async fn put_broadcast_run(
        &self,
        run: &kairos_core::model::broadcast::BroadcastRun,
        create: bool,
    ) -> Result<bool, PortError> {
        let text = to_json(run, "broadcast run")?;
        match self
            .put_catalog_item(
                &broadcast_run_key(&run.broadcast, run.number),
                &text,
                create,
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(PortError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Conditional: the first winner stored stands (a second decision is a no-op).
    async fn put_winner(
        &self,
        workflow: &str,
        step: &str,
        branch: &str,
    ) -> Result<bool, PortError> {
        let text = to_json(&branch, "winner")?;
        match self
            .put_catalog_item(&winner_key(workflow, step), &text, true)
            .await
        {
            Ok(()) => Ok(true),
            Err(PortError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
