//! Leads: visitors who gave marketing consent and handed over contact details. Contact details
//! are encrypted at rest (AES-256-GCM, ring) with a key derived from the server secret; a keyed
//! hash of the normalised email finds a lead again (and erases it) without storing the email
//! in the clear. The visitor key of the snippet's first-party id is linked to the lead, so its
//! earlier marketing-consented visits become the lead's history.

pub mod center;
pub mod erasure;
pub mod history;
pub mod webhooks;

use std::sync::Arc;

use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::privacy::keys::Keys;
use crate::privacy::seal::Sealer;
use crate::privacy::withdrawn::WithdrawnKeys;
use crate::store::{fetch, insert_rows, InsertOptions, Params, Store, StoreError};

/// A normalised email address: trimmed, lowercased, one `@`, a dotted domain, ≤ 254 chars.
#[derive(Clone, Debug, PartialEq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Option<Email> {
        let e = raw.trim().to_lowercase();
        let (local, domain) = e.split_once('@')?;
        let ok = e.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !e.chars().any(|c| c.is_whitespace() || c.is_control());
        ok.then_some(Email(e))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct LeadRow {
    id: String,
    site: String,
    email_hash: String,
    email_enc: String,
    name_enc: String,
    company_enc: String,
    status: String,
    consent_at: u32,
    consent_page: String,
    #[serde(default)]
    consent_version: String,
    created_at: u32,
    /// Contact preferences the person chose in the privacy center.
    #[serde(default)]
    frequency: String,
    #[serde(default)]
    topics: Vec<String>,
    version: u64,
}

/// The columns of `LeadRow`, as every lead query selects them.
pub(crate) const LEAD_COLUMNS: &str =
    "id, site, email_hash, email_enc, name_enc, company_enc, status,
    toUnixTimestamp(consent_at) AS consent_at, consent_page, consent_version,
    toUnixTimestamp(created_at) AS created_at, frequency, topics, version";

#[derive(Serialize, Deserialize)]
struct LinkRow {
    site: String,
    visitor_key: String,
    lead_id: String,
    linked_at: u32,
    unlinked: u8,
    version: u64,
}

pub struct Identification<'a> {
    pub site: &'a str,
    pub vid: &'a str,
    pub email: Email,
    pub name: Option<String>,
    pub company: Option<String>,
    /// The visitor network's organisation: the company when the form gave none.
    pub organisation: Option<String>,
    pub page: String,
    /// The site's consent text version at the time of consent.
    pub consent_version: String,
}

pub struct Leads {
    store: Arc<dyn Store>,
    keys: Arc<Keys>,
    sealer: Sealer,
    /// Browser keys withdrawn in the privacy center (shared with the pipeline).
    withdrawn: Arc<WithdrawnKeys>,
    /// Lead writes are serialised: a version is taken and its row committed before the next
    /// write takes one, so versions commit in order and the sync cursor never skips a change.
    writes: tokio::sync::Mutex<()>,
}

/// How far behind "now" the pull API stays, so a write in flight on another collector (or a
/// clock a little behind) cannot commit below a cursor a CRM job already holds.
pub const SETTLE_MS: u64 = 2_000;

/// A position in the change feed: the last (version, id) a job has seen.
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor {
    pub version: u64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{:016x}.{}", self.version, self.id)
    }

    pub fn parse(s: &str) -> Option<Cursor> {
        let (v, id) = s.split_once('.')?;
        let ok_id = id.len() <= 32 && id.chars().all(|c| c.is_ascii_hexdigit());
        (v.len() == 16 && ok_id).then(|| {
            Some(Cursor {
                version: u64::from_str_radix(v, 16).ok()?,
                id: id.to_string(),
            })
        })?
    }
}

/// A lead as the pull API returns it. Opted-out and erased leads are tombstones: no contact.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LeadView {
    pub id: String,
    pub site: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_at: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<u32>,
    /// How often and about what the person wants to hear from the site (privacy center).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferences: Option<center::Preferences>,
    /// Milliseconds since the epoch of this change.
    pub updated_at: u64,
}

impl Leads {
    pub fn new(store: Arc<dyn Store>, keys: Arc<Keys>) -> Leads {
        let sealer = Sealer::new(&keys.aead_key("lead-contact"));
        Leads {
            store,
            keys,
            sealer,
            withdrawn: Arc::default(),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// The browser keys withdrawn in the privacy center, for the pipeline to ask.
    pub fn withdrawn(&self) -> Arc<WithdrawnKeys> {
        self.withdrawn.clone()
    }

    /// Changes after `cursor`, oldest first, at most `limit`, each lead in its current state.
    pub async fn changes(
        &self,
        site: &str,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<(Vec<LeadView>, Option<Cursor>), StoreError> {
        // Every version below a fresh one taken under the write lock is committed.
        let horizon = {
            let _w = self.writes.lock().await;
            clock::version()
        }
        .min(clock::unix_millis().saturating_sub(SETTLE_MS));
        let start = cursor.cloned().unwrap_or(Cursor {
            version: 0,
            id: String::new(),
        });
        let rows: Vec<LeadRow> = fetch(
            self.store.as_ref(),
            &format!("SELECT {LEAD_COLUMNS} FROM leads FINAL
             WHERE site = {{site:String}} AND (version, id) > ({{v:UInt64}}, {{id:String}}) AND version <= {{horizon:UInt64}}
             ORDER BY version, id LIMIT {{limit:UInt32}}"),
            &Params::new()
                .with("site", site)
                .with("v", start.version)
                .with("id", &start.id)
                .with("horizon", horizon)
                .with("limit", limit),
        )
        .await?;
        let next = rows.last().map(|r| Cursor {
            version: r.version,
            id: r.id.clone(),
        });
        let views = rows.into_iter().map(|r| self.view(r)).collect();
        Ok((views, next))
    }

    /// The pull API's view of a stored lead: contact details decrypted for active leads only.
    fn view(&self, r: LeadRow) -> LeadView {
        let active = r.status == "active";
        LeadView {
            email: active.then(|| self.open(&r.email_enc)).flatten(),
            name: active
                .then(|| self.open(&r.name_enc))
                .flatten()
                .filter(|s| !s.is_empty()),
            company: active
                .then(|| self.open(&r.company_enc))
                .flatten()
                .filter(|s| !s.is_empty()),
            consent_at: active.then_some(r.consent_at),
            consent_version: active.then_some(r.consent_version),
            created_at: active.then_some(r.created_at),
            preferences: active.then(|| center::Preferences {
                frequency: r.frequency.clone(),
                topics: r.topics.clone(),
            }),
            id: r.id,
            site: r.site,
            status: r.status,
            updated_at: r.version,
        }
    }

    /// One lead in its current state, with its consent page.
    pub async fn get(&self, id: &str) -> Result<Option<(LeadView, String)>, StoreError> {
        if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let rows: Vec<LeadRow> = fetch(
            self.store.as_ref(),
            &format!("SELECT {LEAD_COLUMNS} FROM leads FINAL WHERE id = {{id:String}} LIMIT 1"),
            &Params::new().with("id", id),
        )
        .await?;
        Ok(rows.into_iter().next().map(|r| {
            let page = r.consent_page.clone();
            (self.view(r), page)
        }))
    }

    /// Every active lead of a site, oldest first (for CSV export).
    pub async fn active(&self, site: &str) -> Result<Vec<LeadView>, StoreError> {
        let rows: Vec<LeadRow> = fetch(
            self.store.as_ref(),
            &format!("SELECT {LEAD_COLUMNS} FROM leads FINAL WHERE site = {{site:String}} AND status = 'active' ORDER BY created_at, id"),
            &Params::new().with("site", site),
        )
        .await?;
        Ok(rows.into_iter().map(|r| self.view(r)).collect())
    }

    /// A site's most recently identified active leads, newest first, at most `limit`.
    pub async fn recent(&self, site: &str, limit: u32) -> Result<Vec<LeadView>, StoreError> {
        let rows: Vec<LeadRow> = fetch(
            self.store.as_ref(),
            &format!("SELECT {LEAD_COLUMNS} FROM leads FINAL WHERE site = {{site:String}} AND status = 'active'
             ORDER BY created_at DESC, id LIMIT {{limit:UInt32}}"),
            &Params::new().with("site", site).with("limit", limit),
        )
        .await?;
        Ok(rows.into_iter().map(|r| self.view(r)).collect())
    }

    /// Store access for the lead history queries (`history.rs`).
    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(crate) fn email_hash(&self, site: &str, email: &Email) -> String {
        let k = self.keys.derive(&format!("email-hash/{site}"));
        hex::encode(hmac::sign(&k, email.as_str().as_bytes()).as_ref())
    }

    async fn current(&self, site: &str, email_hash: &str) -> Result<Option<LeadRow>, StoreError> {
        let rows: Vec<LeadRow> = fetch(
            self.store.as_ref(),
            &format!("SELECT {LEAD_COLUMNS} FROM leads FINAL WHERE site = {{site:String}} AND email_hash = {{h:String}} AND status != 'erased' LIMIT 1"),
            &Params::new().with("site", site).with("h", email_hash),
        )
        .await?;
        Ok(rows.into_iter().next())
    }

    /// Creates or updates the lead and links the visitor. Returns the lead id and whether the
    /// lead is new.
    pub async fn identify(&self, id: Identification<'_>) -> Result<(String, bool), StoreError> {
        let _w = self.writes.lock().await;
        let now = clock::unix_seconds();
        let hash = self.email_hash(id.site, &id.email);
        let existing = self.current(id.site, &hash).await?;
        let seal_opt = |v: &Option<String>, old: Option<&str>| match v {
            Some(s) if !s.trim().is_empty() => self
                .sealer
                .seal(s.trim().chars().take(200).collect::<String>().as_bytes()),
            _ => old.unwrap_or_default().to_string(),
        };
        let mut company_enc = seal_opt(
            &id.company,
            existing.as_ref().map(|e| e.company_enc.as_str()),
        );
        if company_enc.is_empty() {
            if let Some(org) = id.organisation.as_deref().filter(|o| !o.is_empty()) {
                company_enc = self.sealer.seal(org.as_bytes());
            }
        }
        let row = LeadRow {
            id: existing
                .as_ref()
                .map(|e| e.id.clone())
                .unwrap_or_else(|| hex::encode(self.sealer.random::<8>())),
            site: id.site.to_string(),
            email_hash: hash,
            email_enc: self.sealer.seal(id.email.as_str().as_bytes()),
            name_enc: seal_opt(&id.name, existing.as_ref().map(|e| e.name_enc.as_str())),
            company_enc,
            // Identifying again with consent re-activates a lead that had opted out.
            status: "active".into(),
            consent_at: now,
            consent_page: id.page.chars().take(512).collect(),
            consent_version: id.consent_version,
            created_at: existing.as_ref().map(|e| e.created_at).unwrap_or(now),
            frequency: existing
                .as_ref()
                .map(|e| e.frequency.clone())
                .unwrap_or_default(),
            topics: existing
                .as_ref()
                .map(|e| e.topics.clone())
                .unwrap_or_default(),
            version: clock::version(),
        };
        insert_rows(
            self.store.as_ref(),
            "leads",
            std::slice::from_ref(&row),
            &InsertOptions::default(),
        )
        .await?;
        let visitor_key = self.keys.visitor_key(id.site, id.vid);
        // Consenting again in a form links a browser the person had withdrawn.
        self.withdrawn.remove(&visitor_key);
        let link = LinkRow {
            site: id.site.to_string(),
            visitor_key,
            lead_id: row.id.clone(),
            linked_at: now,
            unlinked: 0,
            version: clock::version(),
        };
        insert_rows(
            self.store.as_ref(),
            "lead_visitors",
            &[link],
            &InsertOptions::default(),
        )
        .await?;
        Ok((row.id, existing.is_none()))
    }

    /// Marketing consent withdrawn: the visitor is unlinked and its leads become `opted_out`.
    /// Returns the ids of the leads that changed.
    pub async fn opt_out(&self, site: &str, vid: &str) -> Result<Vec<String>, StoreError> {
        let _w = self.writes.lock().await;
        let key = self.keys.visitor_key(site, vid);
        #[derive(Deserialize)]
        struct Linked {
            lead_id: String,
        }
        let linked: Vec<Linked> = fetch(
            self.store.as_ref(),
            "SELECT lead_id FROM lead_visitors FINAL WHERE site = {site:String} AND visitor_key = {k:String} AND unlinked = 0",
            &Params::new().with("site", site).with("k", &key),
        )
        .await?;
        let now = clock::unix_seconds();
        for l in &linked {
            self.store
                .execute(
                    "INSERT INTO leads (id, site, email_hash, email_enc, name_enc, company_enc, status, consent_at, consent_page,
                                        created_at, updated_at, version, consent_version, frequency, topics)
                     SELECT id, site, email_hash, email_enc, name_enc, company_enc, 'opted_out', consent_at,
                            consent_page, created_at, now64(3), {v:UInt64}, consent_version, frequency, topics
                     FROM leads FINAL WHERE site = {site:String} AND id = {id:String} AND status = 'active'",
                    &Params::new().with("site", site).with("id", &l.lead_id).with("v", clock::version()),
                )
                .await?;
            let unlink = LinkRow {
                site: site.into(),
                visitor_key: key.clone(),
                lead_id: l.lead_id.clone(),
                linked_at: now,
                unlinked: 1,
                version: clock::version(),
            };
            insert_rows(
                self.store.as_ref(),
                "lead_visitors",
                &[unlink],
                &InsertOptions::default(),
            )
            .await?;
        }
        Ok(linked.into_iter().map(|l| l.lead_id).collect())
    }

    /// Decrypts a sealed field (for the authorised pull API and tests).
    pub fn open(&self, sealed: &str) -> Option<String> {
        self.sealer
            .open(sealed)
            .and_then(|b| String::from_utf8(b).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn emails_are_normalised_and_validated() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert!(Email::parse(bad).is_none(), "{bad}");
        }
    }
}
