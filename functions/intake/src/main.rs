//! The intake Lambda: tracing, configuration, clients and the API key once; then the router.

use std::sync::Arc;

use kairos_api::{router, App};
use kairos_aws::app::{lambda_sdk_config, links_from_env, Aws};
use kairos_aws::names::Names;

/// The API key: `KAIROS_API_KEY` if set (local runs), else the SSM SecureString named by
/// `KAIROS_API_KEY_PARAMETER` (on AWS), read once here at init.
async fn api_key(config: &aws_config::SdkConfig) -> Result<String, lambda_http::Error> {
    if let Ok(key) = std::env::var("KAIROS_API_KEY") {
        return Ok(key);
    }
    let name = std::env::var("KAIROS_API_KEY_PARAMETER")
        .map_err(|_| "set KAIROS_API_KEY or KAIROS_API_KEY_PARAMETER")?;
    let out = aws_sdk_ssm::Client::new(config)
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await?;
    Ok(out.parameter.and_then(|p| p.value).unwrap_or_default())
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    kairos_aws::init_tracing();
    let config = lambda_sdk_config();
    let aws = Aws::new(&config, Names::from_env()?);
    let api_key = api_key(&config).await?;
    if api_key.is_empty() {
        tracing::warn!("the API key is empty: every /v1 request will be refused");
    }
    lambda_http::run(router(Arc::new(App::new(aws, api_key, links_from_env())))).await
}
