//! The embedded backend of `kairos serve`: every port on the file store in one data
//! directory, the pipeline driven in-process, and the wake-up that runs it as soon as
//! work is queued.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kairos_aws::webhooks::HttpWebhooks;
use kairos_core::adapters::file::FileStore;
use kairos_core::pipeline::Pipeline;
use kairos_core::ports::{CatalogStore, PortError, WorkItem, WorkQueue};
use kairos_core::service::Ports;
use kairos_core::unsubscribe::{Links, Signer};
use kairos_core::JournalEntry;
use tokio::sync::Notify;

/// The work queue of the file store, waking the pipeline loop on every push.
#[derive(Clone)]
pub struct WakingQueue {
    store: FileStore,
    wake: Arc<Notify>,
}

impl WorkQueue for WakingQueue {
    async fn push(&self, item: WorkItem) -> Result<(), PortError> {
        self.store.push(item).await?;
        self.wake.notify_one();
        Ok(())
    }

    async fn pop(&self) -> Result<Option<WorkItem>, PortError> {
        self.store.pop().await
    }
}

pub struct Embedded {
    pub store: FileStore,
    pub links: Links,
    pub work: WakingQueue,
    pub webhooks: HttpWebhooks,
}

impl Embedded {
    /// Opens the data directory (replaying the deployed catalog).
    pub fn open(dir: PathBuf, public_url: String) -> Result<Embedded, String> {
        let store = FileStore::open(&dir).map_err(|e| e.to_string())?;
        let signer = Signer::new(unsubscribe_secret(&dir)?);
        let work = WakingQueue {
            store: store.clone(),
            wake: Arc::new(Notify::new()),
        };
        Ok(Embedded {
            store,
            links: Links { public_url, signer },
            work,
            webhooks: HttpWebhooks::new().map_err(|e| e.to_string())?,
        })
    }

    /// Resolves when work was queued (or at once, if it was since the last call).
    pub async fn woken(&self) {
        self.work.wake.notified().await
    }

    /// One round of the pipeline at `now`: due timers and held jobs, then all queued work.
    pub async fn round(&self, now: DateTime<Utc>) -> Result<Vec<JournalEntry>, PortError> {
        let s = &self.store;
        let pipeline = Pipeline {
            catalog: s.catalog().await?,
            links: Some(self.links.clone()),
            store: s.clone(),
            timers: s.clone(),
            work: s.clone(),
            dispatch: s.clone(),
            mailer: s.clone(),
            webhooks: self.webhooks.clone(),
        };
        let mut journal = pipeline.advance_to(now).await?;
        journal.extend(pipeline.drain(now).await?);
        Ok(journal)
    }
}

impl Ports for Embedded {
    type Contacts = FileStore;
    type Catalog = FileStore;
    type Work = WakingQueue;

    fn contacts(&self) -> &FileStore {
        &self.store
    }

    fn catalog(&self) -> &FileStore {
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
    let path = dir.join("unsubscribe-secret");
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_string());
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random source: {e}"))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &secret).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(secret)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}
