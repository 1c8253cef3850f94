//! E-mail over SMTP (lettre), for the addresses rules name (a maintenance team's mailbox). The
//! idempotency key becomes the Message-ID, which mail systems already use to drop duplicates.
//! Plain SMTP to a relay on the LAN; a relay that needs TLS is reached through a local
//! forwarder for now.

use super::channel::{Channel, Outgoing, SendError, SendFuture};
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub struct Email {
    pub transport: AsyncSmtpTransport<Tokio1Executor>,
    pub from: lettre::message::Mailbox,
}

impl Email {
    pub fn new(host: &str, port: u16, from: &str) -> Result<Email, String> {
        let from = from
            .parse()
            .map_err(|e| format!("from {from:?} is not an e-mail address: {e}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        Ok(Email { transport, from })
    }
}

impl Channel for Email {
    fn kind(&self) -> &'static str {
        "smtp"
    }

    fn send<'a>(&'a self, out: Outgoing<'a>) -> SendFuture<'a> {
        Box::pin(async move {
            let to: lettre::message::Mailbox = out
                .recipient
                .parse()
                .map_err(|e| SendError::BadRecipient(format!("{:?}: {e}", out.recipient)))?;
            let mail = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(out.message.title.clone())
                .message_id(Some(format!("<{}@gridwatch>", out.key)))
                .header(ContentType::TEXT_PLAIN)
                .body(out.message.text.clone())
                .map_err(|e| SendError::BadRecipient(e.to_string()))?;
            self.transport
                .send(mail)
                .await
                .map_err(|e| SendError::Unreachable(e.to_string()))?;
            Ok(())
        })
    }
}
