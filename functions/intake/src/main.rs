//! The intake Lambda: tracing, configuration, clients and the keys once; then the router.

use std::sync::Arc;

use kairos_api::{router, App};
use kairos_aws::app::{lambda_sdk_config, Aws};
use kairos_aws::secrets::secret;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    kairos_aws::init_tracing();
    let config = lambda_sdk_config();
    let aws = Aws::from_env().await?;
    let api_key = secret(&config, "KAIROS_API_KEY")
        .await?
        .ok_or("set KAIROS_API_KEY or KAIROS_API_KEY_PARAMETER")?;
    if api_key.is_empty() {
        tracing::warn!("the API key is empty: every /v1 request will be refused");
    }
    // The write key is optional: without it the tracking routes take the API key alone.
    let write_key = match secret(&config, "KAIROS_WRITE_KEY").await {
        Ok(key) => key.unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "no write key: the tracking routes take the API key alone");
            String::new()
        }
    };
    let links = aws.links.clone();
    let app = App::new(aws, api_key, links).with_write_key(write_key);
    lambda_http::run(router(Arc::new(app))).await
}
