//! Sending: email through SES (v2), SMS and push through SNS. Emails carry the tags of
//! `ses_tags` so SES events come back attributable.

use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};

use super::port_error;
use crate::language::step::Channel;
use crate::ports::{Mailer, Outgoing, PortError};

#[derive(Clone)]
pub struct AwsMailer {
    pub ses: aws_sdk_sesv2::Client,
    pub sns: aws_sdk_sns::Client,
    pub from: String,
    pub configuration_set: Option<String>,
}

fn build_error(e: aws_sdk_sesv2::error::BuildError) -> PortError {
    PortError::Failed {
        what: "email".into(),
        detail: e.to_string(),
    }
}

impl Mailer for AwsMailer {
    async fn send(&self, out: &Outgoing) -> Result<String, PortError> {
        let m = &out.message;
        match m.channel {
            Channel::Email => {
                // Raw MIME, so the message carries our own headers: RFC 8058 one-click
                // unsubscribe for marketing email.
                let mut mime = mail_builder::MessageBuilder::new()
                    .from(self.from.as_str())
                    .to(out.to.as_str())
                    .subject(out.subject.clone().unwrap_or_default());
                if let Some(url) = &out.unsubscribe_url {
                    mime = mime
                        .header(
                            "List-Unsubscribe",
                            mail_builder::headers::raw::Raw::new(format!("<{url}>")),
                        )
                        .header(
                            "List-Unsubscribe-Post",
                            mail_builder::headers::raw::Raw::new("List-Unsubscribe=One-Click"),
                        );
                }
                if let Some(text) = &out.text {
                    mime = mime.text_body(text.clone());
                }
                if let Some(html) = &out.html {
                    mime = mime.html_body(html.clone());
                }
                let bytes = mime.write_to_vec().map_err(|e| PortError::Failed {
                    what: "email".into(),
                    detail: e.to_string(),
                })?;
                let raw = RawMessage::builder()
                    .data(Blob::new(bytes))
                    .build()
                    .map_err(build_error)?;
                let mut request = self
                    .ses
                    .send_email()
                    .from_email_address(&self.from)
                    .destination(Destination::builder().to_addresses(&out.to).build())
                    .content(EmailContent::builder().raw(raw).build())
                    .set_configuration_set_name(self.configuration_set.clone());
                for (name, value) in super::ses_tags::for_message(m) {
                    request = request.email_tags(
                        MessageTag::builder()
                            .name(name)
                            .value(value)
                            .build()
                            .map_err(build_error)?,
                    );
                }
                let sent = request
                    .send()
                    .await
                    .map_err(|e| port_error("SES send", e))?;
                Ok(sent.message_id.unwrap_or_default())
            }
            Channel::Sms | Channel::Push => {
                let text = out.text.clone().unwrap_or_default();
                let publish = self.sns.publish().message(text);
                let publish = if m.channel == Channel::Sms {
                    publish.phone_number(&out.to)
                } else {
                    publish.target_arn(&out.to)
                };
                let sent = publish
                    .send()
                    .await
                    .map_err(|e| port_error("SNS publish", e))?;
                Ok(sent.message_id.unwrap_or_default())
            }
        }
    }
}
