//! `kairos`: validate, lint, simulate, graph and print the schema of workflow files.
//! Only wiring lives here; the commands are in the `kairos_cli` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use kairos_cli::{check, graph, schema, simulate};

#[derive(Parser)]
#[command(
    name = "kairos",
    version,
    about = "Marketing-automation workflows: validate, lint, simulate, explain, graph, schema, serve"
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
    /// Run a scenario on a virtual clock and print the journal (JSON lines on a pipe).
    Simulate {
        scenario: PathBuf,
        /// JSON lines even on a terminal.
        #[arg(long)]
        json: bool,
        /// After the journal: per workflow and step, entered, now at, passed, goal conversions.
        #[arg(long)]
        report: bool,
    },
    /// Simulate a scenario and tell one contact's story: why it entered, which branches it
    /// took and why, why each message was sent, held or not sent.
    Explain {
        contact: String,
        scenario: PathBuf,
        /// Only what happened in this workflow.
        #[arg(long)]
        workflow: Option<String>,
    },
    /// Print a workflow as a flowchart.
    Graph {
        file: PathBuf,
        /// Other workflow files it names (`start`, `stop`), known but not drawn.
        #[arg(long)]
        with: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Mermaid)]
        format: Format,
        /// Overlay per-step counts from a report (`kairos simulate --report --json`, last line).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Serve the HTTP API, the console and the whole pipeline in this process. Needs
    /// KAIROS_API_KEY (every /v1 request carries it; the console's login takes it);
    /// KAIROS_WRITE_KEY (optional) opens the Segment-compatible tracking routes.
    #[command(
        after_help = "Environment:\n  KAIROS_API_KEY            required: the key of the API and the console\n  KAIROS_WRITE_KEY          optional: the tracking libraries' write key\n  KAIROS_PUBLIC_URL         the URL people reach (unsubscribe links, outbox); default: the listen address\n  KAIROS_SQLITE_SYNCHRONOUS full (default) or normal\n  RUST_LOG                  log filter, default info"
    )]
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Where the embedded store keeps its data (created if missing).
        #[arg(long, default_value = ".kairos")]
        data: PathBuf,
        /// Use the AWS adapters against this endpoint (e.g. http://127.0.0.1:5000 for moto).
        #[arg(long)]
        aws_endpoint: Option<String>,
    },
    /// Validate a project folder, then push its workflows and definitions to a running
    /// stack (`kairos serve`, or intake on AWS): prints the plan, then the versions.
    /// The key comes from KAIROS_API_KEY. Exit 1: a file is invalid (nothing deployed);
    /// exit 2: the stack refused or could not be reached.
    Deploy {
        dir: PathBuf,
        /// The stack's base URL, e.g. http://127.0.0.1:8080 or the API Gateway URL.
        #[arg(long)]
        url: String,
        /// Print the plan, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Segments as ad audiences.
    Audience {
        #[command(subcommand)]
        command: AudienceCommand,
    },
    /// Print the JSON Schema of workflow files (or of definitions or scenario files, or
    /// the OpenAPI document of the HTTP API); the same as the committed `schemas/*.json`.
    Schema {
        #[arg(long, conflicts_with_all = ["scenario", "openapi"])]
        definitions: bool,
        #[arg(long, conflicts_with = "openapi")]
        scenario: bool,
        /// The OpenAPI 3.1 document `GET /openapi.json` serves.
        #[arg(long)]
        openapi: bool,
    },
}

#[derive(Subcommand)]
enum AudienceCommand {
    /// Print a segment's members who take marketing as SHA-256 of their normalised email
    /// and phone (CSV `email_sha256,phone_sha256`, as Meta's and Google's customer lists
    /// take them): from a simulated scenario's end, or from a running stack
    /// (KAIROS_API_KEY).
    Export {
        segment: String,
        #[arg(long, conflicts_with = "url", required_unless_present = "url")]
        scenario: Option<PathBuf>,
        /// The stack's base URL.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Mermaid,
    Dot,
}

/// `kairos deploy`, with its own exit codes (1 invalid, 2 refused).
fn deploy(dir: PathBuf, url: String, dry_run: bool) -> ExitCode {
    let key = std::env::var("KAIROS_API_KEY").unwrap_or_default();
    if key.is_empty() {
        eprintln!("set KAIROS_API_KEY to the stack's API key");
        return ExitCode::from(2);
    }
    let options = kairos_cli::deploy::Options {
        dir,
        url,
        key,
        dry_run,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(kairos_cli::deploy::run(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(kairos_cli::deploy::Failure::Invalid(message)) => {
            eprintln!("{message}\nnothing was deployed");
            ExitCode::from(1)
        }
        Err(kairos_cli::deploy::Failure::Refused(message)) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

/// `kairos audience export`.
fn export_audience(
    segment: &str,
    scenario: Option<PathBuf>,
    url: Option<String>,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let rows = runtime.block_on(async {
        match (scenario, url) {
            (Some(path), _) => kairos_cli::audience::from_scenario(&path, segment).await,
            (None, Some(url)) => {
                let key = std::env::var("KAIROS_API_KEY")
                    .map_err(|_| "set KAIROS_API_KEY to the stack's API key".to_string())?;
                kairos_cli::audience::from_url(&url, &key, segment).await
            }
            (None, None) => Err("give --scenario FILE or --url URL".into()),
        }
    })?;
    kairos_cli::audience::print(&rows)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => check::run(&args, false),
        Command::Lint(args) => check::run(&args, true),
        Command::Simulate {
            scenario,
            json,
            report,
        } => simulate::command(&scenario, &simulate::Options { json, report }),
        Command::Explain {
            contact,
            scenario,
            workflow,
        } => kairos_cli::explain::command(&contact, &scenario, workflow.as_deref()),
        Command::Graph {
            file,
            with,
            format,
            report,
        } => graph::run(
            &file,
            &with,
            matches!(format, Format::Dot),
            report.as_deref(),
        ),
        Command::Schema {
            definitions,
            scenario,
            openapi,
        } => schema::run(match (definitions, scenario, openapi) {
            (true, _, _) => schema::Format::Definitions,
            (_, true, _) => schema::Format::Scenario,
            (_, _, true) => schema::Format::OpenApi,
            _ => schema::Format::Workflow,
        }),
        Command::Deploy { dir, url, dry_run } => return deploy(dir, url, dry_run),
        Command::Audience {
            command:
                AudienceCommand::Export {
                    segment,
                    scenario,
                    url,
                },
        } => export_audience(&segment, scenario, url),
        Command::Serve {
            listen,
            data,
            aws_endpoint,
        } => kairos_cli::serve::command(kairos_cli::serve::Options {
            listen,
            data,
            aws_endpoint,
        }),
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
