//! `kairos simulate`: a scenario through the production pipeline (engine, work queue,
//! timers, delivery, embedded store) on a virtual clock.

use std::io::{IsTerminal, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use kairos_core::adapters::memory::{
    MemoryCatalog, MemoryDispatch, MemoryMailer, MemoryQueue, MemoryStore, MemoryTimers,
    RecordingWebhooks,
};
use kairos_core::engine::Input;
use kairos_core::identity;
use kairos_core::pipeline::Pipeline;
use kairos_core::ports::CatalogStore;
use kairos_core::ports::{ContactStore, PortError, WorkItem};
use kairos_core::report::Report;
use kairos_core::service::{broadcasts, experiments};
use kairos_core::{Event, JournalEntry};

use crate::output;
use crate::scenario::{self, Action, Scenario};

pub type MemoryPipeline = Pipeline<
    MemoryStore,
    MemoryTimers,
    MemoryQueue,
    MemoryDispatch,
    MemoryMailer,
    RecordingWebhooks,
>;

/// What a finished simulation leaves behind besides the journal it streamed.
pub struct Outcome {
    pub pipeline: MemoryPipeline,
    pub warnings: Vec<String>,
}

/// How the loop waits for the next moment: not at all (virtual time), or until a wall
/// clock, sped up, reaches it (the embedded runner). Everything else is shared.
pub trait Pace {
    fn wait_until(&mut self, t: DateTime<Utc>);
}

/// Virtual time: the next moment is now.
pub struct Virtual;

impl Pace for Virtual {
    fn wait_until(&mut self, _: DateTime<Utc>) {}
}

/// Wall-clock time from `start`, `speed` times faster than real time.
pub struct WallClock {
    origin: std::time::Instant,
    start: DateTime<Utc>,
    speed: f64,
}

impl WallClock {
    pub fn new(start: DateTime<Utc>, speed: f64) -> WallClock {
        WallClock {
            origin: std::time::Instant::now(),
            start,
            speed: speed.max(1.0),
        }
    }
}

impl Pace for WallClock {
    fn wait_until(&mut self, t: DateTime<Utc>) {
        let virtual_seconds = (t - self.start).num_milliseconds().max(0) as f64 / 1000.0;
        let target = self.origin + std::time::Duration::from_secs_f64(virtual_seconds / self.speed);
        if let Some(wait) = target.checked_duration_since(std::time::Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

/// Runs `scenario`, handing every journal entry to `sink` in time order and the time
/// reached to `progress`. At each moment, due timers fire before timeline entries.
pub async fn run(
    scenario: Scenario,
    pace: &mut dyn Pace,
    sink: &mut dyn FnMut(JournalEntry),
    progress: &mut dyn FnMut(DateTime<Utc>),
) -> Result<Outcome, PortError> {
    let Scenario {
        start,
        end,
        catalog,
        contacts,
        timeline,
    } = scenario;
    let existing: Vec<String> = catalog
        .latest_all()
        .filter(|w| w.enroll_existing)
        .map(|w| w.id.clone())
        .collect();
    // The journal goes to `sink`; the store keeps only what experiments read back.
    let store = MemoryStore::keeping_journal_of(
        experiments::deciding_workflows(&catalog).map(str::to_string),
    )
    .keeping_open(open_contacts());
    let mut pipeline = Pipeline {
        catalog,
        // Simulated mail carries no unsubscribe link (nothing would answer it).
        links: None,
        store,
        timers: MemoryTimers::default(),
        work: MemoryQueue::default(),
        dispatch: MemoryDispatch::default(),
        mailer: MemoryMailer::counting(),
        webhooks: RecordingWebhooks::default(),
    };
    let mut warnings = Vec::new();
    // Every entry goes to the sink as it is made: none is held beyond its work item.
    let emit = sink;
    // Listed contacts exist from time zero; workflows are active from then on.
    for contact in contacts {
        let id = contact.id.clone();
        pipeline.put_contact(contact).await?;
        pipeline
            .submit(WorkItem {
                contact: id.clone(),
                input: Input::Refresh,
                at: start,
            })
            .await?;
        for workflow in &existing {
            let input = Input::EnrollExisting {
                workflow: workflow.clone(),
            };
            pipeline
                .submit(WorkItem {
                    contact: id.clone(),
                    input,
                    at: start,
                })
                .await?;
        }
    }
    pipeline.drain_into(start, emit).await?;
    let mut timeline = timeline.peekable();
    let mut next_decision = start;
    // Broadcasts `at` a time fire then, as `serve` fires them.
    let mut scheduled: Vec<DateTime<Utc>> = pipeline
        .catalog
        .definitions()
        .broadcasts
        .values()
        .filter_map(|b| kairos_core::calendar::parse_timestamp(b.at.as_deref()?).ok())
        // One whose time was before the simulation's start fires at the start, as `serve`
        // fires it at once.
        .map(|at| at.max(start))
        .collect();
    scheduled.sort();
    loop {
        let next_timer = pipeline.next_due().await?;
        let next_entry = timeline.peek().map(|e| e.at);
        let Some(now) = next_timer
            .into_iter()
            .chain(next_entry)
            .chain(scheduled.first().copied())
            .min()
            .filter(|t| *t <= end)
        else {
            break;
        };
        pace.wait_until(now);
        progress(now);
        if now >= next_decision {
            // Experiments with `winner:` are decided as `serve` decides them: periodically.
            next_decision = now + chrono::Duration::hours(1);
            let decisions =
                experiments::due_decisions(&pipeline.store, &pipeline.catalog, now).await?;
            for d in &decisions {
                pipeline.catalog.set_winner(&d.workflow, &d.step, &d.branch);
                pipeline
                    .store
                    .append_journal(std::slice::from_ref(&d.entry))
                    .await?;
            }
            decisions.into_iter().for_each(|d| emit(d.entry));
        }
        pipeline.advance_to_into(now, emit).await?;
        if scheduled.first().is_some_and(|at| *at <= now) {
            scheduled.remove(0);
            broadcast(&mut pipeline, None, now, emit).await?;
        }
        while let Some(entry) = timeline.next_if(|e| e.at <= now) {
            if let Action::BusinessEvent(name, props) = &entry.action {
                let event = Event {
                    id: None,
                    name: name.clone(),
                    props: props.clone(),
                    at: entry.at,
                };
                broadcast(&mut pipeline, Some(event), entry.at, emit).await?;
                continue;
            }
            for item in work_for(&pipeline, &entry, &mut warnings).await? {
                pipeline.submit(item).await?;
            }
            pipeline.drain_into(entry.at, emit).await?;
        }
    }
    Ok(Outcome { pipeline, warnings })
}

/// How many contacts the simulator keeps open, the rest packed (less memory, a little
/// more time): `KAIROS_SIMULATE_OPEN_CONTACTS`, by default the memory store's.
fn open_contacts() -> usize {
    std::env::var("KAIROS_SIMULATE_OPEN_CONTACTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(kairos_core::adapters::memory::OPEN_KEPT)
}

/// A business event (or a broadcast's time): the broadcasts it fires, fanned out at once
/// through the same use case as `serve` and the functions, and the work they queue; the
/// journal to `emit`.
async fn broadcast(
    pipeline: &mut MemoryPipeline,
    event: Option<Event>,
    now: DateTime<Utc>,
    emit: &mut dyn FnMut(JournalEntry),
) -> Result<(), PortError> {
    let catalogs = MemoryCatalog::new(pipeline.catalog.clone());
    if let Some(event) = event {
        let fired = broadcasts::fire(&catalogs, &pipeline.store, event, now).await?;
        fired.journal.into_iter().for_each(&mut *emit);
    }
    loop {
        let (pages, fired) =
            broadcasts::work(&catalogs, &pipeline.store, &pipeline.work, now, 64).await?;
        fired.journal.into_iter().for_each(&mut *emit);
        if pages == 0 {
            break;
        }
    }
    pipeline.catalog = catalogs.catalog().await?;
    pipeline.drain_into(now, emit).await
}

/// The work a timeline entry makes: its input, and the merges an identify or an alias
/// asks for (as the tracking API queues them); none (with a warning) when it cannot apply.
async fn work_for(
    pipeline: &MemoryPipeline,
    entry: &scenario::Entry,
    warnings: &mut Vec<String>,
) -> Result<Vec<WorkItem>, PortError> {
    let at = entry.at;
    let work = |contact: &str, input: Input| WorkItem {
        contact: contact.to_string(),
        input,
        at,
    };
    match entry.action.clone() {
        Action::Alias { previous_id } => {
            return Ok(vec![
                identity::merge(&previous_id, &entry.contact, false, at).item,
            ]);
        }
        Action::Identify { profile, user_id } => {
            let user = user_id.as_deref().unwrap_or(&entry.contact);
            let anonymous = user_id.as_ref().map(|_| entry.contact.as_str());
            let email = profile.email.clone();
            let merges = identity::merges_for(
                &pipeline.store,
                pipeline.catalog.definitions().merge_on(),
                user,
                anonymous,
                email.as_deref(),
                false,
                at,
            )
            .await?;
            let own = work(user, Input::Identify(profile));
            return Ok(std::iter::once(own)
                .chain(merges.into_iter().map(|m| m.item))
                .collect());
        }
        _ => {}
    }
    let input = input_for(pipeline, entry, warnings).await?;
    Ok(input
        .map(|input| work(&entry.contact, input))
        .into_iter()
        .collect())
}

/// The engine input for an entry about the contact itself; `None` (with a warning) when
/// it cannot apply.
async fn input_for(
    pipeline: &MemoryPipeline,
    entry: &scenario::Entry,
    warnings: &mut Vec<String>,
) -> Result<Option<Input>, PortError> {
    Ok(Some(match entry.action.clone() {
        // Answered by `work_for`, and by `broadcast`.
        Action::Identify { .. } | Action::Alias { .. } | Action::BusinessEvent(..) => {
            return Ok(None)
        }
        Action::Event(name, props) => Input::Event(Event {
            id: None,
            name,
            props,
            at: entry.at,
        }),
        Action::Tags { add, remove } => Input::Tags { add, remove },
        Action::Lists { join, leave } => Input::Lists { join, leave },
        Action::OpensLastEmail { click } => {
            let last = identity::resolve(&pipeline.store, &entry.contact)
                .await?
                .and_then(|s| s.last_email);
            let Some(last) = last else {
                warnings.push(format!(
                    "{}: {} has not been sent an email yet; nothing to open",
                    entry
                        .at
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                    entry.contact
                ));
                return Ok(None);
            };
            let name = if click {
                "email_clicked"
            } else {
                "email_opened"
            };
            Input::Event(
                Event::new(name, entry.at)
                    .with("workflow", last.workflow)
                    .with("run", last.run)
                    .with("step", last.step)
                    .with("template", last.template)
                    .with("message", last.message),
            )
        }
    }))
}

pub struct Options {
    /// JSON lines (also the default when stdout is not a terminal).
    pub json: bool,
    pub report: bool,
}

/// The command: load, run, print. Loads fully before printing anything.
pub fn command(path: &Path, options: &Options) -> Result<(), String> {
    let scenario = scenario::load(path).map_err(|errors| output::diagnostics(&errors))?;
    let (start, end) = (scenario.start, scenario.end);
    let json = options.json || !std::io::stdout().is_terminal();
    let show_progress = std::io::stderr().is_terminal();
    // The journal is formatted and written on a second thread while the pipeline goes
    // on: printing is a large share of a long simulation's time, and the order stays
    // (one channel, batches in the order they were made).
    let (batches, printed) = std::sync::mpsc::sync_channel::<Vec<JournalEntry>>(PRINT_QUEUE);
    let report = options.report;
    let writer = std::thread::spawn(move || print_journal(printed, json, report));
    let mut batch = Vec::with_capacity(PRINT_BATCH);
    let mut sink = |e: JournalEntry| {
        batch.push(e);
        if batch.len() == PRINT_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(PRINT_BATCH));
            // A writer gone (it panicked) is reported when it is joined.
            let _ = batches.send(full);
        }
    };
    let total = (end - start).num_seconds().max(1) as f64;
    let mut progress = |now: DateTime<Utc>| {
        if show_progress {
            eprint!(
                "\rsimulated {:>3.0}%",
                (now - start).num_seconds() as f64 / total * 100.0
            );
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let outcome = runtime.block_on(run(scenario, &mut Virtual, &mut sink, &mut progress));
    let _ = batches.send(batch);
    drop(batches);
    let Printed {
        tally,
        mut out,
        mut write_error,
    } = writer
        .join()
        .map_err(|_| "the journal's writer failed".to_string())?;
    let outcome = outcome.map_err(|e| e.to_string())?;
    if show_progress {
        eprint!("\r");
    }
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(tally) = tally {
        let report = tally.finish(&outcome.pipeline.catalog);
        let text = if json {
            serde_json::json!({ "report": report }).to_string()
        } else {
            output::report_table(&report)
        };
        if write_error.is_none() {
            write_error = writeln!(out, "{text}").err();
        }
    }
    let write_error = write_error.or_else(|| out.flush().err());
    match write_error {
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
        _ => Ok(()),
    }
}

/// Journal entries handed to the writer at a time, and batches it may lag behind.
const PRINT_BATCH: usize = 512;
const PRINT_QUEUE: usize = 64;

/// What the writer leaves: the report's counts if asked, its output (the report goes
/// after the journal) and the first write error, reported after the run.
struct Printed {
    tally: Option<kairos_core::report::Tally>,
    out: std::io::BufWriter<std::io::Stdout>,
    write_error: Option<std::io::Error>,
}

/// The writer's side: every entry as a line (JSON or a table row), counted as it passes.
fn print_journal(
    batches: std::sync::mpsc::Receiver<Vec<JournalEntry>>,
    json: bool,
    report: bool,
) -> Printed {
    let mut out = std::io::BufWriter::new(std::io::stdout());
    // The report is counted as the journal streams past: nothing is held for it.
    let mut tally = report.then(kairos_core::report::Tally::default);
    let mut write_error = None;
    for e in batches.iter().flatten() {
        if write_error.is_none() {
            let written = if json {
                serde_json::to_writer(&mut out, &e).map_err(std::io::Error::from)
            } else {
                out.write_all(output::table_row(&e).as_bytes())
            };
            if let Err(err) = written.and_then(|()| out.write_all(b"\n")) {
                write_error = Some(err);
            }
        }
        if let Some(tally) = &mut tally {
            tally.add(&e);
        }
    }
    Printed {
        tally,
        out,
        write_error,
    }
}

/// Reads a report back (`{"report": …}` as `simulate --report --json` prints it, or bare).
pub fn read_report(text: &str) -> Result<Report, String> {
    let value: serde_json::Value =
        serde_json::from_str(text.lines().last().unwrap_or_default()).map_err(|e| e.to_string())?;
    let value = value.get("report").cloned().unwrap_or(value);
    serde_json::from_value(value).map_err(|e| e.to_string())
}
