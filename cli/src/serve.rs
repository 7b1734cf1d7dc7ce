//! `kairos serve`: the whole pipeline in one process on localhost, with the HTTP API of
//! the intake function (the same router). By default on the embedded store, persistent in
//! a data directory; with `--aws-endpoint`, on the real AWS adapters against that endpoint
//! (table and queues created if missing; the queues polled in-process where Lambda's event
//! source mappings would deliver them).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kairos_api::App;
use kairos_aws::app::Aws;
use kairos_aws::handlers::{dispatch::Dispatch, evaluate::Evaluate, sweep::Sweep, wakeup::Wakeup};
use kairos_aws::local::event_source;
use kairos_aws::local::provision::{provision, QueueSettings};
use serde_json::json;

use crate::embedded::{store_key, unsubscribe_secret, Embedded};

pub struct Options {
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub aws_endpoint: Option<String>,
}

/// The tracking write key (`KAIROS_WRITE_KEY`): optional; it opens only the
/// Segment-compatible tracking routes.
fn write_key() -> String {
    std::env::var("KAIROS_WRITE_KEY").unwrap_or_default()
}

pub fn command(options: Options) -> Result<(), String> {
    let api_key = std::env::var("KAIROS_API_KEY").unwrap_or_default();
    if api_key.is_empty() {
        return Err(
            "set KAIROS_API_KEY: every /v1 request must carry `Authorization: Bearer <that key>`"
                .into(),
        );
    }
    // Colours only on a terminal: a redirected log stays plain text.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
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

async fn serve_embedded(options: Options, api_key: String) -> Result<(), String> {
    let (listener, url) = bind(options.listen).await?;
    let public_url = std::env::var("KAIROS_PUBLIC_URL").unwrap_or_else(|_| url.clone());
    let embedded = Arc::new(Embedded::open(options.data.clone(), public_url).await?);
    let runner = embedded.clone();
    tokio::spawn(async move {
        let mut pruned = Utc::now();
        let mut decided = Utc::now() - chrono::Duration::minutes(1);
        loop {
            // A round runs as its own task, so a panic in it (a bug) is logged and the loop
            // goes on; its transaction was rolled back as the task unwound.
            let round = runner.clone();
            match tokio::spawn(async move { round.round(Utc::now()).await }).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "pipeline round failed; retrying"),
                Err(e) => tracing::error!(error = %e, "pipeline round panicked; retrying"),
            }
            let broadcasting = runner.clone();
            match tokio::spawn(async move { broadcasting.work_broadcasts(Utc::now()).await }).await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "a broadcast fan-out failed; retrying"),
                Err(e) => tracing::error!(error = %e, "a broadcast fan-out panicked; retrying"),
            }
            if Utc::now() - decided >= chrono::Duration::minutes(1) {
                decided = Utc::now();
                // Its own task, like a round: a panic in it is logged, the loop goes on.
                let deciding = runner.clone();
                match tokio::spawn(async move { deciding.decide_experiments(decided).await }).await
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "deciding experiments failed"),
                    Err(e) => tracing::error!(error = %e, "deciding experiments panicked"),
                }
            }
            if Utc::now() - pruned > chrono::Duration::minutes(10) {
                pruned = Utc::now();
                if let Err(e) = runner.prune(pruned) {
                    tracing::warn!(error = %e, "pruning claims failed");
                }
            }
            // Wake for new work at once, and at least every quarter second for timers.
            let _ = tokio::time::timeout(Duration::from_millis(250), runner.woken()).await;
        }
    });
    tracing::info!(data = %options.data.display(), "embedded store");
    let links = Some(embedded.links.clone());
    let app = Arc::new(
        App::new(embedded.clone(), api_key.clone(), links)
            .with_write_key(write_key())
            .with_outbox(),
    );
    listen(
        listener,
        &url,
        kairos_api::router(app).merge(crate::outbox::router(embedded, api_key)),
    )
    .await
}

async fn serve_aws(options: Options, endpoint: &str, api_key: String) -> Result<(), String> {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let config = kairos_aws::app::sdk_defaults()
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
    // What a function run beside it (`cargo lambda watch`) needs to reach the same stack.
    tracing::info!(
        KAIROS_TABLE = %names.table,
        KAIROS_WORK_QUEUE_URL = %names.work_queue_url,
        KAIROS_DELAY_QUEUE_URL = %names.delay_queue_url,
        KAIROS_DISPATCH_QUEUE_URL = %names.dispatch_queue_url,
        "provisioned on the emulator"
    );
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
        ..Aws::new(&config, names, store_key(&options.data)?)
    };
    let (evaluate, wakeup, dispatch) = (
        Arc::new(Evaluate::new(aws.clone())),
        Arc::new(Wakeup { aws: aws.clone() }),
        Arc::new(Dispatch::new(aws.clone()).map_err(|e| e.to_string())?),
    );
    let sweeper = Sweep { aws: aws.clone() };
    // One poller per queue, as Lambda runs one event source mapping per queue: polled one
    // after the other, each empty queue's long poll held up the others (1–3 items/s).
    spawn_poller(aws.clone(), aws.names.work_queue_url.clone(), move |e| {
        let evaluate = evaluate.clone();
        async move { evaluate.handle(e).await }
    });
    spawn_poller(aws.clone(), aws.names.delay_queue_url.clone(), move |e| {
        let wakeup = wakeup.clone();
        async move { wakeup.handle(e, Utc::now()).await }
    });
    spawn_poller(
        aws.clone(),
        aws.names.dispatch_queue_url.clone(),
        move |e| {
            let dispatch = dispatch.clone();
            async move { dispatch.handle(e, Utc::now()).await }
        },
    );
    tokio::spawn(async move {
        // Every 10 s here (every minute on AWS): local waits are short.
        loop {
            if let Err(e) = sweeper.run(Utc::now()).await {
                tracing::error!(error = %e, "sweep failed");
            }
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    });
    tracing::info!(endpoint, "AWS adapters");
    let links = aws.links.clone();
    listen(
        listener,
        &url,
        kairos_api::router(Arc::new(
            App::new(aws, api_key, links).with_write_key(write_key()),
        )),
    )
    .await
}

/// Polls `queue_url` for ever, handing each batch to `handle` and settling it as Lambda's
/// SQS event source mapping does (long polls of up to 1 s).
fn spawn_poller<F, Fut>(aws: Aws, queue_url: String, handle: F)
where
    F: Fn(aws_lambda_events::event::sqs::SqsEvent) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = aws_lambda_events::event::sqs::SqsBatchResponse> + Send,
{
    tokio::spawn(async move {
        loop {
            if let Err(e) = event_source::poll(&aws.queues.sqs, &queue_url, 1, &handle).await {
                tracing::error!(error = %e, queue = %queue_url, "polling failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
}
