//! The Segment-compatible tracking API: `POST /v1/track`, `identify`, `page`, `screen`,
//! `alias`, `group` and `batch`, as Segment's libraries send them (Basic auth with the
//! write key, `messageId`, `sentAt`), so analytics.js, analytics-node or analytics-python
//! pointed at Kairos work unchanged. Each call becomes an event, a profile change or a
//! merge; which profiles merge is `kairos_core::identity`'s to say, how the engine's.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use kairos_core::engine::Input;
use kairos_core::identity::{merge, merges_for};
use kairos_core::language::definitions::MergeOn;
use kairos_core::ports::{CatalogStore, WorkItem};
use kairos_core::service::accept::{accept, Submission};
use kairos_core::service::Ports;
use kairos_core::Event;
use serde_json::{Map, Value};

use crate::answer::{ErrorBody, ErrorDetail, RejectedCall, Tracked};
use crate::auth::TrackingKey;
use crate::body::{self, contact_id};
use crate::contacts::checked_profile;
use crate::error::ApiError;
use crate::{App, Now};

/// Segment's limit for one message (one call, or one element of a batch).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Segment's limit for a whole batch.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// At most this many calls in one batch (the libraries send 100 at most).
pub const MAX_BATCH_CALLS: usize = 1000;
/// A `messageId` longer than this is refused (they are UUIDs, 36 characters).
const MAX_MESSAGE_ID: usize = 256;

/// The kinds of call (Segment's `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallType {
    Track,
    Identify,
    Page,
    Screen,
    Alias,
    Group,
}

impl CallType {
    fn parse(name: &str) -> Option<CallType> {
        Some(match name {
            "track" => CallType::Track,
            "identify" => CallType::Identify,
            "page" => CallType::Page,
            "screen" => CallType::Screen,
            "alias" => CallType::Alias,
            "group" => CallType::Group,
            _ => return None,
        })
    }
}

/// Why a call was not accepted: the field, and what is wrong with it.
#[derive(Debug)]
struct Rejected {
    path: &'static str,
    message: String,
}

fn rejected(path: &'static str, message: impl Into<String>) -> Rejected {
    Rejected {
        path,
        message: message.into(),
    }
}

/// A call read and checked: what to queue, and who it may merge.
struct Call {
    submissions: Vec<Submission>,
    /// `(userId, anonymousId, email)` when the call names a user: identity decides
    /// whether that merges profiles.
    merge_ask: Option<(String, Option<String>, Option<String>)>,
    write_key_only: bool,
    at: DateTime<Utc>,
}

/// Where a call sits: its receipt time and position (calls without a `timestamp` are a
/// microsecond apart, in order), and what the batch around it says.
struct Received<'a> {
    now: DateTime<Utc>,
    index: usize,
    sent_at: Option<DateTime<Utc>>,
    context: Option<&'a Value>,
    /// The call came with the write key alone (see `identity::merge`).
    write_key_only: bool,
}

/// An id (`userId`, `anonymousId`, …): a string or a number, as the libraries send them.
fn id(m: &Map<String, Value>, key: &'static str) -> Result<Option<String>, Rejected> {
    let text = match m.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(rejected(key, "expected a string")),
    };
    contact_id(&text, key).map_err(|e| rejected(key, e.message))?;
    Ok(Some(text))
}

fn time(m: &Map<String, Value>, key: &'static str) -> Result<Option<DateTime<Utc>>, Rejected> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => kairos_core::calendar::parse_timestamp(s)
            .map(Some)
            .map_err(|e| rejected(key, e)),
        Some(_) => Err(rejected(key, "expected an ISO 8601 timestamp")),
    }
}

fn object(m: &Map<String, Value>, key: &'static str) -> Result<Map<String, Value>, Rejected> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(o)) => Ok(o.clone()),
        Some(_) => Err(rejected(key, "expected an object")),
    }
}

fn text(m: &Map<String, Value>, key: &'static str) -> Result<Option<String>, Rejected> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(rejected(key, "expected a string")),
    }
}

/// When the call happened: its `timestamp` corrected for the client's clock as Segment
/// corrects it (`timestamp + (receivedAt − sentAt)`); without one, when it was received.
fn happened_at(m: &Map<String, Value>, received: &Received) -> Result<DateTime<Utc>, Rejected> {
    let sent_at = time(m, "sentAt")?.or(received.sent_at);
    Ok(match (time(m, "timestamp")?, sent_at) {
        (Some(at), Some(sent)) => at + (received.now - sent),
        (Some(at), None) => at,
        (None, _) => received.now + Duration::microseconds(received.index as i64),
    })
}

/// One call: checked whole, turned into its inputs.
fn read_call(
    kind: CallType,
    m: &Map<String, Value>,
    received: &Received,
) -> Result<Call, Rejected> {
    let at = happened_at(m, received)?;
    let message_id = text(m, "messageId")?.filter(|s| !s.is_empty());
    if let Some(id) = &message_id {
        if id.len() > MAX_MESSAGE_ID || id.chars().any(char::is_control) {
            let message = format!("at most {MAX_MESSAGE_ID} characters, no control characters");
            return Err(rejected("messageId", message));
        }
    }
    // Its own namespace: a tracking call cannot claim an id of `POST /v1/events` ahead.
    let dedupe = message_id.as_ref().map(|id| format!("track/{id}"));
    let user = id(m, "userId")?;
    let anonymous = id(m, "anonymousId")?;
    let event = |name: String, props: Map<String, Value>| {
        let dedupe = dedupe.clone();
        let event = Event {
            id: message_id.clone(),
            name,
            props,
            at,
        };
        (Input::Event(event), dedupe)
    };
    let mut email = None;
    let (input, dedupe) = match kind {
        CallType::Track => {
            let name = text(m, "event")?
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| rejected("event", "the event name is required"))?;
            event(name, object(m, "properties")?)
        }
        CallType::Page | CallType::Screen => {
            let mut props = object(m, "properties")?;
            for key in ["name", "category"] {
                if let Some(value) = text(m, key)? {
                    props.insert(key.into(), value.into());
                }
            }
            let name = if kind == CallType::Page {
                "page_viewed"
            } else {
                "screen_viewed"
            };
            event(name.into(), props)
        }
        CallType::Identify | CallType::Group => {
            let traits = object(m, "traits")?;
            let context = match m.get("context") {
                Some(Value::Object(c)) => Some(c),
                _ => received.context.and_then(Value::as_object),
            };
            let timezone = match context.and_then(|c| c.get("timezone")) {
                None | Some(Value::Null) => None,
                Some(Value::String(tz)) => Some(tz.clone()),
                Some(_) => return Err(rejected("context.timezone", "expected a string")),
            };
            let mut fields: BTreeMap<String, Value> = BTreeMap::new();
            let (mut address, mut phone) = (None, None);
            if kind == CallType::Group {
                let group = id(m, "groupId")?.ok_or_else(|| rejected("groupId", "required"))?;
                fields.insert("group_id".into(), group.into());
                fields.insert("group".into(), Value::Object(traits));
            } else {
                for (key, value) in traits {
                    match (key.as_str(), value) {
                        ("email", Value::String(e)) => address = Some(e),
                        ("phone", Value::String(p)) => phone = Some(p),
                        (_, value) => {
                            fields.insert(key, value);
                        }
                    }
                }
            }
            let timezone = if kind == CallType::Identify {
                timezone
            } else {
                None
            };
            let profile =
                checked_profile(address.clone(), phone, timezone, fields).map_err(|e| {
                    let path = match e.path.as_deref() {
                        Some("timezone") => "context.timezone",
                        Some("email") => "traits.email",
                        Some("phone") => "traits.phone",
                        _ => "traits",
                    };
                    rejected(path, e.message)
                })?;
            email = address;
            (Input::Identify(profile), dedupe.clone())
        }
        CallType::Alias => {
            let previous =
                id(m, "previousId")?.ok_or_else(|| rejected("previousId", "required"))?;
            let user = user.ok_or_else(|| rejected("userId", "required"))?;
            return Ok(Call {
                submissions: vec![merge(&previous, &user, received.write_key_only, at)],
                merge_ask: None,
                write_key_only: received.write_key_only,
                at,
            });
        }
    };
    let contact = user
        .clone()
        .or_else(|| anonymous.clone())
        .ok_or_else(|| rejected("userId", "a userId or an anonymousId is required"))?;
    // Without a userId the call is about the anonymous profile itself (which an email
    // may still merge into the contact that had it first).
    let merge_ask = (user.is_some() || email.is_some())
        .then(|| (contact.clone(), anonymous.filter(|_| user.is_some()), email));
    Ok(Call {
        submissions: vec![Submission {
            item: WorkItem { contact, input, at },
            dedupe,
        }],
        merge_ask,
        write_key_only: received.write_key_only,
        at,
    })
}

/// The calls' submissions with the merges they ask for, accepted together.
async fn accept_calls<P: Ports>(app: &App<P>, calls: Vec<Call>) -> Result<(), ApiError> {
    // The merge rule is the definitions'; they are read only when a call gives an email
    // (most tracking calls do not), not once per request.
    let gives_email = calls
        .iter()
        .any(|c| matches!(c.merge_ask, Some((_, _, Some(_)))));
    let merge_on = if gives_email {
        app.ports
            .catalog()
            .catalog()
            .await?
            .definitions()
            .merge_on()
    } else {
        MergeOn::None
    };
    let mut submissions = Vec::new();
    for call in calls {
        submissions.extend(call.submissions);
        if let Some((user, anonymous, email)) = call.merge_ask {
            let merges = merges_for(
                app.ports.contacts(),
                merge_on,
                &user,
                anonymous.as_deref(),
                email.as_deref(),
                call.write_key_only,
                call.at,
            )
            .await?;
            submissions.extend(merges);
        }
    }
    accept(&app.ports, submissions).await?;
    Ok(())
}

/// The JSON body with Segment's limit for `what` (a 413 says which limit).
async fn read(
    headers: &HeaderMap,
    body: Body,
    what: &str,
    limit: usize,
) -> Result<Value, ApiError> {
    body::json_at_most(headers, body, limit)
        .await
        .map_err(|e| match e.status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("{what} is larger than {} KB", limit / 1024),
            ),
            _ => e,
        })
}

fn success(rejected: Vec<RejectedCall>) -> Response {
    Json(Tracked {
        success: true,
        rejected,
    })
    .into_response()
}

/// One call on its own route (`/v1/track`, …).
async fn single<P: Ports>(
    kind: CallType,
    app: Arc<App<P>>,
    now: DateTime<Utc>,
    key: TrackingKey,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let value = read(&headers, body, "the message", MAX_MESSAGE_BYTES).await?;
    let Value::Object(m) = value else {
        return Err(ApiError::bad_request("expected a JSON object", ""));
    };
    let received = Received {
        now,
        index: 0,
        sent_at: None,
        context: None,
        write_key_only: key.write_key_only,
    };
    let call =
        read_call(kind, &m, &received).map_err(|r| ApiError::bad_request(r.message, r.path))?;
    accept_calls(&app, vec![call]).await?;
    Ok(success(Vec::new()))
}

macro_rules! route {
    ($name:ident, $kind:expr) => {
        pub(crate) async fn $name<P: Ports>(
            State(app): State<Arc<App<P>>>,
            Now(now): Now,
            Extension(key): Extension<TrackingKey>,
            headers: HeaderMap,
            body: Body,
        ) -> Result<Response, ApiError> {
            single($kind, app, now, key, headers, body).await
        }
    };
}

route!(track, CallType::Track);
route!(identify, CallType::Identify);
route!(page, CallType::Page);
route!(screen, CallType::Screen);
route!(alias, CallType::Alias);
route!(group, CallType::Group);

/// `POST /v1/batch`: every valid element is accepted; the others are answered by index and
/// reason (never dropped silently). All of them invalid is a 400.
pub(crate) async fn batch<P: Ports>(
    State(app): State<Arc<App<P>>>,
    Now(now): Now,
    Extension(key): Extension<TrackingKey>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let value = read(&headers, body, "the batch", MAX_BATCH_BYTES).await?;
    let Some(Value::Array(elements)) = value.get("batch") else {
        return Err(ApiError::bad_request(
            "expected `batch`: an array of calls",
            "batch",
        ));
    };
    if elements.len() > MAX_BATCH_CALLS {
        return Err(ApiError {
            path: Some("batch".into()),
            ..ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "at most {MAX_BATCH_CALLS} calls in a batch, not {}",
                    elements.len()
                ),
            )
        });
    }
    let top = value.as_object().cloned().unwrap_or_default();
    let sent_at = time(&top, "sentAt").map_err(|r| ApiError::bad_request(r.message, r.path))?;
    let mut calls = Vec::new();
    let mut refused = Vec::new();
    for (index, element) in elements.iter().enumerate() {
        let received = Received {
            now,
            index,
            sent_at,
            context: value.get("context"),
            write_key_only: key.write_key_only,
        };
        let outcome = match element {
            Value::Object(m)
                if serde_json::to_vec(m).map_or(0, |b| b.len()) > MAX_MESSAGE_BYTES =>
            {
                Err(rejected(
                    "",
                    format!("larger than {} KB", MAX_MESSAGE_BYTES / 1024),
                ))
            }
            Value::Object(m) => match m
                .get("type")
                .and_then(Value::as_str)
                .and_then(CallType::parse)
            {
                Some(kind) => read_call(kind, m, &received),
                None => Err(rejected(
                    "type",
                    "expected one of track, identify, page, screen, alias, group",
                )),
            },
            _ => Err(rejected("", "expected an object")),
        };
        match outcome {
            Ok(call) => calls.push(call),
            Err(r) => {
                let path = match r.path {
                    "" => format!("batch[{index}]"),
                    field => format!("batch[{index}].{field}"),
                };
                refused.push(RejectedCall {
                    index,
                    path,
                    message: r.message,
                });
            }
        }
    }
    if calls.is_empty() && !refused.is_empty() {
        let error = ErrorDetail {
            code: "bad_request".into(),
            message: "no call in the batch is valid".into(),
            path: Some("batch".into()),
            details: Vec::new(),
        };
        let body = ErrorBody {
            error,
            rejected: refused,
        };
        return Ok((StatusCode::BAD_REQUEST, Json(body)).into_response());
    }
    accept_calls(&app, calls).await?;
    Ok(success(refused))
}
