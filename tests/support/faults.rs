//! Faults injected into the SDK's HTTP traffic: an `HttpClient` that wraps the real one
//! and, for the requests a plan names, answers a throttling error, a 500, or times out
//! before moto ever sees the request — what AWS does under load, on demand — or reports
//! an SQS batch as taken in part.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// What an injected fault looks like to the SDK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 400 with the service's throttling error code.
    Throttle,
    /// HTTP 500.
    ServerError,
    /// The connection times out.
    Timeout,
    /// The request goes through, and the answer of an SQS batch send says its first entry
    /// failed (SQS took it all): a batch taken in part, as the caller sees it.
    FirstOfBatchFailed,
}

#[derive(Debug)]
struct Planned {
    /// A substring of the operation: `X-Amz-Target` (`DynamoDB_20120810.PutItem`,
    /// `AmazonSQS.SendMessage`) or, for REST services, the path (`/v2/email/outbound-emails`).
    operation: String,
    fault: Fault,
    /// Requests of the operation to let through before the faults begin.
    skip: usize,
    times: usize,
}

/// The faults to inject, shared with the client it was installed in.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    plan: Arc<Mutex<Vec<Planned>>>,
    injected: Arc<Mutex<usize>>,
}

impl Faults {
    /// The next `times` requests of `operation` fail with `fault`.
    pub fn inject(&self, operation: &str, fault: Fault, times: usize) {
        self.inject_after(operation, 0, fault, times);
    }

    /// After `skip` requests of `operation` go through, the next `times` fail with `fault`.
    pub fn inject_after(&self, operation: &str, skip: usize, fault: Fault, times: usize) {
        self.plan.lock().unwrap().push(Planned {
            operation: operation.into(),
            fault,
            skip,
            times,
        });
    }

    /// Forgets the faults still planned: what follows goes through.
    pub fn clear(&self) {
        self.plan.lock().unwrap().clear();
    }

    /// How many requests were failed so far.
    pub fn injected(&self) -> usize {
        *self.injected.lock().unwrap()
    }

    fn take(&self, request: &HttpRequest) -> Option<Fault> {
        let target = request
            .headers()
            .get("x-amz-target")
            .map(str::to_string)
            .unwrap_or_else(|| request.uri().to_string());
        let mut plan = self.plan.lock().unwrap();
        let planned = plan
            .iter_mut()
            .find(|p| p.times > 0 && target.contains(&p.operation))?;
        if planned.skip > 0 {
            planned.skip -= 1;
            return None;
        }
        planned.times -= 1;
        *self.injected.lock().unwrap() += 1;
        Some(planned.fault)
    }

    /// An HTTP client that injects these faults into `inner`'s traffic.
    pub fn client(&self, inner: SharedHttpClient) -> SharedHttpClient {
        SharedHttpClient::new(FaultyClient {
            inner,
            faults: self.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyClient {
    inner: SharedHttpClient,
    faults: Faults,
}

impl HttpClient for FaultyClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            faults: self.faults.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Faults,
}

fn response(status: u16, body: &'static str) -> HttpResponse {
    let mut response = HttpResponse::new(
        status.try_into().expect("a status code"),
        SdkBody::from(body),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        match self.faults.take(&request) {
            None => self.inner.call(request),
            Some(Fault::Throttle) => HttpConnectorFuture::ready(Ok(response(
                400,
                r#"{"__type":"ThrottlingException","message":"injected throttling"}"#,
            ))),
            Some(Fault::ServerError) => HttpConnectorFuture::ready(Ok(response(
                500,
                r#"{"__type":"InternalServerError","message":"injected 500"}"#,
            ))),
            Some(Fault::Timeout) => {
                HttpConnectorFuture::ready(Err(ConnectorError::timeout("injected timeout".into())))
            }
            Some(Fault::FirstOfBatchFailed) => {
                let inner = self.inner.call(request);
                HttpConnectorFuture::new(async move {
                    let mut response = inner.await?;
                    let bytes =
                        aws_smithy_types::byte_stream::ByteStream::new(response.take_body())
                            .collect()
                            .await
                            .map(|b| b.into_bytes())
                            .unwrap_or_default();
                    let mut answer: serde_json::Value =
                        serde_json::from_slice(&bytes).unwrap_or_default();
                    if let Some(first) = answer["Successful"]
                        .as_array_mut()
                        .filter(|taken| !taken.is_empty())
                        .map(|taken| taken.remove(0))
                    {
                        answer["Failed"] = serde_json::json!([{
                            "Id": first["Id"], "SenderFault": false,
                            "Code": "InternalError", "Message": "injected partial failure"
                        }]);
                    }
                    *response.body_mut() = SdkBody::from(answer.to_string());
                    Ok(response)
                })
            }
        }
    }
}
