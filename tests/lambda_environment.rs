//! The functions' configuration as Lambda hands it over: region, the role's credentials and
//! the resource names as environment variables, nothing else. `Aws::from_env` built from
//! them alone must reach the services (here moto's, through `AWS_ENDPOINT_URL`), and the
//! secrets come from the SSM parameters the template names.
//!
//! Its own test binary, because it sets process-wide environment variables.

use kairos_aws::app::Aws;
use kairos_core::ports::ContactStore;
use kairos_core::{Contact, ContactState};
use kairos_tests::{stack, Moto, STORE_KEY};

#[tokio::test]
async fn a_function_configured_from_the_lambda_environment_reaches_the_services() {
    let moto = Moto::start();
    let (provisioned, config) = stack(&moto).await;
    let names = &provisioned.names;
    let ssm = aws_sdk_ssm::Client::new(&config);
    for (name, value) in [
        ("/kairos/store-key", STORE_KEY),
        (
            "/kairos/unsubscribe-secret",
            "an unsubscribe secret of 32 bytes+",
        ),
    ] {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
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
    // No store key: the function refuses to start (claims under a missing or other key
    // would not see the ones already taken).
    let error = Aws::from_env()
        .await
        .err()
        .expect("no store key")
        .to_string();
    assert!(error.contains("KAIROS_STORE_KEY"), "{error}");

    std::env::set_var("KAIROS_STORE_KEY_PARAMETER", "/kairos/store-key");
    std::env::set_var(
        "KAIROS_UNSUBSCRIBE_SECRET_PARAMETER",
        "/kairos/unsubscribe-secret",
    );
    let aws = Aws::from_env()
        .await
        .expect("configured from the environment");
    let mut state = ContactState::new(Contact::new("ann", chrono::Utc::now()));
    aws.table.save(&mut state).await.expect("a signed write");
    let read = provisioned.table.load("ann").await.unwrap();
    assert_eq!(read.map(|s| s.contact.id), Some("ann".to_string()));
    // The store key read from SSM is the provisioned stack's: a claim taken by one is
    // seen by the other.
    assert!(aws.table.claim("ann/once").await.unwrap());
    assert!(!provisioned.table.claim("ann/once").await.unwrap());
    // The unsubscribe secret too: a link signed with it verifies.
    let links = aws.links.as_ref().expect("links from the SSM secret");
    let token = links.signer.token("ann", "marketing");
    let expected = kairos_core::unsubscribe::Signer::new("an unsubscribe secret of 32 bytes+");
    assert_eq!(expected.verify(&token).unwrap().0, "ann");

    // Without credentials in the environment the function fails loudly, not anonymously.
    std::env::remove_var("AWS_ACCESS_KEY_ID");
    let error = Aws::from_env().await.err().expect("unsigned").to_string();
    assert!(error.to_lowercase().contains("credentials"), "{error}");
}
