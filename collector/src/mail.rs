//! Mail to visitors: privacy-center sign-in links and the yearly "what we hold about you"
//! notice, sent over SMTP (lettre) from a durable outbox, never from a request.
//!
//! A request only queues a row in `mail_outbox` (recipient and message sealed with a key of
//! their own, AES-256-GCM); a background deliverer sends due rows, retries failures with
//! backoff as webhooks do, and gives a sign-in link up once it has expired. When a row is
//! delivered or given up, its recipient and message are blanked: the outbox stays as the
//! delivery log (kind, status, attempts, times, last error) without anything personal.
//!
//! Transport (`config::SmtpConfig`): `smtp://host[:port]` with STARTTLS when the server
//! offers it (`?tls=required` refuses a plain session, `?tls=none` for a local relay), or
//! `smtps://host[:port]` with TLS from the first byte; credentials; an extra CA.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::config::{SmtpConfig, SmtpTls};
use crate::privacy::keys::Keys;
use crate::privacy::seal::Sealer;
use crate::store::{fetch, insert_rows, InsertOptions, Params, Store, StoreError};

/// Attempts before an undeliverable mail is given up.
pub const MAX_ATTEMPTS: u32 = 10;
const BACKOFF_CAP_SECS: u64 = 3600;

/// The relay as lettre needs it, built once from the validated `smtp.*` settings.
pub struct Relay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Relay {
    /// The relay of the settings; the message says what is wrong (an unreadable CA file, a
    /// sender lettre cannot use).
    pub fn new(c: &SmtpConfig) -> Result<Relay, String> {
        let params = || -> Result<TlsParameters, String> {
            let mut b = TlsParameters::builder(c.host.clone());
            if let Some(path) = &c.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("smtp.ca_file {}: {e}", path.display()))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| format!("smtp.ca_file {}: {e}", path.display()))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| format!("smtp TLS: {e}"))
        };
        let tls = match c.tls {
            SmtpTls::Wrapper => Tls::Wrapper(params()?),
            SmtpTls::Required => Tls::Required(params()?),
            SmtpTls::Opportunistic => Tls::Opportunistic(params()?),
            SmtpTls::None => Tls::None,
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host)
            .port(c.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(20)));
        if let Some(user) = &c.username {
            b = b.credentials(Credentials::new(
                user.clone(),
                c.password.clone().unwrap_or_default(),
            ));
        }
        let from: Mailbox = c
            .from
            .parse()
            .map_err(|e| format!("smtp.from \"{}\": {e}", c.from))?;
        Ok(Relay {
            transport: b.build(),
            from,
        })
    }
}

/// What a mail says: a subject, a plain-text part and an HTML part.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Letter {
    pub to: String,
    /// The site's sender name, shown before the configured address.
    pub sender_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One queued mail in its latest state.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct OutboxRow {
    id: String,
    site: String,
    lead_id: String,
    kind: String,
    message_enc: String,
    created_at: u64,
    /// Unix ms after which the mail is useless (a sign-in link); 0: never.
    expires_at: u64,
    status: String,
    attempts: u32,
    next_attempt_at: u64,
    last_error: String,
    version: u64,
}

/// A delivery log entry as admins see it: nothing personal.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub kind: String,
    pub created_at: u64,
    /// `pending`, `delivered`, `failed` (gave up) or `expired` (a link that was not sent in time).
    pub status: String,
    pub attempts: u32,
    pub last_error: String,
}

pub struct Mailer {
    store: Arc<dyn Store>,
    relay: Option<Relay>,
    sealer: Sealer,
}

fn backoff(attempts: u32) -> u64 {
    (2u64 << attempts.min(12)).min(BACKOFF_CAP_SECS)
}

impl Mailer {
    pub fn new(store: Arc<dyn Store>, keys: &Keys, relay: Option<Relay>) -> Mailer {
        Mailer {
            store,
            relay,
            sealer: Sealer::new(&keys.aead_key("mail-outbox")),
        }
    }

    /// Whether mail can be sent at all (`smtp.url` set).
    pub fn configured(&self) -> bool {
        self.relay.is_some()
    }

    /// Queues a mail about `lead_id`; `expires_at` (unix ms, 0: never) ends its usefulness.
    pub async fn queue(
        &self,
        site: &str,
        lead_id: &str,
        kind: &str,
        letter: &Letter,
        now: u64,
        expires_at: u64,
    ) -> Result<String, StoreError> {
        let row = OutboxRow {
            id: hex::encode(self.sealer.random::<12>()),
            site: site.into(),
            lead_id: lead_id.into(),
            kind: kind.into(),
            message_enc: self
                .sealer
                .seal(serde_json::to_string(letter).unwrap_or_default().as_bytes()),
            created_at: now,
            expires_at,
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: now,
            last_error: String::new(),
            version: clock::version(),
        };
        insert_rows(
            self.store.as_ref(),
            "mail_outbox",
            std::slice::from_ref(&row),
            &InsertOptions::default(),
        )
        .await?;
        Ok(row.id)
    }

    /// The delivery log of a site, newest first.
    pub async fn deliveries(&self, site: &str, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<OutboxRow> = fetch(
            self.store.as_ref(),
            "SELECT id, site, lead_id, kind, '' AS message_enc, created_at, expires_at, status, attempts,
                    next_attempt_at, last_error, version
             FROM mail_outbox FINAL WHERE site = {site:String}
             ORDER BY created_at DESC, id LIMIT {limit:UInt32}",
            &Params::new().with("site", site).with("limit", limit),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Delivery {
                id: r.id,
                kind: r.kind,
                created_at: r.created_at,
                status: r.status,
                attempts: r.attempts,
                last_error: r.last_error,
            })
            .collect())
    }

    /// When the last mail of `kind` was queued for each lead of a site (unix ms).
    pub async fn last_queued(
        &self,
        site: &str,
        kind: &str,
    ) -> Result<std::collections::HashMap<String, u64>, StoreError> {
        #[derive(Deserialize)]
        struct Last {
            lead_id: String,
            at: u64,
        }
        let rows: Vec<Last> = fetch(
            self.store.as_ref(),
            "SELECT lead_id, max(created_at) AS at FROM mail_outbox
             WHERE site = {site:String} AND kind = {kind:String} GROUP BY lead_id",
            &Params::new().with("site", site).with("kind", kind),
        )
        .await?;
        Ok(rows.into_iter().map(|r| (r.lead_id, r.at)).collect())
    }

    /// Sends every due mail once (`now`: unix ms of the application clock, which also set
    /// the links' expiry). Returns how many were attempted.
    pub async fn deliver_due(&self, now: u64) -> Result<usize, StoreError> {
        let Some(relay) = &self.relay else {
            return Ok(0);
        };
        let due: Vec<OutboxRow> = fetch(
            self.store.as_ref(),
            "SELECT id, site, lead_id, kind, message_enc, created_at, expires_at, status, attempts,
                    next_attempt_at, last_error, version
             FROM mail_outbox FINAL WHERE status = 'pending' AND next_attempt_at <= {now:UInt64}
             ORDER BY next_attempt_at LIMIT 50",
            &Params::new().with("now", now),
        )
        .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut updates = Vec::with_capacity(due.len());
        for mut row in due {
            row.attempts += 1;
            row.version = clock::version();
            if row.expires_at != 0 && now >= row.expires_at {
                row.status = "expired".into();
            } else {
                let result = self.send(relay, &row).await;
                match result {
                    Ok(()) => {
                        row.status = "delivered".into();
                        row.last_error.clear();
                    }
                    Err(e) => {
                        row.last_error = e.chars().take(300).collect();
                        if row.attempts >= MAX_ATTEMPTS {
                            row.status = "failed".into();
                        } else {
                            row.next_attempt_at = now + backoff(row.attempts) * 1000;
                        }
                    }
                }
            }
            tracing::info!(mail = %row.id, site = %row.site, kind = %row.kind, status = %row.status, attempts = row.attempts, "mail delivery");
            if row.status != "pending" {
                // Done either way: keep the log line, not the address or the link.
                row.message_enc.clear();
            }
            updates.push(row);
        }
        let n = updates.len();
        insert_rows(
            self.store.as_ref(),
            "mail_outbox",
            &updates,
            &InsertOptions::default(),
        )
        .await?;
        Ok(n)
    }

    async fn send(&self, relay: &Relay, row: &OutboxRow) -> Result<(), String> {
        let letter: Letter = self
            .sealer
            .open(&row.message_enc)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(
                "message sealed with another server key (collectors must share CANDOR_PII_KEY)",
            )?;
        let from = if letter.sender_name.is_empty() {
            relay.from.clone()
        } else {
            Mailbox::new(Some(letter.sender_name.clone()), relay.from.email.clone())
        };
        let to: Mailbox = letter
            .to
            .parse()
            .map_err(|_| "the recipient's address is not deliverable".to_string())?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(letter.subject.clone())
            .header(lettre::message::header::MIME_VERSION_1_0)
            .multipart(MultiPart::alternative_plain_html(
                letter.text.clone(),
                letter.html.clone(),
            ))
            .map_err(|e| e.to_string())?;
        relay
            .transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!((backoff(1), backoff(2), backoff(3)), (4, 8, 16));
        assert_eq!(backoff(30), BACKOFF_CAP_SECS);
    }
}
