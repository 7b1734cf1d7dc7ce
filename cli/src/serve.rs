//! `kairos serve`: the whole pipeline in one process on localhost, with the HTTP API of
//! the intake function (the same router). By default on the embedded store, persistent in
//! a data directory; with `--aws-endpoint`, on the real AWS adapters against that endpoint
//! (table and queues created if missing; the queues polled in-process where Lambda's event
//! source mappings would deliver them).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kairos_core::adapters::file::FileStore;
use kairos_core::aws::app::Aws;
use kairos_core::aws::event_source;
use kairos_core::aws::provision::{provision, QueueSettings};
use kairos_core::engine::Input;
use kairos_core::language::definitions::Definitions;
use kairos_core::language::validate::References;
use kairos_core::pipeline::Pipeline;
use kairos_core::ports::{ContactStore, PortError, WorkItem, WorkQueue};
use kairos_core::{Catalog, ContactState, JournalEntry, Workflow};
use serde_json::json;

pub struct Options {
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub aws_endpoint: Option<String>,
}

pub fn command(options: Options) -> Result<(), String> {
    let api_key = std::env::var("KAIROS_API_KEY").unwrap_or_default();
    if api_key.is_empty() {
        return Err(
            "set KAIROS_API_KEY: every /v1 request must carry `Authorization: Bearer <that key>`"
                .into(),
        );
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        match options.aws_endpoint.clone() {
            None => serve_embedded(options, api_key).await,
            Some(endpoint) => serve_aws(options, &endpoint, api_key).await,
        }
    })
}

/// The HMAC key of unsubscribe links: `KAIROS_UNSUBSCRIBE_SECRET`, or one made on first
/// start and kept in the data directory, so links stay valid across restarts.
fn unsubscribe_secret(dir: &std::path::Path) -> Result<String, String> {
    if let Ok(secret) = std::env::var("KAIROS_UNSUBSCRIBE_SECRET") {
        return Ok(secret);
    }
    let path = dir.join("unsubscribe-secret");
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_string());
    }
    use std::hash::{BuildHasher, Hasher};
    // Each RandomState is seeded from the operating system's randomness.
    let secret: String = (0..4)
        .map(|i| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(i);
            format!("{:016x}", h.finish())
        })
        .collect();
    std::fs::write(&path, &secret).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(secret)
}

async fn bind(address: SocketAddr) -> Result<(tokio::net::TcpListener, String), String> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, format!("http://{bound}")))
}

async fn listen(
    listener: tokio::net::TcpListener,
    url: &str,
    router: axum::Router,
) -> Result<(), String> {
    // The first line on stdout says where to find us (tests and scripts read it).
    println!("{}", json!({ "listening": url }));
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}

/// The embedded backend: files in one directory, the catalog in memory (and on disk).
pub struct Embedded {
    pub store: FileStore,
    pub links: kairos_core::unsubscribe::Links,
    pub catalog: RwLock<Catalog>,
    pub wake: tokio::sync::Notify,
    pub webhooks: dispatch::HttpWebhooks,
}

impl Embedded {
    /// Opens the data directory and replays the deployed catalog.
    pub fn open(dir: PathBuf, public_url: String) -> Result<Embedded, String> {
        let store = FileStore::open(&dir).map_err(|e| e.to_string())?;
        let mut definitions = Definitions::default();
        let mut catalog_docs = Vec::new();
        for (name, text) in store.catalog_documents().map_err(|e| e.to_string())? {
            if name == "DEFS.json" {
                definitions = serde_json::from_str(&text)
                    .map_err(|e| format!("{}: {e}", dir.join("catalog").join(&name).display()))?;
            } else {
                catalog_docs.push((name, text));
            }
        }
        let mut catalog = Catalog::new(definitions);
        for (name, text) in catalog_docs {
            let wf = kairos_core::language::load_workflow(&name, &text, References::default())
                .map_err(|d| {
                    d.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                })?;
            catalog.deploy(wf)?;
        }
        let signer = kairos_core::unsubscribe::Signer::new(unsubscribe_secret(&dir)?);
        Ok(Embedded {
            store,
            links: kairos_core::unsubscribe::Links { public_url, signer },
            catalog: RwLock::new(catalog),
            wake: tokio::sync::Notify::new(),
            webhooks: dispatch::HttpWebhooks::new().map_err(|e| e.to_string())?,
        })
    }

    fn current(&self) -> Catalog {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// One round of the pipeline: due timers and held jobs, then all queued work.
    pub async fn round(&self) -> Result<Vec<JournalEntry>, PortError> {
        let s = &self.store;
        let pipeline = Pipeline {
            catalog: self.current(),
            links: Some(self.links.clone()),
            store: s.clone(),
            timers: s.clone(),
            work: s.clone(),
            dispatch: s.clone(),
            mailer: s.clone(),
            webhooks: self.webhooks.clone(),
        };
        let now = Utc::now();
        let mut journal = pipeline.advance_to(now).await?;
        journal.extend(pipeline.drain(now).await?);
        Ok(journal)
    }
}

/// The embedded backend as the API holds it (shared with the pipeline runner).
#[derive(Clone)]
pub struct Shared(pub Arc<Embedded>);

impl std::ops::Deref for Shared {
    type Target = Embedded;
    fn deref(&self) -> &Embedded {
        &self.0
    }
}

impl intake::Backend for Shared {
    async fn catalog(&self) -> Result<Catalog, PortError> {
        Ok(self.current())
    }

    async fn save_workflow(&self, workflow: &Workflow) -> Result<(), PortError> {
        let text = serde_json::to_string(&workflow.doc).map_err(|e| PortError::Failed {
            what: "workflow".into(),
            detail: e.to_string(),
        })?;
        self.store.put_catalog_new(
            &format!("WF#{}#V#{:06}.json", workflow.id, workflow.version),
            &text,
        )?;
        let mut catalog = self.catalog.write().unwrap_or_else(|p| p.into_inner());
        catalog
            .deploy(workflow.clone())
            .map_err(|e| PortError::Failed {
                what: "deploy".into(),
                detail: e,
            })?;
        Ok(())
    }

    async fn save_definitions(&self, definitions: &Definitions) -> Result<(), PortError> {
        let text = serde_json::to_string(definitions).map_err(|e| PortError::Failed {
            what: "definitions".into(),
            detail: e.to_string(),
        })?;
        self.store.put_catalog("DEFS.json", &text)?;
        self.catalog
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .set_definitions(definitions.clone());
        Ok(())
    }

    async fn submit(&self, item: WorkItem) -> Result<(), PortError> {
        self.store.push(item).await?;
        self.wake.notify_one();
        Ok(())
    }

    async fn enroll_existing(&self, workflow: &str) -> Result<(), PortError> {
        for contact in self.store.contact_ids().await? {
            let input = Input::EnrollExisting {
                workflow: workflow.to_string(),
            };
            self.store
                .push(WorkItem {
                    contact,
                    input,
                    at: Utc::now(),
                })
                .await?;
        }
        self.wake.notify_one();
        Ok(())
    }

    async fn load(&self, contact: &str) -> Result<Option<ContactState>, PortError> {
        self.store.load(contact).await
    }

    async fn delete(&self, contact: &str, at: DateTime<Utc>) -> Result<(), PortError> {
        self.store.delete(contact, at).await
    }

    async fn journal(&self, contact: &str) -> Result<Vec<JournalEntry>, PortError> {
        self.store.journal(contact).await
    }

    async fn workflow_journal(&self, workflow: &str) -> Result<Vec<JournalEntry>, PortError> {
        let mut entries = self.store.all_journal()?;
        entries.retain(|e| e.workflow.as_deref() == Some(workflow));
        Ok(entries)
    }

    async fn claim(&self, key: &str) -> Result<bool, PortError> {
        self.store.claim(key).await
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        self.store.release(key).await
    }
}

async fn serve_embedded(options: Options, api_key: String) -> Result<(), String> {
    let (listener, url) = bind(options.listen).await?;
    let public_url = std::env::var("KAIROS_PUBLIC_URL").unwrap_or_else(|_| url.clone());
    let embedded = Arc::new(Embedded::open(options.data.clone(), public_url)?);
    let runner = embedded.clone();
    tokio::spawn(async move {
        loop {
            if let Err(e) = runner.round().await {
                tracing::error!(error = %e, "pipeline round failed; retrying");
            }
            // Wake for new work at once, and at least every quarter second for timers.
            let _ = tokio::time::timeout(Duration::from_millis(250), runner.wake.notified()).await;
        }
    });
    tracing::info!(data = %options.data.display(), "embedded store");
    let links = Some(embedded.links.clone());
    let app = Arc::new(intake::App {
        backend: Shared(embedded.clone()),
        api_key,
        links,
    });
    listen(
        listener,
        &url,
        intake::router(app).merge(crate::outbox::router(embedded)),
    )
    .await
}

async fn serve_aws(options: Options, endpoint: &str, api_key: String) -> Result<(), String> {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let config = kairos_core::aws::app::sdk_defaults()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region))
        .load()
        .await;
    let from = std::env::var("KAIROS_FROM_ADDRESS")
        .unwrap_or_else(|_| "Kairos <kairos@example.com>".into());
    let settings = QueueSettings {
        visibility_timeout: 30,
        max_receive_count: 5,
    };
    let names = provision(&config, "kairos", &from, settings)
        .await
        .map_err(|e| e.to_string())?;
    let (listener, url) = bind(options.listen).await?;
    std::fs::create_dir_all(&options.data)
        .map_err(|e| format!("{}: {e}", options.data.display()))?;
    let secret = unsubscribe_secret(&options.data)
        .or_else(|_| std::env::var("KAIROS_UNSUBSCRIBE_SECRET").map_err(|e| e.to_string()))?;
    let public_url = std::env::var("KAIROS_PUBLIC_URL").unwrap_or_else(|_| url.clone());
    let links = kairos_core::unsubscribe::Links {
        public_url,
        signer: kairos_core::unsubscribe::Signer::new(secret),
    };
    let aws = Aws {
        links: Some(links),
        ..Aws::new(&config, names)
    };
    let (evaluate, wakeup, dispatch) = (
        Arc::new(evaluate::Evaluate::new(aws.clone())),
        Arc::new(wakeup::Wakeup { aws: aws.clone() }),
        Arc::new(dispatch::Dispatch::new(aws.clone()).map_err(|e| e.to_string())?),
    );
    let sweeper = sweep::Sweep { aws: aws.clone() };
    let pollers = aws.clone();
    tokio::spawn(async move {
        let mut last_sweep = Utc::now() - chrono::Duration::minutes(1);
        loop {
            let a = &pollers;
            let results = [
                event_source::poll(&a.queues.sqs, &a.names.work_queue_url, 1, |e| async {
                    evaluate.handle(e).await
                })
                .await,
                event_source::poll(&a.queues.sqs, &a.names.delay_queue_url, 1, |e| async {
                    wakeup.handle(e, Utc::now()).await
                })
                .await,
                event_source::poll(&a.queues.sqs, &a.names.dispatch_queue_url, 1, |e| async {
                    dispatch.handle(e, Utc::now()).await
                })
                .await,
            ];
            for r in results.iter().filter_map(|r| r.as_ref().err()) {
                tracing::error!(error = %r, "polling failed; retrying");
            }
            // The sweep runs every 10 s here (every minute on AWS): local waits are short.
            if Utc::now() - last_sweep > chrono::Duration::seconds(10) {
                last_sweep = Utc::now();
                if let Err(e) = sweeper.run(Utc::now()).await {
                    tracing::error!(error = %e, "sweep failed");
                }
            }
        }
    });
    tracing::info!(endpoint, "AWS adapters");
    let links = aws.links.clone();
    listen(
        listener,
        &url,
        intake::router(Arc::new(intake::App {
            backend: aws,
            api_key,
            links,
        })),
    )
    .await
}
