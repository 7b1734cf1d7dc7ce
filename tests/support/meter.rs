//! A meter on the SDK's HTTP traffic: an `HttpClient` that passes every request on to the
//! real one and counts it by service and operation, with the DynamoDB capacity it would
//! consume on AWS computed from the items in the request and the response by DynamoDB's
//! own rules (item size = attribute names + values; 1 WRU per 1 KB written, 1 RRU per
//! 4 KB read strongly, half that eventually; transactions twice; a failed conditional
//! write still pays). What the cost model (`tests/cost.rs`) prices.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use serde_json::Value;

/// What one operation did, summed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    pub requests: u64,
    /// DynamoDB write request units (table and indexes).
    pub wru: f64,
    /// DynamoDB read request units.
    pub rru: f64,
}

/// Requests and capacity by (service, operation) and, for DynamoDB, by item family
/// (`C/STATE`, `C/J`, `K/CLAIM` …: the key prefixes of the table's module doc), shared
/// with the client it was built into.
#[derive(Clone, Debug, Default)]
pub struct Meter {
    usage: Arc<Mutex<BTreeMap<(String, String), Usage>>>,
    by_item: Arc<Mutex<BTreeMap<(String, String), Usage>>>,
    /// While set, what is counted is also counted apart (see [`Meter::during`]).
    phase: Arc<Mutex<Option<Arc<Mutex<BTreeMap<(String, String), Usage>>>>>>,
}

impl Meter {
    /// An HTTP client that meters `inner`'s traffic.
    pub fn client(&self, inner: SharedHttpClient) -> SharedHttpClient {
        SharedHttpClient::new(MeteredClient {
            inner,
            meter: self.clone(),
        })
    }

    /// Everything counted so far.
    pub fn usage(&self) -> BTreeMap<(String, String), Usage> {
        self.usage.lock().unwrap().clone()
    }

    /// DynamoDB's share by (item family, operation): where the capacity goes.
    pub fn by_item(&self) -> BTreeMap<(String, String), Usage> {
        self.by_item.lock().unwrap().clone()
    }

    /// Forgets what was counted (set-up traffic is not the flow's).
    pub fn reset(&self) {
        self.usage.lock().unwrap().clear();
        self.by_item.lock().unwrap().clear();
    }

    /// Runs `work`, and returns what it alone did by (service, operation) beside its
    /// output (also counted in the totals). For sequential work: traffic of anything
    /// running meanwhile would be counted too.
    pub async fn during<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> (T, BTreeMap<(String, String), Usage>) {
        let apart = Arc::new(Mutex::new(BTreeMap::new()));
        *self.phase.lock().unwrap() = Some(apart.clone());
        let out = work.await;
        *self.phase.lock().unwrap() = None;
        let usage = apart.lock().unwrap().clone();
        (out, usage)
    }

    fn add(&self, service: &str, operation: &str, usage: Usage) {
        let at = (service.to_string(), operation.to_string());
        if let Some(apart) = self.phase.lock().unwrap().as_ref() {
            add_to(apart, at.clone(), &usage);
        }
        add_to(&self.usage, at, &usage);
    }
}

fn add_to(map: &Mutex<BTreeMap<(String, String), Usage>>, at: (String, String), usage: &Usage) {
    let mut all = map.lock().unwrap();
    let sum = all.entry(at).or_default();
    sum.requests += usage.requests;
    sum.wru += usage.wru;
    sum.rru += usage.rru;
}

/// The family of an item or key: its `pk` and `sk` up to their first `#`, a timer's due
/// time shown as `due` (`C/STATE`, `C/J`, `K/CLAIM`, `T/due`, `CATALOG/STAMP`).
fn family(item: &Value) -> String {
    let part = |name: &str| {
        let value = item[name]["S"].as_str().unwrap_or("?");
        let head = value.split('#').next().unwrap_or(value);
        if !head.is_empty() && head.bytes().all(|b| b.is_ascii_digit()) {
            "due".to_string()
        } else {
            head.to_string()
        }
    };
    format!("{}/{}", part("pk"), part("sk"))
}

/// The family a query reads: its partition key's prefix (`:pk`, or `:w` on `by-workflow`).
fn queried_family(request: &Value) -> String {
    let values = &request["ExpressionAttributeValues"];
    let pk = values[":pk"]["S"]
        .as_str()
        .or(values[":w"]["S"].as_str())
        .unwrap_or("?");
    format!("{}/query", pk.split('#').next().unwrap_or(pk))
}

/// The service and operation of a request: `X-Amz-Target` for the JSON protocols
/// (`DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessage`), the form's `Action` for SNS,
/// the path for SES v2's REST API.
fn operation(request: &HttpRequest, body: &[u8]) -> (String, String) {
    if let Some(target) = request.headers().get("x-amz-target") {
        let (service, op) = target.split_once('.').unwrap_or((target, ""));
        let service = match service {
            s if s.starts_with("DynamoDB") => "dynamodb",
            "AmazonSQS" => "sqs",
            s if s.starts_with("AmazonSSM") => "ssm",
            other => other,
        };
        return (service.to_string(), op.to_string());
    }
    let text = String::from_utf8_lossy(body);
    if let Some(action) = text
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
    {
        return ("sns".into(), action.to_string());
    }
    let path = request.uri().to_string();
    if path.contains("/v2/email/outbound-emails") {
        return ("ses".into(), "SendEmail".into());
    }
    // The sending rate, read once per dispatch instance (moto does not answer it).
    if path.ends_with("/v2/email/account") {
        return ("ses".into(), "GetAccount".into());
    }
    ("other".into(), path)
}

/// The size of an attribute value by DynamoDB's rules.
fn value_size(value: &Value) -> usize {
    let Some((kind, v)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match kind.as_str() {
        "S" => v.as_str().map_or(0, str::len),
        // Numbers: about one byte per two significant digits, plus one.
        "N" => v.as_str().map_or(0, |n| n.len().div_ceil(2) + 1),
        "B" => v.as_str().map_or(0, |b| b.len() * 3 / 4),
        "BOOL" | "NULL" => 1,
        "M" => 3 + v.as_object().map_or(0, item_size_of_map),
        "L" => {
            3 + v
                .as_array()
                .map_or(0, |l| l.iter().map(|e| 1 + value_size(e)).sum())
        }
        "SS" | "NS" | "BS" => v.as_array().map_or(0, |l| {
            l.iter().map(|e| e.as_str().map_or(0, str::len)).sum()
        }),
        _ => 0,
    }
}

fn item_size_of_map(item: &serde_json::Map<String, Value>) -> usize {
    item.iter()
        .map(|(name, v)| name.len() + value_size(v))
        .sum()
}

fn item_size(item: &Value) -> usize {
    item.as_object().map_or(0, item_size_of_map)
}

/// Units for `bytes` in blocks of `block` (at least one).
fn units(bytes: usize, block: usize) -> f64 {
    bytes.div_ceil(block).max(1) as f64
}

/// A write of `item`: the table, and the indexes it lands in — `by-workflow` (journal
/// entries carry `wpk`; all attributes projected) and `by-email` (keys only; counted when
/// the contact item is created, as later saves keep the same address).
fn write_units(item: &Value, creates: bool) -> f64 {
    let size = item_size(item);
    let mut wru = units(size, 1024);
    if item.get("wpk").is_some() {
        wru += units(size, 1024);
    }
    if item.get("email").is_some() && creates {
        wru += 1.0;
    }
    wru
}

/// The capacity a DynamoDB call consumes, from its request and response bodies, by the
/// item family each part of it touched.
fn dynamodb_usage(operation: &str, request: &Value, response: &Value) -> Vec<(String, Usage)> {
    let consistent = request["ConsistentRead"].as_bool().unwrap_or(false);
    let read = |bytes: usize| units(bytes, 4096) * if consistent { 1.0 } else { 0.5 };
    let creates = request["ConditionExpression"]
        .as_str()
        .is_some_and(|c| c.starts_with("attribute_not_exists"));
    let one = |family: String, wru: f64, rru: f64| {
        vec![(
            family,
            Usage {
                requests: 1,
                wru,
                rru,
            },
        )]
    };
    // A batch's parts each count as writes of their family; the request counts once.
    let parts = |parts: Vec<(String, f64)>| {
        parts
            .into_iter()
            .enumerate()
            .map(|(i, (family, wru))| {
                let requests = u64::from(i == 0);
                (
                    family,
                    Usage {
                        requests,
                        wru,
                        rru: 0.0,
                    },
                )
            })
            .collect()
    };
    match operation {
        "PutItem" => one(
            family(&request["Item"]),
            write_units(&request["Item"], creates),
            0.0,
        ),
        // The deleted or updated item's size is not in the request; these are small items
        // (payloads, claims, timers, stamps).
        "DeleteItem" | "UpdateItem" => one(family(&request["Key"]), 1.0, 0.0),
        "GetItem" => one(
            family(&request["Key"]),
            0.0,
            read(item_size(&response["Item"])),
        ),
        "Query" | "Scan" => {
            let bytes = response["Items"]
                .as_array()
                .map_or(0, |items| items.iter().map(item_size).sum());
            one(queried_family(request), 0.0, read(bytes))
        }
        "BatchWriteItem" => parts(
            request["RequestItems"]
                .as_object()
                .into_iter()
                .flat_map(|t| t.values())
                .filter_map(Value::as_array)
                .flatten()
                .map(|r| match r.get("PutRequest") {
                    Some(put) => (family(&put["Item"]), write_units(&put["Item"], false)),
                    None => (family(&r["DeleteRequest"]["Key"]), 1.0),
                })
                .collect(),
        ),
        "BatchGetItem" => {
            let bytes: usize = response["Responses"]
                .as_object()
                .into_iter()
                .flat_map(|t| t.values())
                .filter_map(Value::as_array)
                .flatten()
                .map(item_size)
                .sum();
            one("batch/get".into(), 0.0, units(bytes, 4096))
        }
        "TransactWriteItems" => parts(
            request["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| match t.get("Put") {
                    Some(put) => (family(&put["Item"]), 2.0 * write_units(&put["Item"], false)),
                    None => {
                        let key = t.as_object().and_then(|o| o.values().next());
                        (key.map_or("?".into(), |k| family(&k["Key"])), 2.0)
                    }
                })
                .collect(),
        ),
        _ => one("?".into(), 0.0, 0.0),
    }
}

#[derive(Debug)]
struct MeteredClient {
    inner: SharedHttpClient,
    meter: Meter,
}

impl HttpClient for MeteredClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(MeteredConnector {
            inner: self.inner.http_connector(settings, components),
            meter: self.meter.clone(),
        })
    }
}

#[derive(Debug)]
struct MeteredConnector {
    inner: SharedHttpConnector,
    meter: Meter,
}

impl HttpConnector for MeteredConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request.body().bytes().unwrap_or_default().to_vec();
        let (service, mut op) = operation(&request, &body);
        if service == "sqs" {
            // By queue: FIFO and standard requests are priced apart.
            let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if let Some(queue) = sent["QueueUrl"].as_str().and_then(|u| u.rsplit('/').next()) {
                op = format!("{op} {queue}");
            }
        }
        let inner = self.inner.call(request);
        let meter = self.meter.clone();
        HttpConnectorFuture::new(async move {
            let mut response = inner.await?;
            if service != "dynamodb" {
                meter.add(
                    &service,
                    &op,
                    Usage {
                        requests: 1,
                        ..Usage::default()
                    },
                );
                return Ok(response);
            }
            // The response body is read here and handed on whole.
            let bytes = aws_smithy_types::byte_stream::ByteStream::new(response.take_body())
                .collect()
                .await
                .map(|b| b.into_bytes())
                .unwrap_or_default();
            let json = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap_or(Value::Null);
            let mut total = Usage::default();
            for (family, usage) in dynamodb_usage(&op, &json(&body), &json(&bytes)) {
                add_to(&meter.by_item, (family, op.clone()), &usage);
                total.requests += usage.requests;
                total.wru += usage.wru;
                total.rru += usage.rru;
            }
            meter.add(&service, &op, total);
            *response.body_mut() = SdkBody::from(bytes);
            Ok(response)
        })
    }
}
