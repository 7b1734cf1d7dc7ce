//! The OpenAPI 3.1 document of the router, served at `GET /openapi.json` and committed as
//! `schemas/openapi.json` (a test fails when it is stale). Every schema in it is generated
//! from the type a handler reads or answers with (schemars, JSON Schema 2020-12 — the
//! dialect OpenAPI 3.1 uses), made publishable as the schema files are; what is written
//! here by hand is only what a type cannot say: the method and path, who may call, which
//! statuses. A test checks that every route the router has is here and that every
//! operation here answers.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{json, Map, Value};

use crate::answer::{Accepted, DefinitionsDeployed, Deployed, ErrorBody, Health, Tracked};
use crate::broadcasts::{BroadcastView, BusinessEventBody, FiredRuns};
use crate::contacts::{ContactBody, ContactView, JournalView, ListsBody, TagsBody};
use crate::definitions::DefinitionsInForce;
use crate::events::EventsBody;
use crate::segments::Members;
use crate::workflows::{WorkflowList, WorkflowVersions};
use kairos_core::language::definitions::Definitions;
use kairos_core::language::workflow::WorkflowDoc;
use kairos_core::report::WorkflowReport;

/// A schema from a type, registered with the document's generator.
type SchemaOf = fn(&mut SchemaGenerator) -> Schema;

fn of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// Who may call an operation.
#[derive(Clone, Copy)]
enum Caller {
    /// `Authorization: Bearer <api key>`.
    ApiKey,
    /// The write key (Basic, as tracking libraries send it) or the API key.
    Tracking,
    /// A browser session (log in at `/login`) or the API key.
    Session,
    /// Anyone.
    Anyone,
}

/// A request or response body.
#[derive(Clone, Copy)]
enum Content {
    Json(SchemaOf),
    /// A document in YAML or JSON (workflows, definitions).
    Document(SchemaOf),
    Html,
    Css,
    Csv,
    /// Plain text (axum's own rejections of a form).
    Text,
    Form,
    /// No body.
    Empty,
}

struct Answer {
    status: &'static str,
    description: &'static str,
    content: Content,
}

struct Param {
    name: &'static str,
    location: &'static str,
    description: &'static str,
}

struct Operation {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    caller: Caller,
    params: Vec<Param>,
    request: Content,
    answers: Vec<Answer>,
}

fn answer(status: &'static str, description: &'static str, content: Content) -> Answer {
    Answer {
        status,
        description,
        content,
    }
}

fn error(status: &'static str, description: &'static str) -> Answer {
    answer(status, description, Content::Json(of::<ErrorBody>))
}

fn path_param(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: "path",
        description,
    }
}

fn query_param(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: "query",
        description,
    }
}

/// The errors every route behind a key can answer, and those of routes that read a body.
fn keyed(mut answers: Vec<Answer>, body: bool) -> Vec<Answer> {
    answers.push(error(
        "400",
        "the request is malformed; `path` names the field",
    ));
    answers.push(error("401", "no valid key"));
    if body {
        answers.push(error("413", "the body is too large"));
        answers.push(error("415", "the body's content type is not accepted"));
    }
    answers
}

fn operations() -> Vec<Operation> {
    use Caller::*;
    use Content::*;
    let id = || path_param("id", "the resource's id");
    let contact = || path_param("id", "the contact's id");
    let token = || path_param("token", "the signed token from the message's link");
    let op = |method, path, id, tag, summary, caller, params, request, answers| Operation {
        method,
        path,
        id,
        tag,
        summary,
        caller,
        params,
        request,
        answers,
    };
    let tracking = |path, id, summary| {
        op(
            "post",
            path,
            id,
            "tracking",
            summary,
            Tracking,
            vec![],
            Json(segment_call),
            keyed(vec![answer("200", "accepted", Json(of::<Tracked>))], true),
        )
    };
    let control = |path, id, summary| {
        op(
            "post",
            path,
            id,
            "broadcasts",
            summary,
            ApiKey,
            vec![path_param("id", "the broadcast's id")],
            Empty,
            keyed(
                vec![
                    answer("202", "the runs it changed", Json(of::<FiredRuns>)),
                    error("404", "no such broadcast"),
                    error("409", "no run in a state this applies to"),
                ],
                false,
            ),
        )
    };
    let page = |path, id, summary, params| {
        op(
            "get",
            path,
            id,
            "console",
            summary,
            Session,
            params,
            Empty,
            vec![
                answer("200", "the page", Html),
                answer("303", "not logged in: to `/login`", Empty),
                error("400", "a malformed query"),
                error("401", "no valid key or session"),
                error("404", "no such resource"),
            ],
        )
    };
    vec![
        op("get", "/v1/workflows", "listWorkflows", "workflows",
            "Every deployed workflow: id, newest version, enabled, runs", ApiKey, vec![], Empty,
            keyed(vec![answer("200", "the workflows", Json(of::<WorkflowList>))], false)),
        op("put", "/v1/workflows/{id}", "deployWorkflow", "workflows",
            "Deploy a workflow: a new version only when the definition changed", ApiKey,
            vec![id()], Document(of::<WorkflowDoc>),
            keyed(vec![
                answer("200", "deployed", Json(of::<Deployed>)),
                error("409", "deployed by someone else at the same time"),
                error("422", "invalid: `details` lists every finding"),
            ], true)),
        op("get", "/v1/workflows/{id}", "getWorkflow", "workflows",
            "A workflow's newest version, with its versions", ApiKey, vec![id()], Empty,
            keyed(vec![
                answer("200", "the workflow", Json(of::<WorkflowVersions>)),
                error("404", "no such workflow"),
            ], false)),
        op("get", "/v1/workflows/{id}/report", "reportWorkflow", "workflows",
            "Per step: entered, now at, passed, goal conversions; per message step: sent, suppressed, delivered, opened, clicked",
            ApiKey, vec![id()], Empty,
            keyed(vec![
                answer("200", "the report", Json(of::<Option<WorkflowReport>>)),
                error("404", "no such workflow"),
            ], false)),
        op("put", "/v1/definitions", "deployDefinitions", "definitions",
            "Deploy segments, templates, scoring, delivery policy and identity rules", ApiKey,
            vec![], Document(of::<Definitions>),
            keyed(vec![
                answer("200", "deployed", Json(of::<DefinitionsDeployed>)),
                error("422", "invalid, or a deployed workflow needs what they remove"),
            ], true)),
        op("get", "/v1/definitions", "getDefinitions", "definitions",
            "The definitions in force", ApiKey, vec![], Empty,
            keyed(vec![answer("200", "the definitions", Json(of::<DefinitionsInForce>))], false)),
        op("put", "/v1/contacts/{id}", "putContact", "contacts",
            "Create or update a contact; answers with the contact as it will be", ApiKey,
            vec![contact()], Json(of::<ContactBody>),
            keyed(vec![answer("200", "the contact", Json(of::<ContactView>))], true)),
        op("get", "/v1/contacts/{id}", "getContact", "contacts",
            "A contact with its tags, lists, scores and runs (a merged id answers with the contact it became)",
            ApiKey, vec![contact()], Empty,
            keyed(vec![
                answer("200", "the contact", Json(of::<ContactView>)),
                error("404", "no such contact"),
            ], false)),
        op("delete", "/v1/contacts/{id}", "deleteContact", "contacts",
            "Delete a contact and every record of it (GDPR); nothing more is sent to it",
            ApiKey, vec![contact()], Empty,
            keyed(vec![answer("204", "deleted", Empty)], false)),
        op("post", "/v1/contacts/{id}/tags", "tagContact", "contacts",
            "Add and remove tags", ApiKey, vec![contact()], Json(of::<TagsBody>),
            keyed(vec![answer("202", "queued", Json(of::<Accepted>))], true)),
        op("post", "/v1/contacts/{id}/lists", "listContact", "contacts",
            "Join and leave lists", ApiKey, vec![contact()], Json(of::<ListsBody>),
            keyed(vec![answer("202", "queued", Json(of::<Accepted>))], true)),
        op("get", "/v1/contacts/{id}/journal", "contactJournal", "contacts",
            "What happened to a contact and why", ApiKey,
            vec![contact(), query_param("explain", "`1` adds the story in words"),
                query_param("workflow", "only this workflow's entries in the story")],
            Empty,
            keyed(vec![
                answer("200", "the journal", Json(of::<JournalView>)),
                error("404", "no such contact"),
            ], false)),
        op("post", "/v1/events", "postEvents", "events",
            "One event, or up to 100; an event with an `id` is accepted once", ApiKey,
            vec![], Json(of::<EventsBody>),
            keyed(vec![answer("202", "queued", Json(of::<Accepted>))], true)),
        op("post", "/v1/business-events", "postBusinessEvent", "broadcasts",
            "An event about the business (a price change): fires the broadcasts `on` it; an `id` fires once",
            ApiKey, vec![], Json(of::<BusinessEventBody>),
            keyed(vec![answer("202", "the runs it started", Json(of::<FiredRuns>))], true)),
        op("get", "/v1/broadcasts/{id}", "getBroadcast", "broadcasts",
            "A broadcast's runs: audience, queued, sent, suppressed by reason, delivered, opened, clicked, state",
            ApiKey, vec![id()], Empty,
            keyed(vec![
                answer("200", "the broadcast", Json(of::<BroadcastView>)),
                error("404", "no such broadcast"),
            ], false)),
        control("/v1/broadcasts/{id}/pause", "pauseBroadcast", "Pause its running runs: nothing more goes out until resumed"),
        control("/v1/broadcasts/{id}/resume", "resumeBroadcast", "Resume its paused runs"),
        control("/v1/broadcasts/{id}/cancel", "cancelBroadcast", "Cancel its runs: what has not gone out never will"),
        op("get", "/v1/segments/{id}/members", "segmentMembers", "audiences",
            "A segment's members now, a page at a time", ApiKey,
            vec![id(), query_param("cursor", "from the previous page"),
                query_param("limit", "ids per page, 1 to 10,000 (default 1,000)")],
            Empty,
            keyed(vec![
                answer("200", "a page of members", Json(of::<Members>)),
                error("404", "no such segment"),
            ], false)),
        op("get", "/v1/segments/{id}/export", "exportSegment", "audiences",
            "The members who take marketing as SHA-256 of the normalised email and phone (CSV), for ad platforms' customer lists; the next page's cursor in `Kairos-Next-Cursor`",
            ApiKey,
            vec![id(), query_param("format", "`hashed`"), query_param("cursor", "from the previous page"),
                query_param("limit", "members per page, 1 to 10,000 (default 10,000)")],
            Empty,
            keyed(vec![
                answer("200", "`email_sha256,phone_sha256` rows", Csv),
                error("404", "no such segment"),
            ], false)),
        tracking("/v1/track", "track", "Segment `track`: an event"),
        tracking("/v1/identify", "identify", "Segment `identify`: who a user is, with traits"),
        tracking("/v1/page", "page", "Segment `page`: a page view (`page_viewed`)"),
        tracking("/v1/screen", "screen", "Segment `screen`: a screen view (`screen_viewed`)"),
        tracking("/v1/alias", "alias", "Segment `alias`: two ids are one person"),
        tracking("/v1/group", "group", "Segment `group`: the account a user belongs to"),
        op("post", "/v1/batch", "batch", "tracking",
            "Up to 1,000 Segment calls; the valid ones are accepted, the others answered by index",
            Tracking, vec![], Json(segment_batch),
            keyed(vec![answer("200", "accepted, with `rejected` calls if any", Json(of::<Tracked>))], true)),
        op("get", "/unsubscribe/{token}", "unsubscribePage", "unsubscribe",
            "A page with a button that unsubscribes (a GET never does)", Anyone, vec![token()],
            Empty,
            vec![answer("200", "the page", Html), answer("400", "the link is not valid", Html),
                answer("404", "unsubscribe links are not configured", Html)]),
        op("post", "/unsubscribe/{token}", "unsubscribe", "unsubscribe",
            "RFC 8058 one-click unsubscribe", Anyone, vec![token()], Empty,
            vec![answer("200", "unsubscribed", Html), answer("400", "the link is not valid", Html),
                answer("404", "unsubscribe links are not configured", Html)]),
        op("get", "/health", "health", "service", "For load balancers and scripts", Anyone,
            vec![], Empty, vec![answer("200", "up", Json(of::<Health>))]),
        op("get", "/openapi.json", "openapi", "service", "This document", Anyone, vec![],
            Empty, vec![answer("200", "the OpenAPI document", Json(|_| Schema::from(true)))]),
        op("get", "/", "home", "console", "To the console", Anyone, vec![], Empty,
            vec![answer("303", "to `/console`", Empty)]),
        page("/console", "consoleWorkflows", "The workflows with their live counts", vec![]),
        op("get", "/console/style.css", "consoleStyle", "console", "The console's stylesheet",
            Session, vec![], Empty,
            vec![answer("200", "the stylesheet", Css), answer("303", "not logged in: to `/login`", Empty),
                error("401", "no valid key or session")]),
        page("/console/workflows/{id}", "consoleWorkflow",
            "A workflow's journey with per-step counts and experiments", vec![id()]),
        page("/console/contacts", "consoleContacts", "Find a contact by id or email",
            vec![query_param("q", "a contact id or an email address")]),
        page("/console/contacts/{id}", "consoleContact", "A contact's timeline in words",
            vec![contact()]),
        op("get", "/login", "loginPage", "console", "The login form", Anyone,
            vec![query_param("next", "where to go after logging in (a path on this site)")],
            Empty, vec![answer("200", "the form", Html)]),
        op("post", "/login", "login", "console", "Log in with the API key", Anyone, vec![],
            Form, vec![answer("200", "the form again: not the key", Html),
                answer("303", "logged in: a session cookie, and to `next`", Empty),
                answer("400", "not a form", Text), answer("415", "not a form", Text),
                answer("422", "the form lacks `key`", Text)]),
        op("post", "/logout", "logout", "console", "Log out", Anyone, vec![], Empty,
            vec![answer("303", "the session cookie cleared, and to `/login`", Empty)]),
    ]
}

/// A Segment call: the fields Kairos reads (the spec's others are accepted and ignored).
fn segment_call(_: &mut SchemaGenerator) -> Schema {
    let text = json!({ "type": "string" });
    let object = json!({ "type": "object" });
    Schema::try_from(json!({
        "type": "object",
        "description": "A call as Segment's libraries send it: `userId` or `anonymousId`, and what the call type needs (`event` for track, `previousId` for alias, `groupId` for group).",
        "properties": {
            "type": { "enum": ["track", "identify", "page", "screen", "alias", "group"], "description": "In a batch: which call this is." },
            "userId": text, "anonymousId": text, "previousId": text, "groupId": text,
            "event": text, "name": text, "category": text, "messageId": text,
            "timestamp": { "type": "string", "description": "When it happened (ISO 8601)." },
            "sentAt": text,
            "properties": object, "traits": object, "context": object, "integrations": object,
        },
    }))
    .unwrap_or_default()
}

fn segment_batch(generator: &mut SchemaGenerator) -> Schema {
    let call = segment_call(generator);
    Schema::try_from(json!({
        "type": "object",
        "required": ["batch"],
        "properties": {
            "batch": { "type": "array", "items": call, "maxItems": crate::MAX_BATCH_CALLS },
            "sentAt": { "type": "string" },
            "context": { "type": "object" },
        },
    }))
    .unwrap_or_default()
}

fn content(kind: Content, generator: &mut SchemaGenerator) -> Option<Value> {
    let json_schema = |f: SchemaOf, g: &mut SchemaGenerator| json!({ "schema": f(g) });
    Some(match kind {
        Content::Json(f) => json!({ "application/json": json_schema(f, generator) }),
        Content::Document(f) => {
            let schema = json_schema(f, generator);
            json!({ "application/yaml": schema, "application/json": schema })
        }
        Content::Html => json!({ "text/html": { "schema": { "type": "string" } } }),
        Content::Css => json!({ "text/css": { "schema": { "type": "string" } } }),
        Content::Csv => json!({ "text/csv": { "schema": { "type": "string" } } }),
        Content::Text => json!({ "text/plain": { "schema": { "type": "string" } } }),
        Content::Form => json!({ "application/x-www-form-urlencoded": { "schema": {
            "type": "object", "required": ["key"],
            "properties": { "key": { "type": "string" }, "next": { "type": "string" } } } } }),
        Content::Empty => return None,
    })
}

/// The document.
pub fn document() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    let mut generator = settings.into_generator();
    let mut paths = Map::new();
    for op in operations() {
        let mut operation = json!({
            "operationId": op.id,
            "tags": [op.tag],
            "summary": op.summary,
        });
        if !op.params.is_empty() {
            let params: Vec<Value> = op
                .params
                .iter()
                .map(|p| {
                    json!({ "name": p.name, "in": p.location, "required": p.location == "path",
                        "description": p.description, "schema": { "type": "string" } })
                })
                .collect();
            operation["parameters"] = json!(params);
        }
        if let Some(body) = content(op.request, &mut generator) {
            operation["requestBody"] = json!({ "required": true, "content": body });
        }
        let mut responses = Map::new();
        for a in op.answers {
            let mut response = json!({ "description": a.description });
            if let Some(body) = content(a.content, &mut generator) {
                response["content"] = body;
            }
            responses.insert(a.status.into(), response);
        }
        operation["responses"] = Value::Object(responses);
        operation["security"] = match op.caller {
            Caller::ApiKey => json!([{ "apiKey": [] }]),
            Caller::Tracking => json!([{ "writeKey": [] }, { "apiKey": [] }]),
            Caller::Session => json!([{ "session": [] }, { "apiKey": [] }]),
            Caller::Anyone => json!([]),
        };
        let entry = paths.entry(op.path).or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    let schemas = generator.take_definitions(true);
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Kairos",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Kairos's HTTP API: served by the intake function behind API Gateway and, unchanged, by `kairos serve`. Errors are `{\"error\": {\"code\", \"message\", \"path\"}}`.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": { "type": "http", "scheme": "bearer", "description": "The API key (`KAIROS_API_KEY`; on AWS the SSM parameter)." },
                "writeKey": { "type": "http", "scheme": "basic", "description": "The tracking write key as the user name, as Segment's libraries send it." },
                "session": { "type": "apiKey", "in": "cookie", "name": "kairos_session", "description": "A console session from `/login`." },
            },
        },
    });
    kairos_core::language::schema::publish(&mut document, "/components/schemas");
    document
}

/// Every `(method, path)` the document describes.
pub fn operations_described() -> Vec<(&'static str, &'static str)> {
    operations().iter().map(|o| (o.method, o.path)).collect()
}
