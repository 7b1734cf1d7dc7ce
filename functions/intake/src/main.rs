//! The intake Lambda: tracing, configuration, clients and the API key once; then the router.

use std::sync::Arc;

use kairos_api::{router, App};
use kairos_aws::app::{lambda_sdk_config, links_from_env, Aws};
use kairos_aws::names::Names;

/// A key: `VAR` if set (local runs), else the SSM SecureString named by `VAR_PARAMETER`
/// (on AWS), read once here at init. `None` when neither is set.
async fn secret(
    config: &aws_config::SdkConfig,
    var: &str,
) -> Result<Option<String>, lambda_http::Error> {
    if let Ok(key) = std::env::var(var) {
        return Ok(Some(key));
    }
    let Ok(name) = std::env::var(format!("{var}_PARAMETER")) else {
        return Ok(None);
    };
    let out = aws_sdk_ssm::Client::new(config)
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await?;
    Ok(out.parameter.and_then(|p| p.value))
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    kairos_aws::init_tracing();
    let config = lambda_sdk_config();
    let aws = Aws::new(&config, Names::from_env()?);
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
    let app = App::new(aws, api_key, links_from_env()).with_write_key(write_key);
    lambda_http::run(router(Arc::new(app))).await
}
