//! `kairos graph`: the workflow as a Mermaid flowchart (default) or Graphviz dot.

use std::fmt::Write;
use std::path::Path;

use kairos_core::language::step::Otherwise;
use kairos_core::program::{NodeKind, Workflow};
use kairos_core::report::{StepReport, WorkflowReport};

use crate::project;

/// Draws `file`; `with` are the other workflows it names (`start`, `stop`): known, not drawn.
pub fn run(
    file: &Path,
    with: &[std::path::PathBuf],
    dot: bool,
    report: Option<&Path>,
) -> Result<(), String> {
    let mut paths = vec![file.to_path_buf()];
    paths.extend(with.iter().cloned());
    let (loaded, errors) = project::workflows(&paths, None);
    let name = file.display().to_string();
    let Some(loaded) = loaded.into_iter().find(|l| l.file == name) else {
        let mut message = crate::output::diagnostics(&errors);
        if errors
            .iter()
            .any(|e| e.message.contains("unknown workflow"))
        {
            message.push_str("\nhint: give the workflows it names with `--with OTHER.yaml`");
        }
        return Err(message);
    };
    let report = match report {
        None => WorkflowReport::default(),
        Some(path) => {
            let text = project::read(path).map_err(|d| d.to_string())?;
            let report = crate::simulate::read_report(&text)
                .map_err(|e| format!("{}: not a report: {e}", path.display()))?;
            let wf = report
                .workflows
                .into_iter()
                .find(|w| w.workflow == loaded.workflow.id);
            let id = &loaded.workflow.id;
            wf.ok_or_else(|| {
                format!(
                    "{}: the report has no counts for workflow `{id}`",
                    path.display()
                )
            })?
        }
    };
    let wf = &loaded.workflow;
    print!(
        "{}",
        if dot {
            to_dot(wf, &report)
        } else {
            to_mermaid(wf, &report)
        }
    );
    Ok(())
}

/// A node's label: its id, what it does, and its counts when a report is given.
fn label(wf: &Workflow, i: usize, counts: &[StepReport]) -> String {
    let mut text = describe(wf, i);
    if let Some(c) = counts.iter().find(|c| c.step == wf.nodes[i].id) {
        text.push_str(&format!(
            " | entered {} · now {} · passed {}",
            c.entered, c.now_at, c.passed
        ));
        if let (Some(n), Some(rate)) = (c.goal_conversions, c.conversion_rate) {
            text.push_str(&format!(" · converted {n} ({:.0}%)", rate * 100.0));
        }
        if let Some(sent) = c.sent {
            text.push_str(&format!(" · sent {sent}"));
            for (what, n) in [("opened", c.opened), ("clicked", c.clicked)] {
                if let Some(n) = n.filter(|n| *n > 0) {
                    text.push_str(&format!(" · {what} {n}"));
                }
            }
        }
    }
    text
}

fn describe(wf: &Workflow, i: usize) -> String {
    format!(
        "{}: {}",
        wf.nodes[i].id,
        kairos_core::journey::step_words(wf, i)
    )
}

/// Edges out of node `i` with their labels; `None` target = the run completes. A split's
/// branches show their names and weights, and with a report their experiment results.
fn edges(wf: &Workflow, i: usize, report: &WorkflowReport) -> Vec<(Option<usize>, String)> {
    let node = &wf.nodes[i];
    match &node.kind {
        NodeKind::If {
            then, otherwise, ..
        } => vec![(*then, "then".into()), (*otherwise, "else".into())],
        NodeKind::Split {
            branches, names, ..
        } => {
            let experiment = report.experiments.iter().find(|x| x.step == node.id);
            branches
                .iter()
                .enumerate()
                .map(|(b, (w, first))| {
                    let mut text = format!("{} ({w})", names[b]);
                    if let Some(r) = experiment.and_then(|x| x.branches.get(b)) {
                        text.push_str(&format!(
                            " · {:.1}% of {}",
                            r.conversion_rate * 100.0,
                            r.entered
                        ));
                        if let Some(p) = r.p_value {
                            text.push_str(&format!(" · p {p:.3}"));
                        }
                        if experiment.and_then(|x| x.winner.as_deref()) == Some(names[b].as_str()) {
                            text.push_str(" · winner");
                        }
                    }
                    (*first, text)
                })
                .collect()
        }
        NodeKind::Goto(t) => vec![(Some(*t), String::new())],
        NodeKind::End => vec![],
        NodeKind::Goal(g) if g.otherwise == Otherwise::End => vec![(node.next, "met".into())],
        _ => vec![(node.next, String::new())],
    }
}

fn escape(text: &str) -> String {
    text.replace('"', "#quot;")
}

pub fn to_mermaid(wf: &Workflow, report: &WorkflowReport) -> String {
    let counts = &report.steps;
    let mut out = String::from("flowchart TD\n");
    // The start says how contacts get in and out: triggers, segment, reentry, exit rule.
    let entry = kairos_core::journey::entry_words(wf).join("<br>");
    let _ = writeln!(
        out,
        "    start([\"{}<br>{}\"])",
        escape(wf.name()),
        escape(&entry)
    );
    if !wf.nodes.is_empty() {
        let _ = writeln!(out, "    start --> s0");
    }
    // Goals are jumped to as soon as they hold: dashed, from the start.
    for &g in &wf.goals {
        let _ = writeln!(out, "    start -.->|jump when met| s{g}");
    }
    for i in 0..wf.nodes.len() {
        let text = escape(&label(wf, i, counts));
        let shape = match wf.nodes[i].kind {
            NodeKind::If { .. } | NodeKind::Split { .. } => format!("s{i}{{\"{text}\"}}"),
            NodeKind::Wait(_) => format!("s{i}([\"{text}\"])"),
            NodeKind::Goal(_) => format!("s{i}{{{{\"{text}\"}}}}"),
            _ => format!("s{i}[\"{text}\"]"),
        };
        let _ = writeln!(out, "    {shape}");
        for (target, edge) in edges(wf, i, report) {
            let to = target.map_or("done".to_string(), |t| format!("s{t}"));
            if edge.is_empty() {
                let _ = writeln!(out, "    s{i} --> {to}");
            } else {
                let _ = writeln!(out, "    s{i} -->|{}| {to}", escape(&edge));
            }
        }
    }
    out.push_str("    done((\"completed\"))\n");
    out
}

pub fn to_dot(wf: &Workflow, report: &WorkflowReport) -> String {
    let counts = &report.steps;
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = format!("digraph {} {{\n    rankdir=TB;\n", quote(&wf.id));
    let entry = kairos_core::journey::entry_words(wf).join("\n");
    let _ = writeln!(
        out,
        "    start [shape=oval, label={}];",
        quote(&format!("{}\n{entry}", wf.name()))
    );
    if !wf.nodes.is_empty() {
        out.push_str("    start -> s0;\n");
    }
    // Goals are jumped to as soon as they hold: dashed, from the start.
    for &g in &wf.goals {
        let _ = writeln!(
            out,
            "    start -> s{g} [style=dashed, label=\"jump when met\"];"
        );
    }
    for i in 0..wf.nodes.len() {
        let shape = match wf.nodes[i].kind {
            NodeKind::If { .. } | NodeKind::Split { .. } => "diamond",
            NodeKind::Wait(_) => "ellipse",
            NodeKind::Goal(_) => "hexagon",
            _ => "box",
        };
        let _ = writeln!(
            out,
            "    s{i} [shape={shape}, label={}];",
            quote(&label(wf, i, counts))
        );
        for (target, edge) in edges(wf, i, report) {
            let to = target.map_or("done".to_string(), |t| format!("s{t}"));
            let _ = writeln!(out, "    s{i} -> {to} [label={}];", quote(&edge));
        }
    }
    out.push_str("    done [shape=doublecircle, label=\"completed\"];\n}\n");
    out
}
