//! The secrets a function reads once at init: `VAR` itself if set (local runs, tests), else
//! the SSM SecureString parameter named by `VAR_PARAMETER` (on AWS; the SAM template sets
//! the names and grants each function read access to its own).

use aws_config::SdkConfig;
use kairos_core::keys::StoreKey;
use kairos_core::ports::PortError;

/// `VAR`, else the SecureString named by `VAR_PARAMETER`; `None` when neither is set.
pub async fn secret(config: &SdkConfig, var: &str) -> Result<Option<String>, PortError> {
    if let Ok(value) = std::env::var(var) {
        return Ok(Some(value));
    }
    let Ok(name) = std::env::var(format!("{var}_PARAMETER")) else {
        return Ok(None);
    };
    let out = aws_sdk_ssm::Client::new(config)
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| crate::port_error(&format!("read the SSM parameter {name}"), e))?;
    Ok(out.parameter.and_then(|p| p.value))
}

/// The store key (`KAIROS_STORE_KEY`, or the parameter `KAIROS_STORE_KEY_PARAMETER`
/// names): required, since claims taken under one key are invisible under another.
pub async fn store_key(config: &SdkConfig) -> Result<StoreKey, PortError> {
    let missing = |detail: String| PortError::Failed {
        what: "KAIROS_STORE_KEY".into(),
        detail,
    };
    let key = secret(config, "KAIROS_STORE_KEY").await?.ok_or_else(|| {
        missing(
            "set KAIROS_STORE_KEY or KAIROS_STORE_KEY_PARAMETER (the SSM SecureString that names claims and tombstones)".into(),
        )
    })?;
    StoreKey::new(key).map_err(missing)
}

/// Unsubscribe links from `KAIROS_UNSUBSCRIBE_SECRET` (or its parameter; the HMAC key:
/// dispatch signs, intake verifies) and `KAIROS_PUBLIC_URL` (where the API answers:
/// dispatch needs it to write links). Without the secret there are no links; without the
/// URL, links are verified but not written.
pub async fn links(
    config: &SdkConfig,
) -> Result<Option<kairos_core::unsubscribe::Links>, PortError> {
    let Some(secret) = secret(config, "KAIROS_UNSUBSCRIBE_SECRET")
        .await?
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    let public_url = std::env::var("KAIROS_PUBLIC_URL").unwrap_or_default();
    Ok(Some(kairos_core::unsubscribe::Links {
        public_url,
        signer: kairos_core::unsubscribe::Signer::new(secret),
    }))
}
