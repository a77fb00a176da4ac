//! The person's side of a lead, for the privacy center: single-use sign-in links sent by
//! email, a short signed session, and the changes a person may make to their own lead —
//! name and company, contact preferences, withdrawing marketing consent. Every change is a
//! new lead version, so the pull API, the CSV and webhooks carry it to the CRM.
//!
//! Nothing here is ever reached with a browser id alone: a session exists only after a link
//! sent to the lead's address was opened.

use std::collections::HashSet;

use ring::hmac;
use serde::{Deserialize, Serialize};

use super::{Email, LeadRow, Leads, LEAD_COLUMNS};
use crate::clock;
use crate::store::{fetch, insert_rows, InsertOptions, Params, StoreError};

/// How long a sign-in link may be opened.
pub const LINK_TTL_MS: u64 = 15 * 60 * 1000;
/// How long a privacy-center session lasts once a link was opened.
pub const SESSION_TTL_SECS: u64 = 30 * 60;
/// `lead_visitors.unlinked` of a key the person withdrew in the privacy center: the browser
/// behind it is treated as analytics-only from then on (`WithdrawnKeys`).
pub const WITHDRAWN: u8 = 2;

/// The contact preferences a person chose (the values the site offers).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Preferences {
    /// How often they want to hear from the site; empty: not chosen.
    pub frequency: String,
    pub topics: Vec<String>,
}

/// What a site holds about a person, as the person sees it (and downloads it).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PersonalRecord {
    pub site: String,
    pub lead_id: String,
    /// `active`, or `opted_out` after withdrawing marketing consent.
    pub status: String,
    pub email: String,
    pub name: String,
    pub company: String,
    pub consent_at: u32,
    pub consent_version: String,
    pub consent_page: String,
    pub created_at: u32,
    pub preferences: Preferences,
    pub first_seen: Option<u32>,
    pub last_seen: Option<u32>,
    pub visits_linked: u64,
    pub pageviews_linked: u64,
}

#[derive(Serialize, Deserialize)]
struct LinkRow {
    token_hash: String,
    site: String,
    lead_id: String,
    expires_at: u32,
    used: u8,
    version: u64,
}

/// A signed-in person: the lead of one site, until `expires` (unix seconds).
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub site: String,
    pub lead_id: String,
    pub expires: u64,
}

fn sha256_hex(s: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()).as_ref())
}

fn valid_token(t: &str) -> bool {
    t.len() == 43
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Leads {
    /// The lead of an address on a site, unless erased.
    pub async fn find(&self, site: &str, email: &Email) -> Result<Option<String>, StoreError> {
        let hash = self.email_hash(site, email);
        Ok(self.current(site, &hash).await?.map(|r| r.id))
    }

    /// A new sign-in link for a lead: the token to put in the mail (only its SHA-256 is
    /// stored) and when it expires (unix ms).
    pub async fn create_link(
        &self,
        site: &str,
        lead_id: &str,
        now_ms: u64,
    ) -> Result<(String, u64), StoreError> {
        use base64::Engine as _;
        let token =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.sealer.random::<32>());
        let expires = now_ms + LINK_TTL_MS;
        let row = LinkRow {
            token_hash: sha256_hex(&token),
            site: site.into(),
            lead_id: lead_id.into(),
            expires_at: (expires / 1000) as u32,
            used: 0,
            version: clock::version(),
        };
        insert_rows(
            self.store(),
            "privacy_links",
            &[row],
            &InsertOptions::default(),
        )
        .await?;
        Ok((token, expires))
    }

    async fn link(&self, token: &str) -> Result<Option<LinkRow>, StoreError> {
        if !valid_token(token) {
            return Ok(None);
        }
        let rows: Vec<LinkRow> = fetch(
            self.store(),
            "SELECT token_hash, site, lead_id, toUnixTimestamp(expires_at) AS expires_at, used, version
             FROM privacy_links FINAL WHERE token_hash = {h:String} LIMIT 1",
            &Params::new().with("h", sha256_hex(token)),
        )
        .await?;
        Ok(rows.into_iter().next())
    }

    /// The (site, lead) of a link that may still be opened, without using it up.
    pub async fn peek_link(
        &self,
        token: &str,
        now_secs: u32,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(self
            .link(token)
            .await?
            .filter(|l| l.used == 0 && now_secs < l.expires_at)
            .map(|l| (l.site, l.lead_id)))
    }

    /// Uses a link up: the (site, lead) it opens, once. Serialised with the lead writes, so
    /// two requests with one link cannot both succeed on one collector.
    pub async fn consume_link(
        &self,
        token: &str,
        now_secs: u32,
    ) -> Result<Option<(String, String)>, StoreError> {
        let _w = self.writes.lock().await;
        let Some(mut l) = self
            .link(token)
            .await?
            .filter(|l| l.used == 0 && now_secs < l.expires_at)
        else {
            return Ok(None);
        };
        l.used = 1;
        l.version = clock::version();
        let out = (l.site.clone(), l.lead_id.clone());
        insert_rows(
            self.store(),
            "privacy_links",
            &[l],
            &InsertOptions::default(),
        )
        .await?;
        Ok(Some(out))
    }

    fn session_key(&self) -> hmac::Key {
        self.keys.derive("privacy-center-session")
    }

    /// The cookie value of a session: `site.lead.expires.signature`.
    pub fn session_cookie(&self, s: &Session) -> String {
        let body = format!("{}.{}.{}", hex::encode(&s.site), s.lead_id, s.expires);
        let tag = hmac::sign(&self.session_key(), body.as_bytes());
        format!("{body}.{}", hex::encode(tag.as_ref()))
    }

    /// The session of a cookie value, if it is ours and has not expired.
    pub fn open_session(&self, cookie: &str, now_secs: u64) -> Option<Session> {
        let (body, tag) = cookie.rsplit_once('.')?;
        hmac::verify(
            &self.session_key(),
            body.as_bytes(),
            &hex::decode(tag).ok()?,
        )
        .ok()?;
        let mut parts = body.splitn(3, '.');
        let site = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
        let lead_id = parts.next()?.to_string();
        let expires: u64 = parts.next()?.parse().ok()?;
        (now_secs < expires).then_some(Session {
            site,
            lead_id,
            expires,
        })
    }

    /// A token binding a form to its session (the center's forms carry it).
    pub fn form_token(&self, cookie: &str) -> String {
        let k = self.keys.derive("privacy-center-form");
        hex::encode(&hmac::sign(&k, cookie.as_bytes()).as_ref()[..16])
    }

    async fn row(&self, site: &str, id: &str) -> Result<Option<LeadRow>, StoreError> {
        let rows: Vec<LeadRow> = fetch(
            self.store(),
            &format!(
                "SELECT {LEAD_COLUMNS} FROM leads FINAL
                 WHERE site = {{site:String}} AND id = {{id:String}} AND status != 'erased' LIMIT 1"
            ),
            &Params::new().with("site", site).with("id", id),
        )
        .await?;
        Ok(rows.into_iter().next())
    }

    /// Writes a changed copy of the lead as a new version; false when it is gone.
    async fn rewrite(
        &self,
        site: &str,
        id: &str,
        change: impl FnOnce(&mut LeadRow),
    ) -> Result<bool, StoreError> {
        let _w = self.writes.lock().await;
        let Some(mut row) = self.row(site, id).await? else {
            return Ok(false);
        };
        change(&mut row);
        row.version = clock::version();
        insert_rows(self.store(), "leads", &[row], &InsertOptions::default()).await?;
        Ok(true)
    }

    /// What the site holds about the lead, decrypted for the person themselves.
    pub async fn personal_record(
        &self,
        site: &str,
        id: &str,
        scoring: &crate::sites::scoring::Scoring,
    ) -> Result<Option<PersonalRecord>, StoreError> {
        let Some(r) = self.row(site, id).await? else {
            return Ok(None);
        };
        let summary = self
            .summaries(site, Some(&[id.to_string()]), scoring)
            .await?
            .remove(id)
            .unwrap_or_default();
        let open = |v: &str| self.open(v).unwrap_or_default();
        Ok(Some(PersonalRecord {
            site: r.site.clone(),
            lead_id: r.id.clone(),
            status: r.status.clone(),
            email: open(&r.email_enc),
            name: open(&r.name_enc),
            company: open(&r.company_enc),
            consent_at: r.consent_at,
            consent_version: r.consent_version.clone(),
            consent_page: r.consent_page.clone(),
            created_at: r.created_at,
            preferences: Preferences {
                frequency: r.frequency.clone(),
                topics: r.topics.clone(),
            },
            first_seen: summary.first_seen,
            last_seen: summary.last_seen,
            visits_linked: summary.visits,
            pageviews_linked: summary.pageviews,
        }))
    }

    /// The person corrects their name and company (empty clears).
    pub async fn update_contact(
        &self,
        site: &str,
        id: &str,
        name: &str,
        company: &str,
    ) -> Result<bool, StoreError> {
        let seal = |v: &str| {
            let v: String = v.trim().chars().take(200).collect();
            if v.is_empty() {
                String::new()
            } else {
                self.sealer.seal(v.as_bytes())
            }
        };
        let (name_enc, company_enc) = (seal(name), seal(company));
        self.rewrite(site, id, |r| {
            r.name_enc = name_enc;
            r.company_enc = company_enc;
        })
        .await
    }

    /// The person's contact preferences (validated against the site's choices by the caller).
    pub async fn set_preferences(
        &self,
        site: &str,
        id: &str,
        prefs: &Preferences,
    ) -> Result<bool, StoreError> {
        let prefs = prefs.clone();
        self.rewrite(site, id, |r| {
            r.frequency = prefs.frequency;
            r.topics = prefs.topics;
        })
        .await
    }

    /// The person withdraws marketing consent: the lead becomes `opted_out` (a tombstone in the
    /// pull API) and every browser linked to it is unlinked and from then on analytics-only.
    pub async fn withdraw(&self, site: &str, id: &str) -> Result<bool, StoreError> {
        #[derive(Deserialize)]
        struct Key {
            visitor_key: String,
        }
        let keys: Vec<String> = fetch::<Key>(
            self.store(),
            "SELECT visitor_key FROM lead_visitors FINAL
             WHERE site = {site:String} AND lead_id = {id:String} AND unlinked = 0",
            &Params::new().with("site", site).with("id", id),
        )
        .await?
        .into_iter()
        .map(|k| k.visitor_key)
        .collect();
        let changed = self
            .rewrite(site, id, |r| r.status = "opted_out".into())
            .await?;
        if !changed {
            return Ok(false);
        }
        let now = clock::unix_seconds();
        let rows: Vec<super::LinkRow> = keys
            .iter()
            .map(|k| super::LinkRow {
                site: site.into(),
                visitor_key: k.clone(),
                lead_id: id.into(),
                linked_at: now,
                unlinked: WITHDRAWN,
                version: clock::version(),
            })
            .collect();
        if !rows.is_empty() {
            insert_rows(
                self.store(),
                "lead_visitors",
                &rows,
                &InsertOptions::default(),
            )
            .await?;
        }
        self.withdrawn.insert(keys);
        Ok(true)
    }

    /// Reloads the withdrawn browser keys (changes made through another collector).
    pub async fn refresh_withdrawn(&self) -> Result<(), StoreError> {
        #[derive(Deserialize)]
        struct Key {
            visitor_key: String,
        }
        let keys: HashSet<String> = fetch::<Key>(
            self.store(),
            "SELECT visitor_key FROM lead_visitors FINAL WHERE unlinked = {w:UInt8}",
            &Params::new().with("w", WITHDRAWN),
        )
        .await?
        .into_iter()
        .map(|k| k.visitor_key)
        .collect();
        self.withdrawn.replace(keys);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_one_shape() {
        assert!(valid_token(&"a".repeat(43)));
        assert!(!valid_token(&"a".repeat(42)));
        assert!(!valid_token(&format!("{}'", "a".repeat(42))));
    }
}
