//! AWS's own SES event records (the shapes of "Examples of event data that Amazon SES
//! publishes to Amazon SNS" in the SES developer guide), through the feedback function on
//! moto: untagged bounces and complaints still suppress the address, the other record
//! types are journaled on the message's step, and a payload that is not SES's is an error.

use kairos_aws::handlers::feedback::Feedback;
use kairos_core::ports::ContactStore;
use kairos_core::{Contact, ContactState, Kind};
use kairos_tests::{drain_with_retries, stack, Moto};
use serde_json::{json, Value};

/// An SNS event carrying one SES record, with `Message` as the string AWS sends.
fn sns(id: &str, record: &Value) -> Value {
    json!({ "Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0",
        "Sns": { "Type": "Notification", "MessageId": id, "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
                 "Message": record.to_string(), "Timestamp": "2017-08-05T00:41:03.000Z" }
    }]})
}

fn mail(tags: Value) -> Value {
    json!({
        "timestamp": "2017-08-05T00:40:02.012Z", "source": "Sender Name <sender@example.com>",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
        "sendingAccountId": "123456789012",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["recipient@example.com"], "headersTruncated": false,
        "commonHeaders": { "from": ["Sender Name <sender@example.com>"], "to": ["recipient@example.com"], "subject": "Message sent from Amazon SES" },
        "tags": tags
    })
}

fn our_tags() -> Value {
    json!({
        "ses:configuration-set": ["ConfigSet"], "ses:source-ip": ["192.0.2.0"],
        "contact": ["ann"], "workflow": ["welcome"], "run": ["ann-1"], "step": ["hello"], "template": ["hi"]
    })
}

fn untagged() -> Value {
    json!({ "ses:configuration-set": ["ConfigSet"], "ses:source-ip": ["192.0.2.0"] })
}

async fn contact(aws: &kairos_aws::app::Aws, id: &str, email: &str) {
    let mut contact = Contact::new(id, chrono::Utc::now());
    contact.email = Some(email.into());
    aws.table
        .save(&mut ContactState::new(contact))
        .await
        .unwrap();
}

#[tokio::test]
async fn aws_sample_records_tagged_and_untagged() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let feedback = Feedback::new(aws.clone());
    let now = chrono::Utc::now();
    // The workflow our tags name is deployed (feedback naming none is history only).
    let welcome = "id: welcome\nentry: { triggers: [ { event: signed_up } ] }\nsteps:\n  - { id: hello, wait: { for: 1d } }\n";
    let refs = kairos_core::language::validate::References::default();
    let workflow = kairos_core::language::load_workflow("welcome.yaml", welcome, refs).unwrap();
    kairos_core::ports::CatalogStore::put_workflow(&aws.table, &workflow)
        .await
        .unwrap();
    // The address AWS's samples bounce is ann's (in another case); the complaint's is bob's.
    contact(&aws, "ann", "Recipient@Example.com").await;
    contact(&aws, "bob", "complaint@example.com").await;

    let bounce = json!({
        "eventType": "Bounce",
        "bounce": { "bounceType": "Permanent", "bounceSubType": "General",
            "bouncedRecipients": [{ "emailAddress": "recipient@example.com", "action": "failed", "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown" }],
            "timestamp": "2017-08-05T00:41:02.669Z", "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000", "reportingMTA": "dsn; mta.example.com" },
        "mail": mail(untagged())
    });
    let complaint = json!({
        "eventType": "Complaint",
        "complaint": { "feedbackId": "0100015e12e7b6f8-0f4b0a7a-c0b3-11e6-a1ab-example-000000",
            "complaintSubType": null, "complainedRecipients": [{ "emailAddress": "complaint@example.com" }],
            "timestamp": "2017-08-05T00:41:02.669Z", "userAgent": "Mozilla/5.0", "complaintFeedbackType": "abuse", "arrivalDate": "2017-08-05T00:41:02.669Z" },
        "mail": mail(untagged())
    });
    assert_eq!(feedback.handle(&sns("n-1", &bounce), now).await.unwrap(), 1);
    assert_eq!(
        feedback.handle(&sns("n-2", &complaint), now).await.unwrap(),
        1
    );
    // The same notification again (SNS delivers at least once): claimed away.
    assert_eq!(feedback.handle(&sns("n-1", &bounce), now).await.unwrap(), 0);

    let tagged = [
        json!({ "eventType": "Send", "send": {}, "mail": mail(our_tags()) }),
        json!({ "eventType": "Reject", "reject": { "reason": "Bad content" }, "mail": mail(our_tags()) }),
        json!({ "eventType": "Rendering Failure", "failure": { "errorMessage": "Attribute 'attributeName' is not present in the rendering data.", "templateName": "MyTemplate" }, "mail": mail(our_tags()) }),
        json!({ "eventType": "DeliveryDelay", "deliveryDelay": { "timestamp": "2020-06-16T00:15:40.641Z", "delayType": "InternalFailure", "expirationTime": "2020-06-16T00:25:40.914Z", "delayedRecipients": [{ "emailAddress": "recipient@example.com", "status": "4.4.1", "diagnosticCode": "smtp; 421 4.4.1 Unable to connect" }] }, "mail": mail(our_tags()) }),
        json!({ "eventType": "Delivery", "delivery": { "timestamp": "2016-10-19T23:21:04.133Z", "processingTimeMillis": 11893, "recipients": ["recipient@example.com"], "smtpResponse": "250 2.6.0 Message received", "reportingMTA": "mta.example.com" }, "mail": mail(our_tags()) }),
        json!({ "eventType": "Open", "open": { "ipAddress": "192.0.2.1", "timestamp": "2017-08-09T22:00:19.652Z", "userAgent": "Mozilla/5.0" }, "mail": mail(our_tags()) }),
        json!({ "eventType": "Click", "click": { "ipAddress": "192.0.2.1", "link": "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html", "linkTags": { "samplekey0": ["samplevalue0"] }, "timestamp": "2017-08-09T23:51:25.570Z", "userAgent": "Mozilla/5.0" }, "mail": mail(our_tags()) }),
    ];
    for (i, record) in tagged.iter().enumerate() {
        assert_eq!(
            feedback
                .handle(&sns(&format!("t-{i}"), record), now)
                .await
                .unwrap(),
            1,
            "{record}"
        );
    }
    // Untagged deliveries and opens of someone else's send: nothing to attribute, no error.
    let foreign = json!({ "eventType": "Delivery", "delivery": { "timestamp": "2016-10-19T23:21:04.133Z", "recipients": ["recipient@example.com"] }, "mail": mail(untagged()) });
    assert_eq!(
        feedback.handle(&sns("f-1", &foreign), now).await.unwrap(),
        0
    );
    drain_with_retries(&aws).await;

    let ann = aws.table.load("ann").await.unwrap().unwrap();
    assert!(
        ann.contact.consent.bounced,
        "an untagged hard bounce suppresses the address"
    );
    let bob = aws.table.load("bob").await.unwrap().unwrap();
    assert!(bob.contact.consent.complained, "an untagged complaint too");
    let journal = aws.table.journal("ann").await.unwrap();
    let on_step: Vec<Kind> = journal
        .iter()
        .filter(|e| e.step.as_deref() == Some("hello"))
        .map(|e| e.kind)
        .collect();
    for kind in [
        Kind::MessageAccepted,
        Kind::MessageRejected,
        Kind::MessageRenderFailed,
        Kind::MessageDelayedByProvider,
        Kind::MessageDelivered,
        Kind::MessageOpened,
        Kind::MessageClicked,
    ] {
        assert!(
            on_step.contains(&kind),
            "{kind:?} on the message's step: {journal:#?}"
        );
    }
    let rejected = journal
        .iter()
        .find(|e| e.kind == Kind::MessageRejected)
        .unwrap();
    assert_eq!(rejected.message.as_deref(), Some("Bad content"));
}

#[tokio::test]
async fn a_payload_that_is_not_ses_is_an_error_not_a_silent_success() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let feedback = Feedback::new(aws);
    let now = chrono::Utc::now();
    for payload in [
        json!({ "hello": "world" }),
        // An SQS event, an EventBridge event: the wrong source wired to the function.
        json!({ "Records": [{ "messageId": "m", "body": "{}", "eventSource": "aws:sqs" }] }),
        json!({ "version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {} }),
        sns("x-1", &json!({ "message": "not an SES record" })),
        sns(
            "x-2",
            &json!({ "eventType": "Teleported", "mail": mail(our_tags()) }),
        ),
    ] {
        let error = feedback.handle(&payload, now).await.unwrap_err();
        assert!(!error.retryable(), "{payload}: {error}");
    }
}
