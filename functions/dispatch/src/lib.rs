//! dispatch: consumes the dispatch queue. Each job — a message or a webhook — runs the
//! pipeline's dispatch step: the delivery policy decides, the key is claimed with a
//! conditional write before SES / SNS / the webhook is called, so a redelivered job never
//! sends twice. A job held for quiet hours comes back until its window ends.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use kairos_core::aws::app::{Aws, CatalogCache};
use kairos_core::aws::queues::PayloadRef;
use kairos_core::language::step::HttpMethod;
use kairos_core::model::effect::WebhookCall;
use kairos_core::ports::{DispatchJob, PortError, WebhookSender};
use kairos_core::Kind;

pub use reqwest;

pub struct Dispatch {
    pub aws: Aws,
    pub catalog: CatalogCache,
    pub http: reqwest::Client,
}

/// Webhooks over HTTPS: the body is the contact and the run as JSON; 5xx and timeouts are
/// retried, 4xx are not.
pub struct HttpWebhooks(pub reqwest::Client);

impl WebhookSender for HttpWebhooks {
    async fn call(&self, call: &WebhookCall) -> Result<u16, PortError> {
        let method = match call.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
        };
        let mut request = self
            .0
            .request(method, &call.url)
            .json(&call.body)
            .header("Idempotency-Key", &call.key);
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| PortError::Unavailable {
            what: "webhook".into(),
            detail: e.to_string(),
        })?;
        let status = response.status().as_u16();
        match status {
            500.. => Err(PortError::Unavailable {
                what: "webhook".into(),
                detail: format!("{} answered {status}", call.url),
            }),
            400..=499 => Err(PortError::Failed {
                what: "webhook".into(),
                detail: format!("{} answered {status}", call.url),
            }),
            _ => Ok(status),
        }
    }
}

impl Dispatch {
    pub fn new(aws: Aws) -> Dispatch {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Dispatch {
            aws,
            catalog: CatalogCache::default(),
            http,
        }
    }

    pub async fn handle(&self, event: SqsEvent, now: DateTime<Utc>) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        // The catalog is read once per batch (one GetItem for its stamp), not per record.
        let catalog = self.catalog.current(&self.aws.table).await;
        for record in event.records {
            let id = record.message_id.clone().unwrap_or_default();
            let parsed = record
                .body
                .as_deref()
                .map(serde_json::from_str::<PayloadRef>);
            let outcome = match parsed {
                Some(Ok(reference)) => self
                    .one(&catalog, &reference, now)
                    .await
                    .map_err(|e| e.to_string()),
                Some(Err(e)) => Err(format!("poison message: {e}")),
                None => Err("poison message: no body".into()),
            };
            if let Err(reason) = outcome {
                tracing::warn!(message_id = %id, %reason, "record failed");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
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
        let pipeline = self.aws.pipeline(catalog, HttpWebhooks(self.http.clone()));
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
