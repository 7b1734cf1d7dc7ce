//! dispatch: consumes the dispatch queue. Each job — a message or a webhook — runs the
//! pipeline's dispatch step: the delivery policy decides, the key is claimed with a
//! conditional write before SES / SNS / the webhook is called, so a redelivered job never
//! sends twice. A job held for quiet hours comes back until its window ends.
//!
//! - `webhooks`: the HTTP(S) webhook sender (also used by `kairos serve`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use kairos_core::aws::app::{Aws, CatalogCache};
use kairos_core::aws::event_source;
use kairos_core::aws::queues::PayloadRef;
use kairos_core::ports::{DispatchJob, PortError};
use kairos_core::Kind;

mod webhooks;

pub use webhooks::HttpWebhooks;

pub struct Dispatch {
    pub aws: Aws,
    pub catalog: CatalogCache,
    pub webhooks: HttpWebhooks,
}

impl Dispatch {
    pub fn new(aws: Aws) -> Result<Dispatch, PortError> {
        Ok(Dispatch {
            aws,
            catalog: CatalogCache::default(),
            webhooks: HttpWebhooks::new()?,
        })
    }

    pub async fn handle(&self, event: SqsEvent, now: DateTime<Utc>) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        // The catalog is read once per batch (one GetItem for its stamp), not per record.
        let catalog = self.catalog.current(&self.aws.table).await;
        for record in &event.records {
            let outcome = match event_source::body::<PayloadRef>(record) {
                Ok(reference) => self
                    .one(&catalog, &reference, now)
                    .await
                    .map_err(|e| e.to_string()),
                Err(poison) => Err(poison),
            };
            if let Err(reason) = outcome {
                event_source::fail(&mut response, record, &reason);
            }
        }
        response
    }

    async fn one(
        &self,
        catalog: &Result<kairos_core::Catalog, PortError>,
        reference: &PayloadRef,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let Some(job) = self
            .aws
            .table
            .payload::<DispatchJob>(&reference.contact, &reference.key)
            .await?
        else {
            tracing::info!(contact = %reference.contact, "job already done");
            return Ok(());
        };
        let catalog = catalog.as_ref().map_err(Clone::clone)?.clone();
        let pipeline = self.aws.pipeline(catalog, self.webhooks.clone());
        let journal = pipeline.run_job(job, now).await?;
        for entry in &journal {
            tracing::info!(contact = %entry.contact, workflow = entry.workflow.as_deref().unwrap_or(""), step = entry.step.as_deref().unwrap_or(""), kind = ?entry.kind, reason = entry.reason.as_deref().unwrap_or(""), "dispatch");
        }
        // A job held for quiet hours was queued again under the same payload key: keep it.
        let held = journal.iter().any(|e| e.kind == Kind::MessageDelayed);
        if !held {
            self.aws
                .table
                .delete_payload(&reference.contact, &reference.key)
                .await?;
        }
        Ok(())
    }
}
