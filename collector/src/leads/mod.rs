//! Leads: visitors who gave marketing consent and handed over contact details. Contact details
//! are encrypted at rest (AES-256-GCM, ring) with a key derived from the server secret; a keyed
//! hash of the normalised email finds a lead again (and erases it) without storing the email
//! in the clear. The visitor key of the snippet's first-party id is linked to the lead, so its
//! earlier marketing-consented visits become the lead's history.

pub mod seal;

use std::sync::Arc;

use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::privacy::keys::Keys;
use crate::store::{fetch, insert_rows, InsertOptions, Params, Store, StoreError};
use seal::Sealer;

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
struct LeadRow {
    id: String,
    site: String,
    email_hash: String,
    email_enc: String,
    name_enc: String,
    company_enc: String,
    status: String,
    consent_at: u32,
    consent_page: String,
    created_at: u32,
    version: u64,
}

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
    pub page: String,
}

pub struct Leads {
    store: Arc<dyn Store>,
    keys: Arc<Keys>,
    sealer: Sealer,
}

impl Leads {
    pub fn new(store: Arc<dyn Store>, keys: Arc<Keys>) -> Leads {
        let sealer = Sealer::new(&keys.aead_key("lead-contact"));
        Leads {
            store,
            keys,
            sealer,
        }
    }

    fn email_hash(&self, site: &str, email: &Email) -> String {
        let k = self.keys.derive(&format!("email-hash/{site}"));
        hex::encode(hmac::sign(&k, email.as_str().as_bytes()).as_ref())
    }

    async fn current(&self, site: &str, email_hash: &str) -> Result<Option<LeadRow>, StoreError> {
        let rows: Vec<LeadRow> = fetch(
            self.store.as_ref(),
            "SELECT id, site, email_hash, email_enc, name_enc, company_enc, status,
                    toUnixTimestamp(consent_at) AS consent_at, consent_page, toUnixTimestamp(created_at) AS created_at, version
             FROM leads FINAL WHERE site = {site:String} AND email_hash = {h:String} AND status != 'erased' LIMIT 1",
            &Params::new().with("site", site).with("h", email_hash),
        )
        .await?;
        Ok(rows.into_iter().next())
    }

    /// Creates or updates the lead and links the visitor. Returns the lead id.
    pub async fn identify(&self, id: Identification<'_>) -> Result<String, StoreError> {
        let now = clock::unix_seconds();
        let hash = self.email_hash(id.site, &id.email);
        let existing = self.current(id.site, &hash).await?;
        let seal_opt = |v: &Option<String>, old: Option<&str>| match v {
            Some(s) if !s.trim().is_empty() => self
                .sealer
                .seal(s.trim().chars().take(200).collect::<String>().as_bytes()),
            _ => old.unwrap_or_default().to_string(),
        };
        let row = LeadRow {
            id: existing
                .as_ref()
                .map(|e| e.id.clone())
                .unwrap_or_else(|| hex::encode(self.sealer.random::<8>())),
            site: id.site.to_string(),
            email_hash: hash,
            email_enc: self.sealer.seal(id.email.as_str().as_bytes()),
            name_enc: seal_opt(&id.name, existing.as_ref().map(|e| e.name_enc.as_str())),
            company_enc: seal_opt(
                &id.company,
                existing.as_ref().map(|e| e.company_enc.as_str()),
            ),
            // Identifying again with consent re-activates a lead that had opted out.
            status: "active".into(),
            consent_at: now,
            consent_page: id.page.chars().take(512).collect(),
            created_at: existing.as_ref().map(|e| e.created_at).unwrap_or(now),
            version: clock::version(),
        };
        insert_rows(
            self.store.as_ref(),
            "leads",
            std::slice::from_ref(&row),
            &InsertOptions::default(),
        )
        .await?;
        let link = LinkRow {
            site: id.site.to_string(),
            visitor_key: self.keys.visitor_key(id.site, id.vid),
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
        Ok(row.id)
    }

    /// Marketing consent withdrawn: the visitor is unlinked and its leads become `opted_out`.
    /// Returns how many leads changed.
    pub async fn opt_out(&self, site: &str, vid: &str) -> Result<usize, StoreError> {
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
                    "INSERT INTO leads SELECT id, site, email_hash, email_enc, name_enc, company_enc, 'opted_out', consent_at,
                            consent_page, created_at, now64(3), {v:UInt64}
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
        Ok(linked.len())
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
