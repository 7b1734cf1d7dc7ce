//! Everything a Lambda function (or `kairos serve --aws-endpoint`) needs, built once from
//! one SDK configuration: the table, the queues, the mailer.

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};

use super::mail::AwsMailer;
use super::names::Names;
use super::queues::Queues;
use super::table::Table;
use kairos_core::keys::StoreKey;
use kairos_core::ports::PortError;

#[derive(Clone)]
/// The AWS side of a deployment: clients built once, and the ports on them.
pub struct Aws {
    /// The DynamoDB table: contacts, journal, claims, timers, catalog.
    pub table: Table,
    /// The SQS queues (and the timer port on the delay queue and the index).
    pub queues: Queues,
    /// SES for email, SNS for SMS and push.
    pub mailer: AwsMailer,
    /// Where everything is.
    pub names: Names,
    /// Unsubscribe links (dispatch signs them, intake verifies them).
    pub links: Option<kairos_core::unsubscribe::Links>,
}

impl Aws {
    /// Clients from one shared configuration (region, credentials and any endpoint
    /// override such as `AWS_ENDPOINT_URL` come from the environment); `store_key` names
    /// claims and tombstones.
    pub fn new(config: &SdkConfig, names: Names, store_key: StoreKey) -> Aws {
        let table = Table::new(
            aws_sdk_dynamodb::Client::new(config),
            names.table.clone(),
            store_key,
        );
        let queues = Queues {
            sqs: aws_sdk_sqs::Client::new(config),
            table: table.clone(),
            names: names.clone(),
        };
        let mailer = AwsMailer {
            ses: aws_sdk_sesv2::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            from: names.from_address.clone(),
            configuration_set: names.configuration_set.clone(),
            pace: std::sync::Arc::new(crate::pace::Pacing::account()),
        };
        Aws {
            table,
            queues,
            mailer,
            names,
            links: None,
        }
    }

    /// Inside a Lambda function: names and configuration from its environment, the
    /// secrets from SSM (see [`crate::secrets`]), read once at init.
    pub async fn from_env() -> Result<Aws, PortError> {
        let names = Names::from_env()?;
        let config = lambda_sdk_config();
        let store_key = crate::secrets::store_key(&config).await?;
        let mut aws = Aws::new(&config, names, store_key);
        aws.links = crate::secrets::links(&config).await?;
        aws.mailer.pace = std::sync::Arc::new(crate::pace::Pacing::from_env());
        Ok(aws)
    }
}

/// HTTPS for the SDK through rustls on ring, the one crypto library in every binary.
fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK configuration outside Lambda (`kairos serve --aws-endpoint`, the tests): the
/// default chains for region and credentials (environment, profile files, SSO, …).
pub fn sdk_defaults() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client())
}

/// The SDK configuration inside Lambda. The runtime gives a function its region and its
/// role's credentials as environment variables (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), so it is built from those alone and the
/// default chains (profile files, SSO, STS web identity, ECS, IMDS) are never linked into
/// the functions' binaries. `AWS_ENDPOINT_URL` is honoured, as by the default loader.
pub fn lambda_sdk_config() -> SdkConfig {
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut config = SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            credentials,
        ));
    if let Ok(region) = std::env::var("AWS_REGION") {
        config = config.region(aws_config::Region::new(region));
    }
    if let Ok(url) = std::env::var("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(url);
    }
    config.build()
}

/// The use cases' backend on AWS: contacts and catalog in the table, work on SQS.
impl kairos_core::service::Ports for Aws {
    type Contacts = Table;
    type Catalog = Table;
    type Work = Queues;

    fn contacts(&self) -> &Table {
        &self.table
    }

    fn catalog(&self) -> &Table {
        &self.table
    }

    fn work(&self) -> &Queues {
        &self.queues
    }

    /// A fan-out item the sweep pages through, so no request visits every contact.
    async fn enroll_existing(&self, workflow: &str, _at: DateTime<Utc>) -> Result<(), PortError> {
        self.table.start_fanout(workflow).await
    }
}
