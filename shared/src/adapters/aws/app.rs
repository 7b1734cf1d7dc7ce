//! Everything a Lambda function (or `kairos serve --aws-endpoint`) needs, built once from
//! one SDK configuration: the table, the queues, the mailer.

use aws_config::SdkConfig;

use super::mail::AwsMailer;
use super::names::Names;
use super::queues::Queues;
use super::table::Table;
use crate::ports::PortError;

#[derive(Clone)]
pub struct Aws {
    pub table: Table,
    pub queues: Queues,
    pub mailer: AwsMailer,
    pub names: Names,
}

impl Aws {
    /// Clients from one shared configuration (region, credentials and any endpoint
    /// override such as `AWS_ENDPOINT_URL` come from the environment).
    pub fn new(config: &SdkConfig, names: Names) -> Aws {
        let table = Table::new(aws_sdk_dynamodb::Client::new(config), names.table.clone());
        let queues = Queues { sqs: aws_sdk_sqs::Client::new(config), table: table.clone(), names: names.clone() };
        let mailer = AwsMailer {
            ses: aws_sdk_sesv2::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            from: names.from_address.clone(),
            configuration_set: names.configuration_set.clone(),
        };
        Aws { table, queues, mailer, names }
    }

    pub async fn from_env() -> Result<Aws, PortError> {
        let names = Names::from_env()?;
        let config = aws_config::load_from_env().await;
        Ok(Aws::new(&config, names))
    }
}
