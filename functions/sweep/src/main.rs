//! The sweep Lambda (EventBridge schedule, every minute).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use kairos_aws::app::Aws;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    kairos_aws::init_tracing();
    let app = kairos_aws::handlers::sweep::Sweep {
        aws: Aws::from_env().await?,
    };
    lambda_runtime::run(service_fn(|_: LambdaEvent<EventBridgeEvent>| {
        let app = &app;
        async move {
            let swept = app.run(chrono::Utc::now()).await?;
            tracing::info!(timers = swept.timers, enrolled = swept.enrolled, "swept");
            Ok::<_, lambda_runtime::Error>(swept)
        }
    }))
    .await
}
