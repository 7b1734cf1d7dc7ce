//! What the API needs from the world. Two implementations: AWS (DynamoDB + SQS, the
//! Lambda function) and the embedded pipeline (`kairos serve`).

use std::future::Future;

use chrono::{DateTime, Utc};

use kairos_core::aws::app::Aws;
use kairos_core::language::definitions::Definitions;
use kairos_core::ports::{ContactStore, PortError, WorkItem, WorkQueue};
use kairos_core::{Catalog, ContactState, JournalEntry, Workflow};

pub trait Backend: Send + Sync + 'static {
    /// The deployed catalog, as it is now.
    fn catalog(&self) -> impl Future<Output = Result<Catalog, PortError>> + Send;
    /// Persists a newly deployed version (already numbered by the catalog).
    fn save_workflow(
        &self,
        workflow: &Workflow,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    fn save_definitions(
        &self,
        definitions: &Definitions,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Hands work to the engine (the work queue).
    fn submit(&self, item: WorkItem) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Enrolls every existing contact in a workflow with `enroll_existing`, in bounded batches.
    fn enroll_existing(&self, workflow: &str)
        -> impl Future<Output = Result<(), PortError>> + Send;
    fn load(
        &self,
        contact: &str,
    ) -> impl Future<Output = Result<Option<ContactState>, PortError>> + Send;
    fn delete(
        &self,
        contact: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    fn journal(
        &self,
        contact: &str,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, PortError>> + Send;
    /// Every journal entry that names `workflow`, in time order (for its report).
    fn workflow_journal(
        &self,
        workflow: &str,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, PortError>> + Send;
    /// Claims a key once (event ids: the same id twice is accepted once).
    fn claim(&self, key: &str) -> impl Future<Output = Result<bool, PortError>> + Send;
    /// Gives a claim back (the work it guarded could not be queued; a retry may try again).
    fn release(&self, key: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

impl Backend for Aws {
    async fn catalog(&self) -> Result<Catalog, PortError> {
        Ok(self.table.load_catalog().await?.0)
    }

    async fn save_workflow(&self, workflow: &Workflow) -> Result<(), PortError> {
        self.table.save_workflow(workflow).await
    }

    async fn save_definitions(&self, definitions: &Definitions) -> Result<(), PortError> {
        self.table.save_definitions(definitions).await
    }

    async fn submit(&self, item: WorkItem) -> Result<(), PortError> {
        self.queues.push(item).await
    }

    async fn enroll_existing(&self, workflow: &str) -> Result<(), PortError> {
        self.table.start_fanout(workflow).await
    }

    async fn load(&self, contact: &str) -> Result<Option<ContactState>, PortError> {
        self.table.load(contact).await
    }

    async fn delete(&self, contact: &str, at: DateTime<Utc>) -> Result<(), PortError> {
        self.table.delete(contact, at).await
    }

    async fn journal(&self, contact: &str) -> Result<Vec<JournalEntry>, PortError> {
        self.table.journal(contact).await
    }

    async fn workflow_journal(&self, workflow: &str) -> Result<Vec<JournalEntry>, PortError> {
        self.table.workflow_journal(workflow).await
    }

    async fn claim(&self, key: &str) -> Result<bool, PortError> {
        self.table.claim(key).await
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        self.table.release(key).await
    }
}
