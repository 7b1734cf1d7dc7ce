//! `kairos audience export SEGMENT (--scenario FILE | --url URL)`: a segment's members who
//! take marketing as SHA-256 of their normalised email and phone (CSV,
//! `email_sha256,phone_sha256`), ready for an ad platform's customer list — from a
//! simulated scenario (the members at its end) or from a running stack (paged through
//! `GET /v1/segments/{id}/export?format=hashed`, key from KAIROS_API_KEY).

use std::io::Write;
use std::path::Path;

use kairos_core::service::audiences::{self, HASHED_HEADER};

use crate::output;
use crate::scenario;
use crate::simulate::{run, Virtual};

/// The rows of the members at the scenario's end.
pub async fn from_scenario(path: &Path, segment: &str) -> Result<Vec<String>, String> {
    let scenario = scenario::load(path).map_err(|errors| output::diagnostics(&errors))?;
    let end = scenario.end;
    let outcome = run(scenario, &mut Virtual, &mut |_| {}, &mut |_| {})
        .await
        .map_err(|e| e.to_string())?;
    let pipeline = &outcome.pipeline;
    let definitions = pipeline.catalog.definitions();
    let mut rows = Vec::new();
    let mut cursor = None;
    loop {
        let (members, next) =
            audiences::members(&pipeline.store, definitions, segment, cursor, 10_000, end)
                .await
                .map_err(|e| match e {
                    audiences::AudienceError::UnknownSegment => {
                        format!(
                            "{}: no segment `{segment}` in its definitions",
                            path.display()
                        )
                    }
                    audiences::AudienceError::Port(e) => e.to_string(),
                })?;
        rows.extend(
            members
                .iter()
                .filter_map(|s| audiences::hashed_row(&s.contact)),
        );
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(rows),
        }
    }
}

/// The rows a running stack exports, every page.
pub async fn from_url(url: &str, key: &str, segment: &str) -> Result<Vec<String>, String> {
    let http = reqwest::Client::new();
    let base = format!(
        "{}/v1/segments/{}/export",
        url.trim_end_matches('/'),
        kairos_api::html::url_component(segment)
    );
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("format", "hashed".to_string())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let response = http
            .get(&base)
            .query(&query)
            .bearer_auth(key)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let next = response
            .headers()
            .get("kairos-next-cursor")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response.text().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{url}: the stack answered {status}: {text}"));
        }
        rows.extend(text.lines().skip(1).map(str::to_string));
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(rows),
        }
    }
}

/// Prints the CSV.
pub fn print(rows: &[String]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    let mut write = || -> std::io::Result<()> {
        writeln!(out, "{HASHED_HEADER}")?;
        for row in rows {
            writeln!(out, "{row}")?;
        }
        out.flush()
    };
    match write() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
        _ => Ok(()),
    }
}
