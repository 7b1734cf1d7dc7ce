//! The workflows: a list with versions, state and active runs; one workflow as a journey
//! — how contacts get in and out, every step in words with its live counts, branches side
//! by side, a split's experiment results.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use kairos_core::journey::{entry_words, step_words};
use kairos_core::language::step::StepDoc;
use kairos_core::ports::{CatalogStore, ContactStore};
use kairos_core::program::{NodeKind, Workflow};
use kairos_core::report::{StepReport, WorkflowReport};
use kairos_core::service::Ports;

use super::{page, segment};
use crate::body::PathId;
use crate::error::ApiError;
use crate::html::escape;
use crate::App;

/// The report of one workflow from its own journal.
async fn report_of<P: Ports>(
    app: &App<P>,
    catalog: &kairos_core::Catalog,
    id: &str,
) -> Result<WorkflowReport, ApiError> {
    let journal = app.ports.contacts().workflow_journal(id).await?;
    let report = kairos_core::report::build(&journal, catalog);
    Ok(report
        .workflows
        .into_iter()
        .find(|w| w.workflow == id)
        .unwrap_or_default())
}

pub(crate) async fn list<P: Ports>(
    State(app): State<Arc<App<P>>>,
) -> Result<Html<String>, ApiError> {
    let catalog = app.ports.catalog().catalog().await?;
    let mut rows = String::new();
    for wf in catalog.latest_all() {
        let report = report_of(&app, &catalog, &wf.id).await?;
        rows.push_str(&format!(
            "<tr><td><a href=\"/console/workflows/{}\">{}</a></td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            segment(&wf.id),
            escape(wf.name()),
            escape(&wf.id),
            wf.version,
            if wf.enabled { "enabled" } else { "paused" },
            report.entered,
            report.active,
        ));
    }
    let body = if rows.is_empty() {
        "<p class=\"empty\">No workflow is deployed yet: <code>PUT /v1/workflows/{id}</code>.</p>"
            .to_string()
    } else {
        format!("<table><tr><th>workflow</th><th>id</th><th class=\"num\">version</th><th>state</th><th class=\"num\">entered</th><th class=\"num\">active runs</th></tr>{rows}</table>")
    };
    Ok(page(&app, "Workflows", &body))
}

pub(crate) async fn show<P: Ports>(
    State(app): State<Arc<App<P>>>,
    PathId(id): PathId,
) -> Result<Html<String>, ApiError> {
    let catalog = app.ports.catalog().catalog().await?;
    let wf = catalog
        .latest(&id)
        .ok_or_else(|| ApiError::not_found(format!("no workflow `{id}`")))?;
    let report = report_of(&app, &catalog, &id).await?;
    let entry: String = entry_words(wf)
        .iter()
        .map(|line| format!("<li>{}</li>", escape(line)))
        .collect();
    let exits: Vec<String> = report
        .exited
        .iter()
        .map(|(reason, n)| format!("{} {n}", escape(reason)))
        .collect();
    let summary = format!(
        "<div class=\"entry\"><b>Version {}</b> · {} · entered <b>{}</b> · active now <b>{}</b>{}<ul>{entry}</ul></div>",
        wf.version,
        if wf.enabled { "enabled" } else { "paused" },
        report.entered,
        report.active,
        if exits.is_empty() { String::new() } else { format!(" · left: {}", exits.join(", ")) }
    );
    let journey = steps(wf, &wf.doc.steps, &report);
    Ok(page(
        &app,
        wf.name(),
        &format!("{summary}<ol class=\"journey\">{journey}</ol>"),
    ))
}

/// A list of steps (the workflow's, or a branch's), each a box with its counts.
fn steps(wf: &Workflow, docs: &[StepDoc], report: &WorkflowReport) -> String {
    docs.iter().map(|doc| step(wf, doc, report)).collect()
}

fn step(wf: &Workflow, doc: &StepDoc, report: &WorkflowReport) -> String {
    let Some(i) = wf.node_index(&doc.id) else {
        return String::new();
    };
    let node = &wf.nodes[i];
    let kind = doc.kinds().first().copied().unwrap_or("step");
    let counts = report
        .steps
        .iter()
        .find(|s| s.step == doc.id)
        .map(counts)
        .unwrap_or_default();
    let mut inner = String::new();
    if let NodeKind::If { .. } = node.kind {
        let then = steps(wf, doc.then.as_deref().unwrap_or_default(), report);
        let otherwise = steps(wf, doc.else_.as_deref().unwrap_or_default(), report);
        inner = format!(
            "<div class=\"branches\"><div class=\"branch\"><h4>then</h4><ol class=\"journey\">{then}</ol></div><div class=\"branch\"><h4>else</h4><ol class=\"journey\">{otherwise}</ol></div></div>"
        );
    }
    if let NodeKind::Split { names, .. } = &node.kind {
        let experiment = report.experiments.iter().find(|x| x.step == doc.id);
        let branches: String = doc
            .split
            .iter()
            .flatten()
            .enumerate()
            .map(|(b, branch)| {
                let result = experiment.and_then(|x| x.branches.get(b)).map(|r| {
                    let versus = match (r.difference, r.p_value) {
                        (Some(d), Some(p)) => format!(" · {:+.1} pts vs first, p = {p:.3}", d * 100.0),
                        _ => String::new(),
                    };
                    let won = experiment.and_then(|x| x.winner.as_deref()) == Some(names[b].as_str());
                    format!(
                        "<div class=\"experiment\">{} runs · {} converted · <b>{:.1}%</b> [{:.1}–{:.1}%]{versus}{}</div>",
                        r.entered,
                        r.converted,
                        r.conversion_rate * 100.0,
                        r.interval[0] * 100.0,
                        r.interval[1] * 100.0,
                        if won { " · <span class=\"winner\">winner</span>" } else { "" }
                    )
                });
                let holdout = if branch.steps.is_empty() { " (holdout)" } else { "" };
                format!(
                    "<div class=\"branch\"><h4>{} · weight {}{holdout}</h4>{}<ol class=\"journey\">{}</ol></div>",
                    escape(&names[b]),
                    branch.weight,
                    result.unwrap_or_default(),
                    steps(wf, &branch.steps, report)
                )
            })
            .collect();
        let goal = experiment
            .map(|x| {
                format!(
                    "<div class=\"experiment\">experiment on goal <b>{}</b></div>",
                    escape(&x.goal)
                )
            })
            .unwrap_or_default();
        inner = format!("{goal}<div class=\"branches\">{branches}</div>");
    }
    format!(
        "<li class=\"kind-{kind}\" id=\"step-{}\"><div class=\"box\"><span class=\"id\">{}</span>{}<div class=\"counts\">{counts}</div></div>{inner}</li>",
        escape(&doc.id),
        escape(&doc.id),
        escape(&step_words(wf, i)),
    )
}

/// A step's counts in words: what a marketer reads at a glance.
fn counts(c: &StepReport) -> String {
    let mut parts = vec![
        format!("entered <b>{}</b>", c.entered),
        format!("waiting now <b>{}</b>", c.now_at),
        format!("passed <b>{}</b>", c.passed),
    ];
    let optional = [
        ("converted", c.goal_conversions),
        ("sent", c.sent),
        ("suppressed", c.suppressed),
        ("opened", c.opened),
        ("clicked", c.clicked),
    ];
    for (what, n) in optional {
        if let Some(n) = n {
            parts.push(format!("{what} <b>{n}</b>"));
        }
    }
    parts.join(" · ")
}
