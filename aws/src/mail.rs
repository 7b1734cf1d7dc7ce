//! Sending: email through SES (v2), SMS and push through SNS. Emails carry the tags of
//! `ses_tags` so SES events come back attributable.

use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};

use mail_builder::headers::address::Address;
use mail_builder::headers::raw::Raw;

use super::port_error;
use kairos_core::address::{header_line, EmailAddress, Mailbox};
use kairos_core::language::step::Channel;
use kairos_core::ports::{Mailer, Outgoing, PortError};

#[derive(Clone)]
/// The mailer on SES (email) and SNS (SMS, push).
pub struct AwsMailer {
    /// SES v2.
    pub ses: aws_sdk_sesv2::Client,
    /// SNS.
    pub sns: aws_sdk_sns::Client,
    /// The sender of every email.
    pub from: Mailbox,
    /// The SES configuration set that publishes delivery events, if any.
    pub configuration_set: Option<String>,
    /// Emails at this instance's share of SES's sending rate (shared by the clones).
    pub pace: std::sync::Arc<crate::pace::Pacing>,
}

fn build_error(e: aws_sdk_sesv2::error::BuildError) -> PortError {
    PortError::Failed {
        what: "email".into(),
        detail: e.to_string(),
    }
}

impl Mailer for AwsMailer {
    /// Emails at this instance's share of SES's sending rate (see [`crate::pace`]).
    async fn turn(&self, out: &Outgoing) -> Option<chrono::DateTime<chrono::Utc>> {
        match out.message.channel {
            Channel::Email => self.pace.turn(&self.ses).await,
            Channel::Sms | Channel::Push => None,
        }
    }

    async fn send(&self, out: &Outgoing) -> Result<String, PortError> {
        let m = &out.message;
        match m.channel {
            Channel::Email => {
                let bytes = mime(&self.from, out)?;
                let raw = RawMessage::builder()
                    .data(Blob::new(bytes))
                    .build()
                    .map_err(build_error)?;
                let mut request = self
                    .ses
                    .send_email()
                    .from_email_address(self.from.address.as_str())
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

/// The raw MIME of an email. Every header is built by mail-builder's own encoders from
/// parsed values: the recipient is an [`EmailAddress`] (a stored address that is not one is
/// refused here, not sent), the sender a [`Mailbox`] whose name mail-builder quotes or
/// encodes, and the subject one line (`header_line`), so no value can add a header.
/// RFC 8058 one-click unsubscribe headers go on marketing email.
pub(crate) fn mime(from: &Mailbox, out: &Outgoing) -> Result<Vec<u8>, PortError> {
    let failed = |detail: String| PortError::Failed {
        what: "email".into(),
        detail,
    };
    let to = EmailAddress::parse(&out.to).map_err(failed)?;
    let sender = Address::new_address(from.name.clone(), from.address.to_string());
    let mut mime = mail_builder::MessageBuilder::new()
        .from(sender)
        .to(Address::new_address(None::<String>, to.to_string()))
        .subject(header_line(out.subject.as_deref().unwrap_or_default()));
    if let Some(url) = &out.unsubscribe_url {
        // The URL is ours (public URL + base64url token); stripped of control characters
        // all the same, as every header value is.
        mime = mime
            .header(
                "List-Unsubscribe",
                Raw::new(format!("<{}>", header_line(url))),
            )
            .header(
                "List-Unsubscribe-Post",
                Raw::new("List-Unsubscribe=One-Click"),
            );
    }
    if let Some(text) = &out.text {
        mime = mime.text_body(text.clone());
    }
    if let Some(html) = &out.html {
        mime = mime.html_body(html.clone());
    }
    mime.write_to_vec().map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kairos_core::language::step::{Category, Channel};
    use kairos_core::model::effect::Message;

    fn outgoing(to: &str, subject: &str) -> Outgoing {
        Outgoing {
            message: Message {
                key: "ann/r/s/1".into(),
                contact: "ann".into(),
                workflow: "w".into(),
                version: 1,
                run: "r".into(),
                step: "s".into(),
                template: "t".into(),
                channel: Channel::Email,
                category: Category::Marketing,
                event: None,
                due: chrono::Utc::now(),
                held_at_goals: None,
                broadcast: None,
                provider_retries: 0,
                turn_at: None,
            },
            to: to.into(),
            subject: Some(subject.into()),
            html: Some("<p>Hi</p>".into()),
            text: Some("Hi".into()),
            unsubscribe_url: Some("https://k.example/unsubscribe/abc.def".into()),
        }
    }

    /// The header names of a raw message, as a mail parser reads them back.
    fn header_names(raw: &[u8]) -> Vec<String> {
        let parsed = mail_parser::MessageParser::default()
            .parse(raw)
            .expect("the MIME parses");
        parsed
            .headers()
            .iter()
            .map(|h| h.name().to_ascii_lowercase())
            .collect()
    }

    #[test]
    fn injected_line_breaks_add_no_header() {
        let from = Mailbox::parse("Kairos <kairos@example.com>").unwrap();
        let clean = header_names(&mime(&from, &outgoing("ann@example.com", "Hi Ann")).unwrap());
        for subject in [
            "Hi Ann\r\nBcc: someone@elsewhere.test",
            "Hi Ann\nBcc: someone@elsewhere.test",
            "Hi Ann\rBcc: someone@elsewhere.test",
            "Hi Ann\r\n\r\n<html>body</html>",
        ] {
            let raw = mime(&from, &outgoing("ann@example.com", subject)).unwrap();
            assert_eq!(header_names(&raw), clean, "{subject:?} changed the headers");
            let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
            assert!(parsed.bcc().is_none());
            assert!(parsed.subject().unwrap().starts_with("Hi Ann"));
        }
        // A recipient that is not an address is refused, never written into `To:`.
        for to in [
            "ann@example.com\r\nBcc: someone@elsewhere.test",
            "not an email<script>",
        ] {
            assert!(mime(&from, &outgoing(to, "Hi")).is_err(), "{to:?}");
        }
    }

    #[test]
    fn the_sender_keeps_its_display_name() {
        let from = Mailbox::parse("Kairos News <kairos@example.com>").unwrap();
        let raw = mime(&from, &outgoing("ann@example.com", "Hi")).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let sender = parsed.from().and_then(|a| a.first()).unwrap();
        assert_eq!(sender.name(), Some("Kairos News"));
        assert_eq!(sender.address(), Some("kairos@example.com"));
        assert!(parsed
            .header_raw("List-Unsubscribe")
            .unwrap()
            .contains("<https://k.example/unsubscribe/abc.def>"));
    }
}
