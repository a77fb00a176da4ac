//! Signed webhooks for lead changes (`lead.created`, `lead.updated`, `lead.erased`).
//!
//! Every change is written to a durable outbox in the store (one row per endpoint and event,
//! a new version per attempt), and a background deliverer POSTs due rows. The body is signed
//! the way Stripe signs: header `Candor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">` with the endpoint's secret, so a receiver checks authenticity and rejects
//! old timestamps (replays). `Candor-Event-Id` is stable across retries: receivers dedupe by
//! it. Failures retry with exponential backoff (1 s, 2 s, 4 s … capped at one hour) up to
//! `MAX_ATTEMPTS`; the outbox doubles as the delivery log. Endpoint secrets must be readable
//! to sign, so they are stored encrypted (AES-256-GCM), never in the clear.
//!
//! Bodies carry a lead's contact details, so `webhook_outbox.payload` holds them sealed too
//! (AES-256-GCM with a key derived from the server key): a reader of the store sees no email,
//! name or company. The body is sealed as it was when the event happened (receivers get the
//! lead as of the change, as before) and opened only to send it or to show the delivery log
//! to an admin. An opt-out leaves earlier payloads sealed; an erasure deletes every payload of
//! the lead (`leads::erasure`). Rows an earlier version wrote in the clear are sealed when a
//! collector starts (`seal_plain_payloads`).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ring::hmac;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::clock;
use crate::privacy::keys::Keys;
use crate::privacy::seal::Sealer;
use crate::store::{fetch, insert_rows, InsertOptions, Params, Store, StoreError};

pub const EVENTS: [&str; 3] = ["lead.created", "lead.updated", "lead.erased"];
pub const MAX_ATTEMPTS: u32 = 12;
const BACKOFF_CAP_SECS: u64 = 3600;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct EndpointRow {
    site: String,
    id: String,
    /// What people are told receives their details (the privacy center); empty: the host.
    #[serde(default)]
    name: String,
    url: String,
    secret_enc: String,
    events: Vec<String>,
    created_at: u32,
    deleted: u8,
    version: u64,
}

/// An endpoint as admins see it (never its secret).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub site: String,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: u32,
}

/// One delivery: an event for an endpoint, in its latest state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    pub event_id: String,
    pub endpoint_id: String,
    pub site: String,
    pub event_type: String,
    pub payload: String,
    pub created_at: u64,
    /// `pending`, `delivered` or `failed` (gave up after `MAX_ATTEMPTS`).
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: u64,
    pub last_status: u16,
    pub last_error: String,
    pub version: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Webhooks {
    store: Arc<dyn Store>,
    /// Active endpoints by site, reloaded with the other caches: lead writes learn whether
    /// anyone listens without asking the store.
    cache: RwLock<BTreeMap<String, Vec<EndpointRow>>>,
    sealer: Sealer,
    /// Seals outbox payloads (a key of its own, derived from the same server key).
    payloads: Sealer,
    http: reqwest::Client,
}

/// The signature header value for a body at time `t`.
pub fn sign(secret: &str, t: u64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("t={t},v1={}", hex::encode(ctx.sign().as_ref()))
}

/// The sealer of outbox payloads: a key of its own, derived from the server key.
pub fn payload_sealer(keys: &Keys) -> Sealer {
    Sealer::new(&keys.aead_key("webhook-payload"))
}

/// A stored payload as the receiver gets it: opened, or as it is when an earlier version
/// wrote it in the clear (a JSON body starts with `{`; sealed base64 never does). None when
/// it was sealed with another server key.
pub fn open_payload(sealer: &Sealer, stored: &str) -> Option<String> {
    if stored.starts_with('{') {
        return Some(stored.to_string());
    }
    String::from_utf8(sealer.open(stored)?).ok()
}

/// Event ids of a site's outbox rows whose payload is about `lead_id`. Payloads are sealed, so
/// the store cannot search them: this reads and opens the site's outbox, acceptable for a
/// rare, admin-initiated erasure (and it needs no column the store could link to a person).
pub async fn outbox_events_of_lead(
    store: &dyn Store,
    sealer: &Sealer,
    site: &str,
    lead_id: &str,
) -> Result<Vec<String>, StoreError> {
    #[derive(Deserialize)]
    struct Row {
        event_id: String,
        payload: String,
    }
    let rows: Vec<Row> = fetch(
        store,
        "SELECT event_id, any(payload) AS payload FROM webhook_outbox
         WHERE site = {site:String} GROUP BY event_id",
        &Params::new().with("site", site),
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| {
            open_payload(sealer, &r.payload)
                .and_then(|p| serde_json::from_str::<Value>(&p).ok())
                .is_some_and(|v| v["data"]["lead"]["id"] == json!(lead_id))
        })
        .map(|r| r.event_id)
        .collect())
}

fn backoff(attempts: u32) -> u64 {
    (1u64 << attempts.min(12).saturating_sub(1)).min(BACKOFF_CAP_SECS)
}

impl Webhooks {
    pub async fn load(store: Arc<dyn Store>, keys: &Keys) -> Result<Webhooks, StoreError> {
        let w = Webhooks {
            store,
            cache: RwLock::new(BTreeMap::new()),
            sealer: Sealer::new(&keys.aead_key("webhook-secret")),
            payloads: payload_sealer(keys),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        };
        w.refresh().await?;
        w.seal_plain_payloads().await?;
        Ok(w)
    }

    /// Seals outbox rows an earlier version wrote in the clear (a JSON body starts with `{`;
    /// a sealed one is base64 and never does). The latest version of each row is written
    /// again sealed, under the same version, then every plain row is deleted with a
    /// synchronous mutation, so no plain copy is left for a reader or a later merge.
    /// Forward-only and idempotent: a crash in between leaves plain rows to seal next time.
    pub async fn seal_plain_payloads(&self) -> Result<usize, StoreError> {
        #[derive(Deserialize)]
        struct Count {
            c: u64,
        }
        let left = fetch::<Count>(
            self.store.as_ref(),
            "SELECT count() AS c FROM webhook_outbox WHERE startsWith(payload, '{')",
            &Params::new(),
        )
        .await?;
        if left.first().is_none_or(|c| c.c == 0) {
            return Ok(0);
        }
        let plain: Vec<Delivery> = fetch(
            self.store.as_ref(),
            "SELECT event_id, endpoint_id, site, event_type, payload, created_at, status, attempts, next_attempt_at,
                    last_status, last_error, version
             FROM webhook_outbox FINAL WHERE startsWith(payload, '{')",
            &Params::new(),
        )
        .await?;
        let sealed: Vec<Delivery> = plain
            .into_iter()
            .map(|d| Delivery {
                payload: self.payloads.seal(d.payload.as_bytes()),
                ..d
            })
            .collect();
        insert_rows(
            self.store.as_ref(),
            "webhook_outbox",
            &sealed,
            &InsertOptions::default(),
        )
        .await?;
        self.store
            .execute(
                "ALTER TABLE webhook_outbox DELETE WHERE startsWith(payload, '{') SETTINGS mutations_sync = 2",
                &Params::new(),
            )
            .await?;
        tracing::info!(
            rows = sealed.len(),
            "sealed webhook payloads stored in the clear by an earlier version"
        );
        Ok(sealed.len())
    }

    /// A stored payload as the receiver gets it (see `open_payload`).
    pub fn open_payload(&self, stored: &str) -> Option<String> {
        open_payload(&self.payloads, stored)
    }

    /// Reloads the active endpoints (changes made through another collector appear here).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let rows: Vec<EndpointRow> = fetch(
            self.store.as_ref(),
            "SELECT site, id, name, url, secret_enc, events, toUnixTimestamp(created_at) AS created_at, deleted, version
             FROM webhooks FINAL WHERE deleted = 0 ORDER BY created_at, id",
            &Params::new(),
        )
        .await?;
        let mut map: BTreeMap<String, Vec<EndpointRow>> = BTreeMap::new();
        for r in rows {
            map.entry(r.site.clone()).or_default().push(r);
        }
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(())
    }

    fn endpoints(&self, site: &str) -> Vec<EndpointRow> {
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(site)
            .cloned()
            .unwrap_or_default()
    }

    /// Whether some endpoint of the site subscribes to `event_type`.
    pub fn wants(&self, site: &str, event_type: &str) -> bool {
        self.endpoints(site)
            .iter()
            .any(|e| e.events.iter().any(|x| x == event_type))
    }

    pub fn list(&self, site: &str) -> Vec<Endpoint> {
        self.endpoints(site)
            .into_iter()
            .map(|r| Endpoint {
                id: r.id,
                site: r.site,
                name: r.name,
                url: r.url,
                events: r.events,
                created_at: r.created_at,
            })
            .collect()
    }

    /// Who receives a site's lead changes, as people are told: each endpoint's name, or its
    /// host when it has none.
    pub fn recipients(&self, site: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .endpoints(site)
            .into_iter()
            .map(|e| {
                if e.name.is_empty() {
                    url::Url::parse(&e.url)
                        .ok()
                        .and_then(|u| u.host_str().map(String::from))
                        .unwrap_or_default()
                } else {
                    e.name
                }
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Registers an endpoint; returns it and its signing secret (shown once).
    pub async fn create(
        &self,
        site: &str,
        url: &str,
        name: Option<&str>,
        events: Option<Vec<String>>,
    ) -> Result<(Endpoint, String), WebhookError> {
        let name = name.unwrap_or("").trim().to_string();
        if name.chars().count() > 80 || name.chars().any(char::is_control) {
            return Err(WebhookError::Invalid {
                field: "name",
                message: "name must be at most 80 characters on one line".into(),
            });
        }
        let parsed = url::Url::parse(url).map_err(|_| WebhookError::Invalid {
            field: "url",
            message: "url must be an absolute http(s) URL".into(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || url.len() > 2048 {
            return Err(WebhookError::Invalid {
                field: "url",
                message: "url must be an absolute http(s) URL".into(),
            });
        }
        let events = events.unwrap_or_else(|| EVENTS.map(String::from).to_vec());
        if events.is_empty() || events.iter().any(|e| !EVENTS.contains(&e.as_str())) {
            return Err(WebhookError::Invalid {
                field: "events",
                message: format!("events are some of {}", EVENTS.join(", ")),
            });
        }
        let secret = format!("whsec_{}", hex::encode(self.sealer.random::<24>()));
        let row = EndpointRow {
            site: site.into(),
            name,
            id: hex::encode(self.sealer.random::<8>()),
            url: parsed.to_string(),
            secret_enc: self.sealer.seal(secret.as_bytes()),
            events,
            created_at: clock::unix_seconds(),
            deleted: 0,
            version: clock::version(),
        };
        insert_rows(
            self.store.as_ref(),
            "webhooks",
            std::slice::from_ref(&row),
            &InsertOptions::default(),
        )
        .await?;
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(row.site.clone())
            .or_default()
            .push(row.clone());
        Ok((
            Endpoint {
                id: row.id,
                site: row.site,
                name: row.name,
                url: row.url,
                events: row.events,
                created_at: row.created_at,
            },
            secret,
        ))
    }

    pub async fn delete(&self, site: &str, id: &str) -> Result<bool, StoreError> {
        let Some(mut row) = self.endpoints(site).into_iter().find(|r| r.id == id) else {
            return Ok(false);
        };
        row.deleted = 1;
        row.version = clock::version();
        insert_rows(
            self.store.as_ref(),
            "webhooks",
            &[row],
            &InsertOptions::default(),
        )
        .await?;
        if let Some(list) = self
            .cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(site)
        {
            list.retain(|r| r.id != id);
        }
        Ok(true)
    }

    /// Queues `event_type` with `data` for every endpoint of the site that wants it.
    pub async fn emit(
        &self,
        site: &str,
        event_type: &str,
        data: Value,
    ) -> Result<usize, StoreError> {
        let now_ms = clock::unix_millis();
        let rows: Vec<Delivery> = self
            .endpoints(site)
            .into_iter()
            .filter(|e| e.events.iter().any(|x| x == event_type))
            .map(|e| {
                let event_id = format!("evt_{}", hex::encode(self.sealer.random::<12>()));
                let payload = self.payloads.seal(
                    json!({
                        "id": event_id,
                        "type": event_type,
                        "created": now_ms / 1000,
                        "site": site,
                        "data": data,
                    })
                    .to_string()
                    .as_bytes(),
                );
                Delivery {
                    event_id,
                    endpoint_id: e.id,
                    site: site.into(),
                    event_type: event_type.into(),
                    payload,
                    created_at: now_ms,
                    status: "pending".into(),
                    attempts: 0,
                    next_attempt_at: now_ms,
                    last_status: 0,
                    last_error: String::new(),
                    version: clock::version(),
                }
            })
            .collect();
        if !rows.is_empty() {
            insert_rows(
                self.store.as_ref(),
                "webhook_outbox",
                &rows,
                &InsertOptions::default(),
            )
            .await?;
        }
        Ok(rows.len())
    }

    /// The delivery log of one endpoint, newest first, with the payloads opened (empty when
    /// sealed with another server key).
    pub async fn deliveries(
        &self,
        site: &str,
        endpoint: &str,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<Delivery> = fetch(
            self.store.as_ref(),
            "SELECT event_id, endpoint_id, site, event_type, payload, created_at, status, attempts, next_attempt_at,
                    last_status, last_error, version
             FROM webhook_outbox FINAL WHERE site = {site:String} AND endpoint_id = {e:String}
             ORDER BY created_at DESC, event_id LIMIT {limit:UInt32}",
            &Params::new().with("site", site).with("e", endpoint).with("limit", limit),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|d| Delivery {
                payload: self.open_payload(&d.payload).unwrap_or_default(),
                ..d
            })
            .collect())
    }

    /// Delivers every due row once. Returns how many were attempted.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let due: Vec<Delivery> = fetch(
            self.store.as_ref(),
            "SELECT event_id, endpoint_id, site, event_type, payload, created_at, status, attempts, next_attempt_at,
                    last_status, last_error, version
             FROM webhook_outbox FINAL WHERE status = 'pending' AND next_attempt_at <= {now:UInt64}
             ORDER BY next_attempt_at LIMIT 100",
            &Params::new().with("now", clock::unix_millis()),
        )
        .await?;
        let mut secrets: std::collections::HashMap<(String, String), Option<(String, String)>> =
            std::collections::HashMap::new();
        let mut updates = Vec::with_capacity(due.len());
        for mut d in due {
            let key = (d.site.clone(), d.endpoint_id.clone());
            if !secrets.contains_key(&key) {
                let found = self
                    .endpoints(&d.site)
                    .into_iter()
                    .find(|e| e.id == d.endpoint_id)
                    .and_then(|e| {
                        let secret = String::from_utf8(self.sealer.open(&e.secret_enc)?).ok()?;
                        Some((e.url, secret))
                    });
                secrets.insert(key.clone(), found);
            }
            d.attempts += 1;
            d.version = clock::version();
            let Some((url, secret)) = secrets.get(&key).cloned().flatten() else {
                d.status = "failed".into();
                d.last_error = "endpoint deleted".into();
                updates.push(d);
                continue;
            };
            let body = self.open_payload(&d.payload);
            if d.payload.starts_with('{') {
                // Written in the clear by an earlier collector: never write it back that way.
                d.payload = self.payloads.seal(d.payload.as_bytes());
            }
            let Some(body) = body else {
                d.status = "failed".into();
                d.last_error =
                    "payload sealed with another server key (collectors must share CANDOR_PII_KEY)"
                        .into();
                updates.push(d);
                continue;
            };
            let t = clock::unix_seconds() as u64;
            let result = self
                .http
                .post(&url)
                .header("Content-Type", "application/json")
                .header("User-Agent", "Candor-Webhooks/1")
                .header("Candor-Event", &d.event_type)
                .header("Candor-Event-Id", &d.event_id)
                .header("Candor-Signature", sign(&secret, t, body.as_bytes()))
                .body(body)
                .send()
                .await;
            match result {
                Ok(resp) if resp.status().is_success() => {
                    d.status = "delivered".into();
                    d.last_status = resp.status().as_u16();
                    d.last_error.clear();
                }
                other => {
                    match other {
                        Ok(resp) => {
                            d.last_status = resp.status().as_u16();
                            d.last_error = format!("HTTP {}", resp.status().as_u16());
                        }
                        Err(e) => {
                            d.last_status = 0;
                            d.last_error = e.to_string().chars().take(300).collect();
                        }
                    }
                    if d.attempts >= MAX_ATTEMPTS {
                        d.status = "failed".into();
                    } else {
                        d.next_attempt_at = clock::unix_millis() + backoff(d.attempts) * 1000;
                    }
                }
            }
            tracing::info!(event = %d.event_id, endpoint = %d.endpoint_id, status = %d.status, attempts = d.attempts, "webhook delivery");
            updates.push(d);
        }
        let n = updates.len();
        if n > 0 {
            insert_rows(
                self.store.as_ref(),
                "webhook_outbox",
                &updates,
                &InsertOptions::default(),
            )
            .await?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_time_and_body_and_backoff_doubles() {
        let a = sign("whsec_x", 1_700_000_000, b"{}");
        assert!(a.starts_with("t=1700000000,v1="));
        assert_ne!(a, sign("whsec_x", 1_700_000_001, b"{}"));
        assert_ne!(a, sign("whsec_x", 1_700_000_000, b"{ }"));
        assert_ne!(a, sign("whsec_y", 1_700_000_000, b"{}"));
        assert_eq!(
            (backoff(1), backoff(2), backoff(3), backoff(40)),
            (1, 2, 4, 2048)
        );
    }
}
