//! Creates what the SAM template creates on AWS — the table, the three queues with their
//! dead-letter queues — on an AWS-compatible endpoint (`kairos serve --aws-endpoint`, the
//! integration tests). Existing resources are reused.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use kairos_core::address::Mailbox;

use crate::names::Names;
use crate::port_error;
use crate::table::{EMAIL_INDEX, WORKFLOW_INDEX};
use kairos_core::ports::PortError;

/// How the queues behave; the SAM template sets the same attributes on AWS.
#[derive(Clone, Copy, Debug)]
pub struct QueueSettings {
    /// Seconds a received message stays invisible (AWS: at least 6× the function timeout).
    pub visibility_timeout: u32,
    /// Receives before a message moves to its dead-letter queue.
    pub max_receive_count: u32,
}

async fn queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    fifo: bool,
    attributes: Vec<(QueueAttributeName, String)>,
) -> Result<(String, String), PortError> {
    let mut request = sqs.create_queue().queue_name(name);
    if fifo {
        request = request.attributes(QueueAttributeName::FifoQueue, "true");
    }
    for (k, v) in attributes {
        request = request.attributes(k, v);
    }
    let url = request
        .send()
        .await
        .map_err(|e| port_error("create a queue", e))?
        .queue_url
        .unwrap_or_default();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| port_error("read a queue's ARN", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .unwrap_or_default();
    Ok((url, arn))
}

/// Creates (or finds) the table and queues named after `prefix`; returns their names.
pub async fn provision(
    config: &SdkConfig,
    prefix: &str,
    from_address: &str,
    settings: QueueSettings,
) -> Result<Names, PortError> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut urls = Vec::new();
    for (name, fifo) in [("work", true), ("delay", false), ("dispatch", false)] {
        let suffix = if fifo { ".fifo" } else { "" };
        let (_, dlq_arn) =
            queue(&sqs, &format!("{prefix}-{name}-dlq{suffix}"), fifo, vec![]).await?;
        let redrive = format!(
            r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{}"}}"#,
            settings.max_receive_count
        );
        let attributes = vec![
            (
                QueueAttributeName::VisibilityTimeout,
                settings.visibility_timeout.to_string(),
            ),
            (QueueAttributeName::RedrivePolicy, redrive),
        ];
        urls.push(
            queue(&sqs, &format!("{prefix}-{name}{suffix}"), fifo, attributes)
                .await?
                .0,
        );
    }
    let table = format!("{prefix}-table");
    create_table_if_missing(&aws_sdk_dynamodb::Client::new(config), &table).await?;
    let ses = aws_sdk_sesv2::Client::new(config);
    // Emulators (and SES sandboxes) only send from verified identities.
    let from_address = Mailbox::parse(from_address).map_err(|detail| PortError::Failed {
        what: "from address".into(),
        detail,
    })?;
    let _ = ses
        .create_email_identity()
        .email_identity(from_address.address.as_str())
        .send()
        .await;
    Ok(Names {
        table,
        work_queue_url: urls[0].clone(),
        delay_queue_url: urls[1].clone(),
        dispatch_queue_url: urls[2].clone(),
        configuration_set: None,
        from_address,
    })
}

/// The URL of a queue's dead-letter queue (for tests and operators).
pub async fn dead_letter_queue_url(
    config: &SdkConfig,
    prefix: &str,
    name: &str,
) -> Result<String, PortError> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let suffix = if name == "work" { ".fifo" } else { "" };
    let out = sqs
        .get_queue_url()
        .queue_name(format!("{prefix}-{name}-dlq{suffix}"))
        .send()
        .await
        .map_err(|e| port_error("find a queue", e))?;
    Ok(out.queue_url.unwrap_or_default())
}

/// Creates the table `name` (pay per request, TTL on `ttl`) unless it exists. For `kairos
/// serve --aws-endpoint` and tests; on AWS the SAM template creates it.
async fn create_table_if_missing(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), PortError> {
    if client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let schema = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let build_err = |e: aws_sdk_dynamodb::error::BuildError| PortError::Failed {
        what: "create table".into(),
        detail: e.to_string(),
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk").map_err(build_err)?)
        .attribute_definitions(attr("sk").map_err(build_err)?)
        .attribute_definitions(attr("wpk").map_err(build_err)?)
        .attribute_definitions(attr("wsk").map_err(build_err)?)
        .key_schema(schema("pk", KeyType::Hash).map_err(build_err)?)
        .key_schema(schema("sk", KeyType::Range).map_err(build_err)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(WORKFLOW_INDEX)
                .key_schema(schema("wpk", KeyType::Hash).map_err(build_err)?)
                .key_schema(schema("wsk", KeyType::Range).map_err(build_err)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(build_err)?,
        )
        .attribute_definitions(attr("email").map_err(build_err)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(EMAIL_INDEX)
                .key_schema(schema("email", KeyType::Hash).map_err(build_err)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .map_err(build_err)?,
        )
        .send()
        .await
        .map_err(|e| port_error("create table", e))?;
    let spec = TimeToLiveSpecification::builder()
        .attribute_name("ttl")
        .enabled(true)
        .build()
        .map_err(build_err)?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(spec)
        .send()
        .await
        .map_err(|e| port_error("enable TTL", e))?;
    Ok(())
}
