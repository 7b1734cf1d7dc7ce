//! The embedded backend of `kairos serve`: every port on the SQLite store in the data
//! directory, and the pipeline loop that drives it in-process.
//!
//! The loop has its own handle on the store (its own connection) and works in three
//! kinds of step, each safe against a crash at any instruction:
//! - due timers become work items in one transaction (taken and queued, or neither);
//! - work items are evaluated in batches, each batch one transaction: read the entries,
//!   load, save with journal and effects, acknowledge — all of the batch or none of it;
//! - a message job (to the local outbox, a table of the same database) runs in one
//!   transaction — claim, send, record, acknowledge — so it is sent exactly once;
//! - a webhook job runs outside a transaction, because its claim must be committed before
//!   the call goes out: a crash after the call and before the job is acknowledged leaves
//!   the job to run again, and its claim stops the repeat (at most once).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kairos_aws::webhooks::HttpWebhooks;
use kairos_core::keys::StoreKey;
use kairos_core::pipeline::{Dispatcher, Evaluator};
use kairos_core::ports::{
    CatalogStore, DispatchJob, DispatchQueue, PortError, TimerQueue, WorkItem, WorkQueue,
};
use kairos_core::service::Ports;
use kairos_core::unsubscribe::{Links, Signer};
use kairos_core::Input;
use tokio::sync::Notify;

use crate::store::{Durability, Store};

/// Work items evaluated per transaction: large enough that a commit (an fsync with
/// `FULL` durability) is shared by many, small enough that the HTTP API's writes, which
/// wait for the write lock meanwhile, are not held up for long.
const BATCH: usize = 256;

/// The work queue of the store as the API uses it, waking the pipeline loop on every push.
#[derive(Clone)]
pub struct WakingQueue {
    store: Store,
    wake: Arc<Notify>,
}

impl WorkQueue for WakingQueue {
    async fn push(&self, item: WorkItem) -> Result<(), PortError> {
        WorkQueue::push(&self.store, item).await?;
        self.wake.notify_one();
        Ok(())
    }

    async fn push_all(&self, items: Vec<WorkItem>) -> Result<(), PortError> {
        self.store.push_all(items).await?;
        self.wake.notify_one();
        Ok(())
    }

    async fn pop(&self) -> Result<Option<WorkItem>, PortError> {
        self.store.pop().await
    }
}

pub struct Embedded {
    /// The API's handle.
    pub store: Store,
    /// The pipeline loop's handle (its own connection, so its transactions are its own).
    runner: Store,
    pub links: Links,
    pub work: WakingQueue,
    webhooks: HttpWebhooks,
}

impl Embedded {
    /// Opens (or creates) the store in the data directory.
    pub async fn open(dir: PathBuf, public_url: String) -> Result<Embedded, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let secret = unsubscribe_secret(&dir)?;
        let durability = Durability::from_env()?;
        // Its own key, not the unsubscribe secret: rotating that must not orphan claims
        // and tombstones (a claim that no longer matches would let a message go twice).
        let store_key = store_key(&dir)?;
        let store = Store::open(&dir, store_key, durability)
            .await
            .map_err(|e| e.to_string())?;
        let runner = store.handle().map_err(|e| e.to_string())?;
        let work = WakingQueue {
            store: store.clone(),
            wake: Arc::new(Notify::new()),
        };
        Ok(Embedded {
            store,
            runner,
            links: Links {
                public_url,
                signer: Signer::new(secret),
            },
            work,
            webhooks: HttpWebhooks::new().map_err(|e| e.to_string())?,
        })
    }

    /// Resolves when work was queued (or at once, if it was since the last call).
    pub async fn woken(&self) {
        self.work.wake.notified().await
    }

    /// Everything due at `now`: timers in their order, each moment's work before the next
    /// moment's timers, then everything queued. How many journal entries it made: they
    /// are stored with their work, not held (an import of a million contacts is one round).
    pub async fn round(&self, now: DateTime<Utc>) -> Result<usize, PortError> {
        let mut made = 0;
        loop {
            let next = [
                self.runner.next_due().await?,
                self.runner.next_held().await?,
            ]
            .into_iter()
            .flatten()
            .min()
            .filter(|t| *t <= now);
            let Some(t) = next else { break };
            self.timers_to_work(t).await?;
            // Each moment's work before the next moment's timers; but jobs are decided
            // (quiet hours, caps) and retried at the real `now`, not at a moment that
            // passed while the server was down.
            made += self.drain(now).await?;
        }
        made += self.drain(now).await?;
        Ok(made)
    }

    /// Due timers become work items, in one transaction.
    async fn timers_to_work(&self, t: DateTime<Utc>) -> Result<(), PortError> {
        let store = &self.runner;
        store
            .atomically(async {
                for timer in store.take_due(t).await? {
                    let (contact, at) = (timer.contact.clone(), timer.due);
                    let input = Input::Timer(timer);
                    WorkQueue::push(store, WorkItem { contact, input, at }).await?;
                }
                Ok(())
            })
            .await
    }

    /// Evaluates queued work and runs due jobs until neither is left.
    async fn drain(&self, now: DateTime<Utc>) -> Result<usize, PortError> {
        let catalog = self.runner.catalog().await?;
        let store = &self.runner;
        // No `Recent`: a batch is one transaction, and a rolled-back save must not be kept.
        let evaluator = Evaluator {
            catalog: &catalog,
            store,
            timers: store,
            dispatch: store,
            work: store,
            recent: None,
        };
        let dispatcher = Dispatcher {
            catalog: &catalog,
            links: Some(&self.links),
            store,
            work: store,
            dispatch: store,
            mailer: store,
            webhooks: &self.webhooks,
        };
        let mut made = 0;
        let (mut size, mut jobs) = (BATCH, BATCH);
        loop {
            let batch = store
                .atomically(async {
                    let (mut done, mut entries) = (0, Vec::new());
                    while done < size {
                        let Some((seq, item)) = store.next_work()? else {
                            break;
                        };
                        entries.extend(evaluator.handle(item).await?);
                        kairos_core::failpoint::hit("queue.before_ack")?;
                        store.ack_work(seq)?;
                        done += 1;
                    }
                    Ok((done, entries))
                })
                .await;
            let worked = match batch {
                Ok((done, entries)) => {
                    made += entries.len();
                    size = BATCH;
                    done > 0
                }
                // A batch failed and was rolled back: again one item at a time, to find
                // the one that fails; that one, if retrying cannot help, is set aside.
                Err(e) if size > 1 && !matches!(e, PortError::Unavailable { .. }) => {
                    size = 1;
                    true
                }
                Err(e) if e.retryable() => return Err(e),
                Err(e) => {
                    if let Some((seq, _)) = store.next_work()? {
                        tracing::error!(error = %e, "a work item cannot be processed: moved to dead_letters");
                        store.bury("work", seq, &e, now)?;
                    }
                    true
                }
            };
            let Some((seq, job)) = store.next_job(now)? else {
                if !worked {
                    return Ok(made);
                }
                continue;
            };
            // Messages go to the local outbox, a table of this database: claim, "send",
            // record and acknowledge commit together — a batch of them in one transaction
            // — so even the window between claim and send that a real provider leaves is
            // closed. A webhook calls out: its claim must commit before the call, alone.
            let outcome = if matches!(job, DispatchJob::Message(_)) && jobs > 1 {
                store
                    .atomically(async {
                        let mut entries = Vec::new();
                        for _ in 0..jobs {
                            let Some((seq, job @ DispatchJob::Message(_))) = store.next_job(now)?
                            else {
                                break;
                            };
                            entries.extend(dispatcher.run_job(job, now).await?.0);
                            kairos_core::failpoint::hit("queue.before_ack")?;
                            store.ack_job(seq)?;
                        }
                        Ok(entries)
                    })
                    .await
            } else {
                let local = matches!(job, DispatchJob::Message(_));
                let run = async {
                    let (entries, _fate) = dispatcher.run_job(job, now).await?;
                    // Done, or held and queued again as a new entry: this one goes either way.
                    kairos_core::failpoint::hit("queue.before_ack")?;
                    store.ack_job(seq)?;
                    Ok(entries)
                };
                if local {
                    store.atomically(run).await
                } else {
                    run.await
                }
            };
            match outcome {
                Ok(entries) => {
                    made += entries.len();
                    jobs = BATCH;
                }
                // A batch was rolled back: again one job at a time, to find the one that fails.
                Err(_) if jobs > 1 => jobs = 1,
                Err(e) if e.retryable() => {
                    tracing::warn!(error = %e, "a job failed; trying again in a minute");
                    store.retry_job_at(seq, now + chrono::Duration::minutes(1))?;
                }
                Err(e) => {
                    tracing::error!(error = %e, "a job cannot be run: moved to dead_letters");
                    store.bury("dispatch", seq, &e, now)?;
                }
            }
        }
    }

    /// Bookkeeping for the idle loop: claims that can no longer matter.
    pub fn prune(&self, now: DateTime<Utc>) -> Result<usize, PortError> {
        self.runner.prune_claims(now)
    }

    /// Fires broadcasts whose time has come and fans out running runs, a few pages at a
    /// time (serve calls it every round: the pipeline works through what each page queued
    /// in between). Whether pages were worked (call again soon).
    pub async fn work_broadcasts(&self, now: DateTime<Utc>) -> Result<bool, PortError> {
        let store = &self.runner;
        let (pages, _) =
            kairos_core::service::broadcasts::work(store, store, self.work(), now, 8).await?;
        Ok(pages > 0)
    }

    /// Decides the experiments with `winner:` that are due (serve calls it each minute).
    pub async fn decide_experiments(&self, now: DateTime<Utc>) -> Result<usize, PortError> {
        let store = &self.runner;
        let catalog = store.catalog().await?;
        let decisions =
            kairos_core::service::experiments::due_decisions(store, &catalog, now).await?;
        kairos_core::service::experiments::record(store, store, &decisions).await?;
        Ok(decisions.len())
    }
}

impl Ports for Embedded {
    type Contacts = Store;
    type Catalog = Store;
    type Work = WakingQueue;

    fn contacts(&self) -> &Store {
        &self.store
    }

    fn catalog(&self) -> &Store {
        &self.store
    }

    fn work(&self) -> &WakingQueue {
        &self.work
    }
}

/// The HMAC key of unsubscribe links: `KAIROS_UNSUBSCRIBE_SECRET`, or 32 bytes from the
/// operating system's random source made on first start and kept in the data directory
/// (readable by its owner only), so links stay valid across restarts.
pub fn unsubscribe_secret(dir: &Path) -> Result<String, String> {
    if let Ok(secret) = std::env::var("KAIROS_UNSUBSCRIBE_SECRET") {
        return Ok(secret);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    kept_secret(&dir.join("unsubscribe-secret"))
}

/// The key that names tombstones and claims: `KAIROS_STORE_KEY`, or one made on first
/// start and kept in the data directory like the unsubscribe secret. Changing it orphans
/// the claims taken under the old one (a retried side effect could happen again).
pub fn store_key(dir: &Path) -> Result<StoreKey, String> {
    let key = match std::env::var("KAIROS_STORE_KEY") {
        Ok(key) => key,
        Err(_) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            kept_secret(&dir.join("store-key"))?
        }
    };
    StoreKey::new(key).map_err(|e| format!("KAIROS_STORE_KEY: {e}"))
}

/// 32 random bytes (hex) kept in `path`, made on first use from the OS's random source,
/// written to a temporary file, synced and renamed into place, so a crash never leaves an
/// empty key behind (an empty HMAC key would make links forgeable); an empty or damaged
/// file is refused, not used.
fn kept_secret(path: &Path) -> Result<String, String> {
    if let Ok(secret) = std::fs::read_to_string(path) {
        let secret = secret.trim();
        if secret.len() < 32 {
            return Err(format!(
                "{}: the key is damaged (shorter than 32 characters); restore it from a backup (removing it invalidates what it signed)",
                path.display()
            ));
        }
        return Ok(secret.to_string());
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random source: {e}"))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, &secret)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(secret)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
