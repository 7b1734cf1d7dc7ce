//! Adapters for the ports: in memory (the simulator, tests) and, with the `aws` feature,
//! DynamoDB, SQS, SES and SNS (the Lambda functions and `kairos serve --aws-endpoint`).

#[cfg(feature = "aws")]
pub mod aws;
pub mod file;
pub mod memory;
