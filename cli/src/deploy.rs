//! `kairos deploy DIR --url URL [--dry-run]`: the workflows and definitions in a folder (a
//! git repository) pushed to a running stack — `kairos serve`, or intake on AWS — through
//! its HTTP API, with the key from `KAIROS_API_KEY`.
//!
//! Everything is validated first (nothing is sent if one file is broken); template files
//! are inlined; the plan (new / changed / unchanged workflows, definitions changed or
//! not) is printed; then the definitions go first (new templates and segments exist before
//! the workflows that name them) and each new or changed workflow after. Exit codes: 0
//! deployed (or nothing to do), 1 a file is invalid (nothing deployed), 2 the stack
//! refused or could not be reached part-way (what was deployed before is listed).

use std::path::{Path, PathBuf};

use kairos_core::language::parse::parse_document;
use serde_json::Value;

use crate::project;

/// What `deploy` is asked to do.
pub struct Options {
    pub dir: PathBuf,
    pub url: String,
    pub key: String,
    pub dry_run: bool,
}

/// How a run ended, for the exit code.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// A file is invalid; nothing was sent.
    Invalid(String),
    /// The stack refused a change or could not be reached.
    Refused(String),
}

/// The files of a project folder: `definitions.{yaml,yml,json}` at its top, and every
/// other YAML or JSON file below it that is a workflow (scenarios, with a `timeline`, and
/// other documents are left alone).
fn project_files(dir: &Path) -> Result<(Option<PathBuf>, Vec<PathBuf>), String> {
    let mut definitions = None;
    let mut workflows = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| format!("{}: cannot read the folder: {e}", folder.display()))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    stack.push(path);
                }
                continue;
            }
            let document = [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e));
            if !document {
                continue;
            }
            let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
            if stem == "definitions" && folder == dir {
                definitions = Some(path);
                continue;
            }
            // A file that does not parse is not sorted out here: if it was meant as a
            // workflow, its errors show when it is loaded as one below.
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let value: Option<Value> = parse_document(name, &text).ok();
            let is_workflow = value
                .as_ref()
                .and_then(Value::as_object)
                .is_some_and(|m| m.contains_key("steps") && !m.contains_key("timeline"));
            if is_workflow {
                workflows.push(path);
            }
        }
    }
    workflows.sort();
    Ok((definitions, workflows))
}

/// The plan for one workflow.
enum Change {
    New,
    Changed { from: u64 },
    Unchanged { version: u64 },
}

struct Client {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Failure> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url.trim_end_matches('/')))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Refused(format!("{}: {e}", self.url)))?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        if status == 401 {
            return Err(Failure::Refused(format!(
                "{}: the API key was refused (set KAIROS_API_KEY to the stack's key)",
                self.url
            )));
        }
        Ok((status, body))
    }
}

fn refusal(what: &str, status: u16, body: &Value) -> Failure {
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("no reason given");
    let path = body["error"]["path"]
        .as_str()
        .map_or(String::new(), |p| format!(" at {p}"));
    Failure::Refused(format!(
        "{what}: the stack answered {status}: {message}{path}"
    ))
}

/// The command.
pub async fn run(options: &Options) -> Result<(), Failure> {
    let (definitions_path, workflow_paths) =
        project_files(&options.dir).map_err(Failure::Invalid)?;
    // Everything is checked before anything is sent.
    let definitions = match &definitions_path {
        Some(path) => Some(
            project::definitions(path)
                .map_err(|errors| Failure::Invalid(crate::output::diagnostics(&errors)))?,
        ),
        None => None,
    };
    let (loaded, errors) = project::workflows(&workflow_paths, definitions.as_ref());
    if !errors.is_empty() {
        return Err(Failure::Invalid(crate::output::diagnostics(&errors)));
    }
    if loaded.is_empty() && definitions.is_none() {
        return Err(Failure::Invalid(format!(
            "{}: no workflow and no definitions.yaml to deploy",
            options.dir.display()
        )));
    }
    let client = Client {
        http: reqwest::Client::new(),
        url: options.url.clone(),
        key: options.key.clone(),
    };

    // The plan.
    let definitions_json = definitions
        .as_ref()
        .map(|d| serde_json::to_value(d).unwrap_or(Value::Null));
    let definitions_change = match &definitions_json {
        None => None,
        Some(local) => {
            let (status, body) = client
                .send(reqwest::Method::GET, "/v1/definitions", None)
                .await?;
            if status != 200 {
                return Err(refusal("GET /v1/definitions", status, &body));
            }
            Some(body["definitions"] != *local)
        }
    };
    let mut plan = Vec::new();
    for l in &loaded {
        let doc = serde_json::to_value(&l.workflow.doc).unwrap_or(Value::Null);
        let path = format!("/v1/workflows/{}", l.workflow.id);
        let (status, body) = client.send(reqwest::Method::GET, &path, None).await?;
        let change = match status {
            404 => Change::New,
            200 if body["workflow"] == doc => Change::Unchanged {
                version: body["version"].as_u64().unwrap_or(0),
            },
            200 => Change::Changed {
                from: body["version"].as_u64().unwrap_or(0),
            },
            _ => return Err(refusal(&format!("GET {path}"), status, &body)),
        };
        plan.push((l, doc, change));
    }
    let prefix = if options.dry_run {
        "would deploy"
    } else {
        "plan"
    };
    match definitions_change {
        Some(true) => println!("{prefix}: definitions changed"),
        Some(false) => println!("{prefix}: definitions unchanged"),
        None => {}
    }
    for (l, _, change) in &plan {
        let id = &l.workflow.id;
        match change {
            Change::New => println!("{prefix}: {id} new ({})", l.file),
            Change::Changed { from } => println!(
                "{prefix}: {id} changed, version {from} → {} ({})",
                from + 1,
                l.file
            ),
            Change::Unchanged { version } => {
                println!("{prefix}: {id} unchanged, version {version}")
            }
        }
    }
    if options.dry_run {
        return Ok(());
    }

    // Apply: definitions first, then every new or changed workflow.
    if let (Some(true), Some(body)) = (definitions_change, &definitions_json) {
        let (status, answer) = client
            .send(reqwest::Method::PUT, "/v1/definitions", Some(body))
            .await?;
        if status != 200 {
            return Err(refusal("definitions", status, &answer));
        }
        println!("deployed: definitions");
    }
    for (l, doc, change) in &plan {
        if let Change::Unchanged { .. } = change {
            continue;
        }
        let path = format!("/v1/workflows/{}", l.workflow.id);
        let (status, answer) = client.send(reqwest::Method::PUT, &path, Some(doc)).await?;
        if status != 200 {
            return Err(refusal(&l.workflow.id, status, &answer));
        }
        println!("deployed: {} version {}", l.workflow.id, answer["version"]);
    }
    Ok(())
}
