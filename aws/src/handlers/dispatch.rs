//! dispatch: consumes the dispatch queue. Each job — a message or a webhook — runs the
//! pipeline's dispatch step: the delivery policy decides, the key is claimed with a
//! conditional write before SES / SNS / the webhook is called, so a redelivered job never
//! sends twice. A job held for quiet hours comes back until its window ends.
//!
//! - `webhooks`: the HTTP(S) webhook sender (also used by `kairos serve`).

use super::record;
use crate::app::Aws;
use crate::queues::PayloadRef;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use kairos_core::pipeline::{Dispatcher, Fate};
use kairos_core::ports::{DispatchJob, PortError};

use crate::webhooks::HttpWebhooks;

/// The dispatch function: its clients and webhook sender.
pub struct Dispatch {
    /// The AWS ports.
    pub aws: Aws,
    /// Where `webhook` steps call out.
    pub webhooks: HttpWebhooks,
}

impl Dispatch {
    /// The handler, with a webhook client built once.
    pub fn new(aws: Aws) -> Result<Dispatch, PortError> {
        Ok(Dispatch {
            aws,
            webhooks: HttpWebhooks::new()?,
        })
    }

    /// One batch of dispatch-queue records; the failed ones are reported for redelivery.
    pub async fn handle(&self, event: SqsEvent, now: DateTime<Utc>) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        // The catalog as checked within the last second (one GetItem for its stamp when
        // older), once per batch: a deploy or a broadcast's pause reaches dispatch within
        // that second plus the batch (paced sends can stretch one to ten seconds); a
        // message naming a template it lacks makes it look again (see `one`).
        let catalog = self
            .aws
            .table
            .catalog_within(crate::table::CONSUMER_CATALOG_AGE)
            .await;
        for record in &event.records {
            let outcome = match record::body::<PayloadRef<DispatchJob>>(record) {
                Ok(reference) => self
                    .one(&catalog, &reference, now)
                    .await
                    .map_err(|e| e.to_string()),
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
        reference: &PayloadRef<DispatchJob>,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let Some(job) = reference.payload(&self.aws.table).await? else {
            tracing::info!(contact = %reference.contact, "job already done");
            return Ok(());
        };
        let catalog = catalog.as_ref().map_err(Clone::clone)?;
        // A message naming a template the catalog at hand lacks may come from a deploy
        // made within its age: read the stamp before suppressing it for that.
        let fresh;
        let catalog = match &job {
            DispatchJob::Message(m)
                if !catalog.definitions().templates.contains_key(&m.template) =>
            {
                fresh = kairos_core::ports::CatalogStore::catalog(&self.aws.table).await?;
                &fresh
            }
            _ => catalog,
        };
        let dispatcher = Dispatcher {
            catalog,
            links: self.aws.links.as_ref(),
            store: &self.aws.table,
            work: &self.aws.queues,
            dispatch: &self.aws.queues,
            mailer: &self.aws.mailer,
            webhooks: &self.webhooks,
        };
        let (journal, fate) = dispatcher.run_job(job, now).await?;
        for entry in &journal {
            tracing::info!(contact = %entry.contact, workflow = entry.workflow.as_deref().unwrap_or(""), step = entry.step.as_deref().unwrap_or(""), kind = ?entry.kind, reason = entry.reason.as_deref().unwrap_or(""), "dispatch");
        }
        // A job held for quiet hours was queued again (under the same key, were it
        // stored): keep what it reads.
        if fate == Fate::Done {
            kairos_core::failpoint::hit("queue.before_ack")?;
            reference.done(&self.aws.table).await?;
        }
        Ok(())
    }
}
