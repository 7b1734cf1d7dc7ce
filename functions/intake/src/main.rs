//! The intake Lambda: tracing, configuration, clients once; then the router.

use std::sync::Arc;

use intake::{router, App};
use kairos_core::aws::app::Aws;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let aws = Aws::from_env().await?;
    let api_key = std::env::var("KAIROS_API_KEY").unwrap_or_default();
    if api_key.is_empty() {
        tracing::warn!("KAIROS_API_KEY is empty: every /v1 request will be refused");
    }
    lambda_http::run(router(Arc::new(App {
        backend: aws,
        api_key,
    })))
    .await
}
