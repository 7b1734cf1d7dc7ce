//! The feedback Lambda (SNS subscription to SES event publishing).

use kairos_aws::app::Aws;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    kairos_aws::init_tracing();
    let app = kairos_aws::handlers::feedback::Feedback::new(Aws::from_env().await?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let app = &app;
        async move {
            Ok::<_, lambda_runtime::Error>(app.handle(&event.payload, chrono::Utc::now()).await?)
        }
    }))
    .await
}
