//! The functions' configuration as Lambda hands it over: region, the role's credentials and
//! the resource names as environment variables, nothing else. `Aws::from_env` built from
//! them alone must reach the services (here moto's, through `AWS_ENDPOINT_URL`).
//!
//! Its own test binary, because it sets process-wide environment variables.

use kairos_aws::app::Aws;
use kairos_core::ports::ContactStore;
use kairos_core::{Contact, ContactState};
use kairos_tests::{stack, Moto};

#[tokio::test]
async fn a_function_configured_from_the_lambda_environment_reaches_the_services() {
    let moto = Moto::start();
    let (provisioned, _) = stack(&moto).await;
    let names = &provisioned.names;
    for (name, value) in [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "lambda-role-key"),
        ("AWS_SECRET_ACCESS_KEY", "lambda-role-secret"),
        ("AWS_SESSION_TOKEN", "lambda-role-session"),
        ("AWS_ENDPOINT_URL", &moto.endpoint),
        ("KAIROS_TABLE", &names.table),
        ("KAIROS_WORK_QUEUE_URL", &names.work_queue_url),
        ("KAIROS_DELAY_QUEUE_URL", &names.delay_queue_url),
        ("KAIROS_DISPATCH_QUEUE_URL", &names.dispatch_queue_url),
        ("KAIROS_FROM_ADDRESS", "Shop <hello@example.com>"),
    ] {
        std::env::set_var(name, value);
    }
    let aws = Aws::from_env().expect("configured from the environment");
    let mut state = ContactState::new(Contact::new("ann", chrono::Utc::now()));
    aws.table.save(&mut state).await.expect("a signed write");
    let read = provisioned.table.load("ann").await.unwrap();
    assert_eq!(read.map(|s| s.contact.id), Some("ann".to_string()));

    // Without credentials in the environment the function fails loudly, not anonymously.
    std::env::remove_var("AWS_ACCESS_KEY_ID");
    let aws = Aws::from_env().unwrap();
    let error = aws.table.load("ann").await.unwrap_err().to_string();
    assert!(error.to_lowercase().contains("credentials"), "{error}");
}
