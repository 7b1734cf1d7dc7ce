//! `kairos`: validate, lint, graph and print the schema of workflow files.
//!
//! - `project`: reading workflow and definitions files into checked workflows.
//! - `check`: `validate` and `lint`.
//! - `graph`: Mermaid and Graphviz flowcharts.
//! - `schema`: the JSON Schema of the workflow language, generated from its types.

mod check;
mod graph;
mod project;
mod schema;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "kairos",
    version,
    about = "Marketing-automation workflows: validate, lint, graph, schema"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check workflow files; exit non-zero listing every error (file, path, line).
    Validate(check::Args),
    /// Validate, then warn about what users trip over (exit 0 when valid).
    Lint(check::Args),
    /// Print a workflow as a flowchart.
    Graph {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Mermaid)]
        format: Format,
    },
    /// Print the JSON Schema of workflow files (or of definitions files).
    Schema {
        #[arg(long)]
        definitions: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Mermaid,
    Dot,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => check::run(&args, false),
        Command::Lint(args) => check::run(&args, true),
        Command::Graph { file, format } => graph::run(&file, matches!(format, Format::Dot)),
        Command::Schema { definitions } => schema::run(definitions),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            ExitCode::FAILURE
        }
    }
}
