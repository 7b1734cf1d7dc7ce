//! The HTTP API of `http-api.md` as an axum router. Handlers translate HTTP to domain
//! calls and back; the domain decides. The same router runs on Lambda (API Gateway HTTP
//! API, payload 2.0) and in `kairos serve`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use kairos_core::engine::{Input, Profile};
use kairos_core::language::definitions::Definitions;
use kairos_core::language::parse::parse_document;
use kairos_core::language::validate::{validate_definitions, validate_workflow, References};
use kairos_core::language::workflow::WorkflowDoc;
use kairos_core::language::{load_workflow, with_lines};
use kairos_core::ports::WorkItem;
use kairos_core::{Catalog, ContactState, Deployed, Event};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::backend::Backend;
use crate::error::ApiError;

/// Bodies larger than this are refused with 413 before anything is read further or written.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// `POST /v1/events` takes at most this many events at once.
pub const MAX_EVENTS: usize = 100;

pub struct App<B> {
    pub backend: B,
    pub api_key: String,
    /// Verifies unsubscribe tokens; without it the unsubscribe routes answer 404.
    pub links: Option<kairos_core::unsubscribe::Links>,
}

pub fn router<B: Backend>(app: Arc<App<B>>) -> Router {
    let v1 = Router::new()
        .route(
            "/v1/workflows/{id}",
            put(put_workflow::<B>).get(get_workflow::<B>),
        )
        .route("/v1/workflows/{id}/report", get(get_report::<B>))
        .route("/v1/definitions", put(put_definitions::<B>))
        .route(
            "/v1/contacts/{id}",
            put(put_contact::<B>)
                .get(get_contact::<B>)
                .delete(delete_contact::<B>),
        )
        .route("/v1/contacts/{id}/tags", post(post_tags::<B>))
        .route("/v1/contacts/{id}/lists", post(post_lists::<B>))
        .route("/v1/contacts/{id}/journal", get(get_journal::<B>))
        .route("/v1/events", post(post_events::<B>))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            require_api_key::<B>,
        ));
    let unsubscribe = Router::new().route(
        "/unsubscribe/{token}",
        get(unsubscribe_page::<B>).post(unsubscribe::<B>),
    );
    v1.merge(unsubscribe)
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .with_state(app)
}

/// `Authorization: Bearer <key>`, compared in constant time.
async fn require_api_key<B: Backend>(
    State(app): State<Arc<App<B>>>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or_default();
    // Digests of equal length, compared in constant time: neither the key's bytes nor its
    // length show in the timing.
    let digest = |text: &str| Sha256::digest(text.as_bytes());
    let ok = !app.api_key.is_empty()
        && bool::from(
            digest(given)
                .as_slice()
                .ct_eq(digest(&app.api_key).as_slice()),
        );
    if !ok {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid `Authorization: Bearer <api key>` header is required",
        )
        .into_response();
    }
    next.run(request).await
}

/// Reads the body with the size limit: 413 before anything is written.
async fn body_bytes(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            )
        })
}

/// The media type of the body, without parameters (`application/json; charset=utf-8` is
/// `application/json`; `application/jsonfoo` is not).
fn content_type(headers: &HeaderMap) -> String {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = value.split(';').next().unwrap_or_default();
    essence.trim().to_ascii_lowercase()
}

/// A JSON body: 415 for another content type, 400 naming the field for a bad one.
async fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let kind = content_type(headers);
    if kind != "application/json" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send `Content-Type: application/json`",
        ));
    }
    let bytes = body_bytes(body).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::bad_request("the body is not UTF-8", ""))?;
    parse_document::<T>("body.json", text).map_err(|d| ApiError::invalid(vec![d], true))
}

/// A document body in YAML or JSON (workflows, definitions).
async fn document_text(
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, &'static str), ApiError> {
    let kind = content_type(headers);
    let name = if kind == "application/json" {
        "body.json"
    } else if ["application/yaml", "application/x-yaml", "text/yaml"].contains(&kind.as_str()) {
        "body.yaml"
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send `Content-Type: application/yaml` or `application/json`",
        ));
    };
    let bytes = body_bytes(body).await?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::bad_request("the body is not UTF-8", ""))?;
    Ok((text, name))
}

/// The one path parameter of a route. A segment that does not decode (a bad percent
/// escape, invalid UTF-8) is a JSON 400 like every other error, not axum's plain text.
struct PathId(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<PathId, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(segment)) => Ok(PathId(segment)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text(), "path")),
        }
    }
}

fn valid_id(id: &str, what: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 256 || id.chars().any(|c| c.is_control() || c == '#') {
        return Err(ApiError::bad_request(
            format!("`{id}` is not a valid {what} id"),
            "id",
        ));
    }
    Ok(())
}

async fn put_workflow<B: Backend>(
    State(app): State<Arc<App<B>>>,
    PathId(id): PathId,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (text, name) = document_text(&headers, body).await?;
    let doc: WorkflowDoc =
        parse_document(name, &text).map_err(|d| ApiError::invalid(vec![d], true))?;
    if doc.id != id {
        return Err(ApiError {
            path: Some("id".into()),
            ..ApiError::invalid(vec![], false)
        }
        .with_message(format!(
            "the workflow's id `{}` differs from the id in the path `{id}`",
            doc.id
        )));
    }
    let mut catalog = app.backend.catalog().await?;
    let mut known = catalog.ids();
    known.insert(id.clone());
    let defs = catalog.definitions().clone();
    // Until definitions are deployed, segment and template references are not checked.
    let deployed = defs != Definitions::default();
    let refs = References {
        definitions: deployed.then_some(&defs),
        workflows: Some(&known),
    };
    let workflow = load_workflow(name, &text, refs).map_err(|d| ApiError::invalid(d, false))?;
    let enroll_existing = workflow.enroll_existing;
    let deployed = catalog.deploy(workflow).map_err(|e| {
        ApiError::invalid(
            vec![kairos_core::Diagnostic::error(name, "migrate", e)],
            false,
        )
    })?;
    if let Deployed::New(_) = deployed {
        if let Some(latest) = catalog.latest(&id) {
            app.backend.save_workflow(latest).await?;
        }
        if enroll_existing {
            app.backend.enroll_existing(&id).await?;
        }
    }
    Ok(Json(
        json!({ "id": id, "version": deployed.version(), "changed": matches!(deployed, Deployed::New(_)) }),
    ))
}

impl ApiError {
    fn with_message(mut self, message: String) -> ApiError {
        self.message = message;
        self
    }
}

async fn get_workflow<B: Backend>(
    State(app): State<Arc<App<B>>>,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    let catalog = app.backend.catalog().await?;
    let latest = catalog
        .latest(&id)
        .ok_or_else(|| ApiError::not_found(format!("no workflow `{id}`")))?;
    let versions: Vec<u32> = catalog.versions(&id).iter().map(|w| w.version).collect();
    Ok(Json(
        json!({ "id": id, "version": latest.version, "versions": versions, "workflow": latest.doc }),
    ))
}

async fn get_report<B: Backend>(
    State(app): State<Arc<App<B>>>,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    let catalog = app.backend.catalog().await?;
    if catalog.latest(&id).is_none() {
        return Err(ApiError::not_found(format!("no workflow `{id}`")));
    }
    let journal = app.backend.workflow_journal(&id).await?;
    let report = kairos_core::report::build(&journal, &catalog);
    let workflow = report.workflows.into_iter().find(|w| w.workflow == id);
    Ok(Json(json!(workflow)))
}

async fn put_definitions<B: Backend>(
    State(app): State<Arc<App<B>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (text, name) = document_text(&headers, body).await?;
    let defs: Definitions =
        parse_document(name, &text).map_err(|d| ApiError::invalid(vec![d], true))?;
    let mut errors = defs.file_references(name);
    errors.extend(validate_definitions(&defs, name));
    // Deployed workflows must still find every segment and template they name.
    let catalog = app.backend.catalog().await?;
    let known = catalog.ids();
    for workflow in catalog.latest_all() {
        let refs = References {
            definitions: Some(&defs),
            workflows: Some(&known),
        };
        let file = format!("workflow {}", workflow.id);
        if let Err(broken) = validate_workflow(workflow.doc.clone(), &file, refs) {
            errors.extend(broken.into_iter().map(|mut d| {
                d.message = format!(
                    "{} (deployed workflow `{}` would lose it)",
                    d.message, workflow.id
                );
                d
            }));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(with_lines(errors, &text), false));
    }
    app.backend.save_definitions(&defs).await?;
    Ok(Json(
        json!({ "segments": defs.segments.len(), "templates": defs.templates.len(), "scoring": defs.scoring.len() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, Value>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    lists: Vec<String>,
}

/// The contact as the API shows it; `catalog` names the step each run is at.
fn contact_view(state: &ContactState, catalog: &Catalog, now: DateTime<Utc>) -> Value {
    let c = &state.contact;
    let scores: BTreeMap<&String, i64> =
        c.scores.iter().map(|(k, v)| (k, v.value_at(now))).collect();
    let runs: Vec<Value> = state
        .runs
        .values()
        .map(|r| {
            let step = catalog
                .get(&r.workflow, r.version)
                .and_then(|w| w.nodes.get(r.at))
                .map(|node| node.id.as_str());
            json!({ "run": r.id(), "workflow": r.workflow, "version": r.version, "step": step, "started_at": r.started_at, "waiting_until": r.waiting.as_ref().and_then(|w| w.until) })
        })
        .collect();
    json!({
        "id": c.id, "email": c.email, "phone": c.phone, "timezone": c.timezone.name(), "fields": c.fields,
        "tags": c.tags, "lists": c.lists, "scores": scores, "consent": c.consent, "created_at": c.created_at, "runs": runs,
    })
}

async fn put_contact<B: Backend>(
    State(app): State<Arc<App<B>>>,
    PathId(id): PathId,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    valid_id(&id, "contact")?;
    let b: ContactBody = json_body(&headers, body).await?;
    let timezone = match b.timezone.as_deref() {
        Some(name) => Some(
            kairos_core::calendar::parse_tz(name)
                .map_err(|e| ApiError::bad_request(e, "timezone"))?,
        ),
        None => None,
    };
    // `fields.email` / `fields.phone` are the addresses too (the engine's identify reads
    // them so), and are checked the same way.
    let field = |name: &str| b.fields.get(name).and_then(Value::as_str);
    for (path, email) in [
        ("email", b.email.as_deref()),
        ("fields.email", field("email")),
    ] {
        if let Some(email) = email {
            kairos_core::address::EmailAddress::parse(email)
                .map_err(|e| ApiError::bad_request(e, path))?;
        }
    }
    for (path, phone) in [
        ("phone", b.phone.as_deref()),
        ("fields.phone", field("phone")),
    ] {
        if let Some(phone) = phone.filter(|p| !kairos_core::delivery::is_e164(p)) {
            return Err(ApiError::bad_request(
                format!(
                    "`{}` is not an E.164 phone number (e.g. +4915100000001)",
                    phone.escape_debug()
                ),
                path,
            ));
        }
    }
    let now = Utc::now();
    let profile = Profile {
        email: b.email,
        phone: b.phone,
        timezone,
        fields: b.fields,
    };
    // The answer shows the contact as it will be; the engine applies the change in order
    // with everything else that happens to the contact.
    let mut preview = app
        .backend
        .load(&id)
        .await?
        .unwrap_or_else(|| ContactState::new(kairos_core::Contact::new(id.clone(), now)));
    if let Some(tz) = profile.timezone {
        preview.contact.timezone = tz;
    }
    preview.contact.email = profile.email.clone().or(preview.contact.email);
    preview.contact.phone = profile.phone.clone().or(preview.contact.phone);
    preview.contact.fields.extend(profile.fields.clone());
    preview.contact.tags.extend(b.tags.iter().cloned());
    preview.contact.lists.extend(b.lists.iter().cloned());
    app.backend
        .submit(WorkItem {
            contact: id.clone(),
            input: Input::Identify(profile),
            at: now,
        })
        .await?;
    if !b.tags.is_empty() {
        app.backend
            .submit(WorkItem {
                contact: id.clone(),
                input: Input::Tags {
                    add: b.tags,
                    remove: vec![],
                },
                at: now,
            })
            .await?;
    }
    if !b.lists.is_empty() {
        app.backend
            .submit(WorkItem {
                contact: id.clone(),
                input: Input::Lists {
                    join: b.lists,
                    leave: vec![],
                },
                at: now,
            })
            .await?;
    }
    Ok(Json(contact_view(
        &preview,
        &app.backend.catalog().await?,
        now,
    )))
}

async fn get_contact<B: Backend>(
    State(app): State<Arc<App<B>>>,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    let state = app
        .backend
        .load(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no contact `{id}`")))?;
    Ok(Json(contact_view(
        &state,
        &app.backend.catalog().await?,
        Utc::now(),
    )))
}

async fn delete_contact<B: Backend>(
    State(app): State<Arc<App<B>>>,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    app.backend.delete(&id, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListsBody {
    #[serde(default)]
    join: Vec<String>,
    #[serde(default)]
    leave: Vec<String>,
}

async fn post_tags<B: Backend>(
    State(app): State<Arc<App<B>>>,
    PathId(id): PathId,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    valid_id(&id, "contact")?;
    let b: TagsBody = json_body(&headers, body).await?;
    let input = Input::Tags {
        add: b.add,
        remove: b.remove,
    };
    accept(&app, id, input).await
}

/// Queues one input for a contact, now: `202 {"accepted": 1}`.
async fn accept<B: Backend>(
    app: &App<B>,
    contact: String,
    input: Input,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let at = Utc::now();
    app.backend.submit(WorkItem { contact, input, at }).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": 1 }))))
}

async fn post_lists<B: Backend>(
    State(app): State<Arc<App<B>>>,
    PathId(id): PathId,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    valid_id(&id, "contact")?;
    let b: ListsBody = json_body(&headers, body).await?;
    let input = Input::Lists {
        join: b.join,
        leave: b.leave,
    };
    accept(&app, id, input).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBody {
    #[serde(default)]
    id: Option<String>,
    contact: String,
    event: String,
    #[serde(default)]
    props: Map<String, Value>,
    #[serde(default)]
    at: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EventsBody {
    Many { events: Vec<Value> },
    One(Value),
}

async fn get_journal<B: Backend>(
    State(app): State<Arc<App<B>>>,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    let journal = app.backend.journal(&id).await?;
    if journal.is_empty() && app.backend.load(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no contact `{id}`")));
    }
    Ok(Json(json!({ "contact": id, "journal": journal })))
}

async fn post_events<B: Backend>(
    State(app): State<Arc<App<B>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let raw: EventsBody = json_body(&headers, body).await?;
    let (values, prefix) = match raw {
        EventsBody::Many { events } => (events, "events"),
        EventsBody::One(v) => (vec![v], ""),
    };
    if values.len() > MAX_EVENTS {
        return Err(ApiError {
            path: Some("events".into()),
            ..ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("at most {MAX_EVENTS} events at once, not {}", values.len()),
            )
        });
    }
    // Everything is checked before anything is accepted.
    let now = Utc::now();
    let mut events = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let at_path = |field: &str| match (prefix.is_empty(), field.is_empty()) {
            (true, _) => field.to_string(),
            (false, true) => format!("{prefix}[{i}]"),
            (false, false) => format!("{prefix}[{i}].{field}"),
        };
        let e: EventBody = kairos_core::language::parse::from_value(value)
            .map_err(|m| ApiError::bad_request(m, &at_path("")))?;
        valid_id(&e.contact, "contact").map_err(|err| ApiError {
            path: Some(at_path("contact")),
            ..err
        })?;
        if e.event.trim().is_empty() {
            return Err(ApiError::bad_request(
                "the event name cannot be empty",
                &at_path("event"),
            ));
        }
        let at = match e.at.as_deref() {
            Some(text) => kairos_core::calendar::parse_timestamp(text)
                .map_err(|m| ApiError::bad_request(m, &at_path("at")))?,
            None => now,
        };
        events.push((
            e.id,
            Event {
                id: None,
                name: e.event,
                props: e.props,
                at,
            },
            e.contact,
        ));
    }
    let mut accepted = 0;
    for (id, mut event, contact) in events {
        let claim = id.as_ref().map(|id| format!("event/{id}"));
        if let Some(claim) = &claim {
            if !app.backend.claim(claim).await? {
                continue;
            }
        }
        event.id = id;
        let at = event.at;
        let submitted = app
            .backend
            .submit(WorkItem {
                contact,
                input: Input::Event(event),
                at,
            })
            .await;
        if let Err(error) = submitted {
            // Not queued, so not accepted: the client's retry must be able to try again.
            if let Some(claim) = &claim {
                app.backend.release(claim).await?;
            }
            return Err(error.into());
        }
        accepted += 1;
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": accepted }))))
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head><body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\"><h1>{title}</h1>{body}</body></html>"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

fn verify_token<B: Backend>(app: &App<B>, token: &str) -> Result<(String, String), Response> {
    let Some(links) = &app.links else {
        return Err(page(
            StatusCode::NOT_FOUND,
            "Not available",
            "<p>Unsubscribe links are not configured.</p>",
        ));
    };
    links.signer.verify(token).map_err(|e| {
        page(
            StatusCode::BAD_REQUEST,
            "Link not valid",
            &format!("<p>{e}.</p>"),
        )
    })
}

/// `GET /unsubscribe/{token}`: a page with a button. A GET never unsubscribes (mail
/// scanners follow links).
async fn unsubscribe_page<B: Backend>(
    State(app): State<Arc<App<B>>>,
    PathId(token): PathId,
) -> Response {
    if let Err(response) = verify_token(&app, &token) {
        return response;
    }
    let form = format!("<p>Stop receiving these emails?</p><form method=\"post\" action=\"/unsubscribe/{token}\"><button type=\"submit\">Unsubscribe</button></form>");
    page(StatusCode::OK, "Unsubscribe", &form)
}

/// `POST /unsubscribe/{token}` (RFC 8058 one-click; no auth, the token is the proof).
/// Unsubscribing twice is harmless: the second event changes nothing.
async fn unsubscribe<B: Backend>(
    State(app): State<Arc<App<B>>>,
    PathId(token): PathId,
) -> Response {
    let (contact, list) = match verify_token(&app, &token) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let done = || {
        page(
            StatusCode::OK,
            "Unsubscribed",
            "<p>You will not receive these emails any more.</p>",
        )
    };
    // A link never creates a contact, nor brings a deleted one back: for a contact that
    // is not there, there is nothing to unsubscribe (and the page says the same).
    match app.backend.load(&contact).await {
        Ok(Some(_)) => {}
        Ok(None) => return done(),
        Err(e) => return ApiError::from(e).into_response(),
    }
    let event = Event::new("unsubscribed", Utc::now()).with("list", list.as_str());
    let at = event.at;
    match app
        .backend
        .submit(WorkItem {
            contact,
            input: Input::Event(event),
            at,
        })
        .await
    {
        Ok(()) => done(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
