//! Deployed workflow versions and the definitions, one row each under the keys
//! `kairos_core::catalog` names, and the replayed catalog every handle shares.

use kairos_core::catalog::{broadcast_run_key, winner_key, workflow_key, DEFINITIONS_KEY};
use kairos_core::language::definitions::Definitions;
use kairos_core::ports::{CatalogStore, PortError};
use kairos_core::{Catalog, Workflow};
use rusqlite::params;

use super::{db, failed, to_json, Store};

impl Store {
    /// Every stored document as (key, JSON).
    pub(super) fn catalog_documents(&self) -> Result<Vec<(String, String)>, PortError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare("SELECT key, doc FROM catalog ORDER BY key")
            .map_err(|e| db("read the catalog", e))?;
        let docs = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| db("read the catalog", e))?;
        Ok(docs)
    }
}

impl CatalogStore for Store {
    async fn catalog(&self) -> Result<Catalog, PortError> {
        Ok(self
            .shared
            .catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    /// A version is inserted only if its key is free: a concurrent deploy that took the
    /// number first makes this one a conflict, never an overwrite.
    async fn put_workflow(&self, workflow: &Workflow) -> Result<(), PortError> {
        // The shared catalog is written under its lock, so two deploys are ordered.
        let mut catalog = self
            .shared
            .catalog
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let inserted = self
            .conn()
            .execute(
                "INSERT OR IGNORE INTO catalog (key, doc) VALUES (?1, ?2)",
                params![
                    workflow_key(&workflow.id, workflow.version),
                    to_json(&workflow.doc)?
                ],
            )
            .map_err(|e| db("store a workflow", e))?;
        if inserted == 0 {
            return Err(PortError::Conflict { expected: 0 });
        }
        catalog
            .deploy(workflow.clone())
            .map(|_| ())
            .map_err(|e| failed("deploy", e))
    }

    async fn put_definitions(&self, definitions: &Definitions) -> Result<(), PortError> {
        let mut catalog = self
            .shared
            .catalog
            .write()
            .unwrap_or_else(|p| p.into_inner());
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO catalog (key, doc) VALUES (?1, ?2)",
                params![DEFINITIONS_KEY, to_json(definitions)?],
            )
            .map_err(|e| db("store the definitions", e))?;
        catalog.set_definitions(definitions.clone());
        Ok(())
    }

    async fn put_broadcast_run(
        &self,
        run: &kairos_core::model::broadcast::BroadcastRun,
        create: bool,
    ) -> Result<bool, PortError> {
        let mut catalog = self
            .shared
            .catalog
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let sql = if create {
            "INSERT OR IGNORE INTO catalog (key, doc) VALUES (?1, ?2)"
        } else {
            "INSERT OR REPLACE INTO catalog (key, doc) VALUES (?1, ?2)"
        };
        let written = self
            .conn()
            .execute(
                sql,
                params![broadcast_run_key(&run.broadcast, run.number), to_json(run)?],
            )
            .map_err(|e| db("store a broadcast run", e))?;
        if written == 1 {
            catalog.set_broadcast_run(run.clone());
        }
        Ok(written == 1)
    }

    async fn put_winner(
        &self,
        workflow: &str,
        step: &str,
        branch: &str,
    ) -> Result<bool, PortError> {
        let mut catalog = self
            .shared
            .catalog
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let inserted = self
            .conn()
            .execute(
                "INSERT OR IGNORE INTO catalog (key, doc) VALUES (?1, ?2)",
                params![winner_key(workflow, step), to_json(&branch)?],
            )
            .map_err(|e| db("store an experiment's winner", e))?;
        catalog.set_winner(workflow, step, branch);
        Ok(inserted == 1)
    }
}
