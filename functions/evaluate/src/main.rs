//! The evaluate Lambda: tracing, configuration and clients once; then one handler per batch.

use kairos_core::aws::app::Aws;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let app = evaluate::Evaluate::new(Aws::from_env()?);
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| {
            let app = &app;
            async move { Ok::<_, lambda_runtime::Error>(app.handle(event.payload).await) }
        },
    ))
    .await
}
