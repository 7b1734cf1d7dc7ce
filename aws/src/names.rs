//! Where things are: the table and the queues, from the environment (as the SAM template
//! sets them), so no name is compiled in.

use kairos_core::address::Mailbox;
use kairos_core::ports::PortError;

#[derive(Clone, Debug, PartialEq, Eq)]
/// The names and URLs of the deployment's resources.
pub struct Names {
    /// The DynamoDB table.
    pub table: String,
    /// The FIFO work queue (one message group per contact).
    pub work_queue_url: String,
    /// The delay queue of timers due within 15 minutes.
    pub delay_queue_url: String,
    /// The dispatch queue of messages and webhooks.
    pub dispatch_queue_url: String,
    /// SES configuration set (event publishing for delivery feedback), optional.
    pub configuration_set: Option<String>,
    /// The `From` of emails, parsed when the configuration is read.
    pub from_address: Mailbox,
}

impl Names {
    /// Reads `KAIROS_TABLE`, `KAIROS_WORK_QUEUE_URL`, `KAIROS_DELAY_QUEUE_URL`,
    /// `KAIROS_DISPATCH_QUEUE_URL`, `KAIROS_FROM_ADDRESS` and (optional) `KAIROS_CONFIGURATION_SET`.
    pub fn from_env() -> Result<Names, PortError> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| PortError::Failed {
                what: "configuration".into(),
                detail: format!("the environment variable {name} is not set"),
            })
        };
        Ok(Names {
            table: var("KAIROS_TABLE")?,
            work_queue_url: var("KAIROS_WORK_QUEUE_URL")?,
            delay_queue_url: var("KAIROS_DELAY_QUEUE_URL")?,
            dispatch_queue_url: var("KAIROS_DISPATCH_QUEUE_URL")?,
            configuration_set: std::env::var("KAIROS_CONFIGURATION_SET")
                .ok()
                .filter(|s| !s.is_empty()),
            from_address: Mailbox::parse(&var("KAIROS_FROM_ADDRESS")?).map_err(|detail| {
                PortError::Failed {
                    what: "KAIROS_FROM_ADDRESS".into(),
                    detail,
                }
            })?,
        })
    }
}
