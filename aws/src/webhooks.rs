//! Webhooks over HTTP(S), on the hyper + rustls stack the AWS SDK already brings, so the
//! binary carries one HTTP client, not two. The body is the contact and the run as JSON and
//! the `Idempotency-Key` header carries the call's deterministic key, so a receiver can drop
//! a repeat. Timeouts, connection errors and 5xx are worth a retry; 4xx and a malformed
//! request are not.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kairos_core::language::step::HttpMethod;
use kairos_core::model::effect::WebhookCall;
use kairos_core::ports::{PortError, WebhookSender};

/// How long a receiver has to answer (headers and body).
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
/// Calls webhooks over HTTP(S) (one client, shared).
pub struct HttpWebhooks {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpWebhooks {
    /// A client trusting the system's CA certificates (as the SDK does).
    pub fn new() -> Result<HttpWebhooks, PortError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| PortError::Failed {
                what: "webhook client".into(),
                detail: format!("no CA certificates to trust: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpWebhooks {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }
}

fn unavailable(detail: String) -> PortError {
    PortError::Unavailable {
        what: "webhook".into(),
        detail,
    }
}

fn failed(detail: String) -> PortError {
    PortError::Failed {
        what: "webhook".into(),
        detail,
    }
}

/// The error and its causes on one line (hyper's own message alone says little).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl WebhookSender for HttpWebhooks {
    async fn call(&self, call: &WebhookCall) -> Result<u16, PortError> {
        let method = match call.method {
            HttpMethod::Get => http::Method::GET,
            HttpMethod::Post => http::Method::POST,
            HttpMethod::Put => http::Method::PUT,
            HttpMethod::Patch => http::Method::PATCH,
            HttpMethod::Delete => http::Method::DELETE,
        };
        let body = match call.method {
            HttpMethod::Get => Bytes::new(),
            _ => Bytes::from(serde_json::to_vec(&call.body).map_err(|e| failed(e.to_string()))?),
        };
        let mut request = http::Request::builder()
            .method(method)
            .uri(&call.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "kairos-webhooks")
            .header("idempotency-key", &call.key);
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| failed(format!("{}: {}", call.url, chain(&e))))?;
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| unavailable(format!("{} did not answer within {TIMEOUT:?}", call.url)))?
            .map_err(|e| unavailable(format!("{}: {}", call.url, chain(&e))))?;
        let status = response.status().as_u16();
        // Read the answer to its end so the connection can be reused; its content is not used.
        let _ = tokio::time::timeout(TIMEOUT, response.into_body().collect()).await;
        match status {
            500.. => Err(unavailable(format!("{} answered {status}", call.url))),
            400..=499 => Err(failed(format!("{} answered {status}", call.url))),
            _ => Ok(status),
        }
    }
}
