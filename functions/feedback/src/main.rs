//! The feedback Lambda (SNS subscription to SES event publishing).

use kairos_core::aws::app::Aws;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let app = feedback::Feedback {
        aws: Aws::from_env()?,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let app = &app;
        async move {
            Ok::<_, lambda_runtime::Error>(app.handle(&event.payload, chrono::Utc::now()).await?)
        }
    }))
    .await
}
