//! `kairos validate` and `kairos lint`.

use std::path::PathBuf;

use kairos_core::language::lint::lint_workflow;
use kairos_core::language::with_lines;

use crate::project;

#[derive(clap::Args)]
pub struct Args {
    /// Workflow files (YAML or JSON).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Project definitions (segments, scoring, templates, delivery) for reference checks.
    #[arg(long)]
    definitions: Option<PathBuf>,
}

pub fn run(args: &Args, lint: bool) -> Result<(), String> {
    let defs = match &args.definitions {
        Some(path) => match project::definitions(path) {
            Ok(defs) => Some(defs),
            Err(errors) => return Err(join(&errors)),
        },
        None => None,
    };
    let (workflows, errors) = project::workflows(&args.files, defs.as_ref());
    for loaded in &workflows {
        if lint {
            let warnings = lint_workflow(&loaded.workflow, &loaded.file, defs.as_ref());
            for warning in with_lines(warnings, &loaded.text) {
                println!("{warning}");
            }
        }
        let steps = loaded.workflow.nodes.len();
        println!(
            "ok: {} (workflow `{}`, {steps} step{})",
            loaded.file,
            loaded.workflow.id,
            if steps == 1 { "" } else { "s" }
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n{} error(s)", join(&errors), errors.len()))
    }
}

fn join(diagnostics: &[kairos_core::Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
