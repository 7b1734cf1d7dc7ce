//! evaluate: consumes the per-contact work queue (FIFO). For each record: look up the
//! stored work item, run the pipeline step (load the partition, engine, conditional save,
//! effects to the timer index / delay queue / dispatch queue), then drop the payload.
//! Failures are reported per record; after a failed record the rest of its contact's
//! records in the batch fail too, so one contact's work never runs out of order.

use std::collections::HashSet;

use super::record;
use crate::app::Aws;
use crate::queues::PayloadRef;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use kairos_core::pipeline::{Evaluator, Recent};
use kairos_core::ports::{CatalogStore, PortError, WorkItem};

/// The evaluate function: its clients (the table keeps the catalog it last loaded).
pub struct Evaluate {
    /// The AWS ports.
    pub aws: Aws,
}

impl Evaluate {
    /// The handler.
    pub fn new(aws: Aws) -> Evaluate {
        Evaluate { aws }
    }

    /// One batch of work-queue records; the failed ones (and their contacts' later ones) are reported for redelivery.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        // The catalog is read once per batch (one GetItem for its stamp), not per record.
        let catalog = self.aws.table.catalog().await;
        // A contact's records come one after another: the next starts from the state the
        // last one saved (see `Recent`).
        let recent = Recent::default();
        let mut failed_contacts: HashSet<String> = HashSet::new();
        for record in &event.records {
            let outcome = match record::body::<PayloadRef<WorkItem>>(record) {
                Ok(r) if failed_contacts.contains(&r.contact) => {
                    Err(format!("an earlier record of contact {} failed", r.contact))
                }
                Ok(r) => self.one(&catalog, &recent, &r).await.map_err(|e| {
                    failed_contacts.insert(r.contact.clone());
                    e.to_string()
                }),
                Err(poison) => Err(poison),
            };
            if let Err(reason) = outcome {
                record::fail(&mut response, record, &reason);
            }
        }
        response
    }

    async fn one(
        &self,
        catalog: &Result<kairos_core::Catalog, PortError>,
        recent: &Recent,
        reference: &PayloadRef<WorkItem>,
    ) -> Result<(), PortError> {
        let Some(item) = reference.payload(&self.aws.table).await? else {
            tracing::info!(contact = %reference.contact, "work item already processed");
            return Ok(());
        };
        let evaluator = Evaluator {
            catalog: catalog.as_ref().map_err(Clone::clone)?,
            store: &self.aws.table,
            timers: &self.aws.queues,
            dispatch: &self.aws.queues,
            work: &self.aws.queues,
            recent: Some(recent),
        };
        let journal = evaluator.handle(item).await?;
        for entry in &journal {
            tracing::info!(contact = %entry.contact, workflow = entry.workflow.as_deref().unwrap_or(""), run = entry.run.as_deref().unwrap_or(""), step = entry.step.as_deref().unwrap_or(""), kind = ?entry.kind, "journal");
        }
        kairos_core::failpoint::hit("queue.before_ack")?;
        reference.done(&self.aws.table).await
    }
}
