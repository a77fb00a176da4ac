//! Erasure (GDPR Art. 17): a lead's contact details, email hash and visitor keys are removed
//! from every table, and its events and visits lose the key that tied them to the person.
//! What stays is a tombstone (id, site, status `erased`, time) so CRM sync jobs and webhook
//! receivers learn about it. Old row versions are removed with synchronous mutations, not
//! merely superseded, so nothing is left for a later merge to forget.

use serde::Deserialize;

use super::{Email, LeadRow, Leads, LEAD_COLUMNS};
use crate::clock;
use crate::store::{fetch, insert_rows, InsertOptions, Params, StoreError};

/// Who to erase.
pub enum Subject<'a> {
    Email {
        site: &'a str,
        email: Email,
    },
    /// A lead already looked up: its site and id.
    Lead {
        site: &'a str,
        id: &'a str,
    },
}

/// Runs a mutation and waits until it is applied.
const SYNC: &str = " SETTINGS mutations_sync = 2";

impl Leads {
    /// Erases the subject's lead(s); returns (site, lead id) of each one erased.
    pub async fn erase(&self, subject: Subject<'_>) -> Result<Vec<(String, String)>, StoreError> {
        let _w = self.writes.lock().await;
        let targets: Vec<(String, String)> = match subject {
            Subject::Email { site, email } => {
                let hash = self.email_hash(site, &email);
                let rows: Vec<LeadRow> = fetch(
                    self.store(),
                    &format!("SELECT {LEAD_COLUMNS} FROM leads FINAL WHERE site = {{site:String}} AND email_hash = {{h:String}}"),
                    &Params::new().with("site", site).with("h", &hash),
                )
                .await?;
                rows.into_iter().map(|r| (r.site, r.id)).collect()
            }
            Subject::Lead { site, id } => vec![(site.to_string(), id.to_string())],
        };
        for (site, id) in &targets {
            self.erase_one(site, id).await?;
        }
        Ok(targets)
    }

    async fn erase_one(&self, site: &str, id: &str) -> Result<(), StoreError> {
        #[derive(Deserialize)]
        struct Key {
            visitor_key: String,
        }
        // Every key ever linked, unlinked ones included.
        let keys: Vec<String> = fetch::<Key>(
            self.store(),
            "SELECT DISTINCT visitor_key FROM lead_visitors WHERE site = {site:String} AND lead_id = {id:String}",
            &Params::new().with("site", site).with("id", id),
        )
        .await?
        .into_iter()
        .map(|k| k.visitor_key)
        .collect();
        let created: Vec<LeadRow> = fetch(
            self.store(),
            &format!("SELECT {LEAD_COLUMNS} FROM leads FINAL WHERE site = {{site:String}} AND id = {{id:String}}"),
            &Params::new().with("site", site).with("id", id),
        )
        .await?;
        let version = clock::version();
        let tombstone = LeadRow {
            id: id.to_string(),
            site: site.to_string(),
            email_hash: String::new(),
            email_enc: String::new(),
            name_enc: String::new(),
            company_enc: String::new(),
            status: "erased".into(),
            consent_at: 0,
            consent_page: String::new(),
            consent_version: String::new(),
            created_at: created.first().map(|r| r.created_at).unwrap_or(0),
            frequency: String::new(),
            topics: Vec::new(),
            version,
        };
        insert_rows(
            self.store(),
            "leads",
            &[tombstone],
            &InsertOptions::default(),
        )
        .await?;
        // Outbox payloads are sealed: find the lead's events by opening them.
        let events = super::webhooks::outbox_events_of_lead(
            self.store(),
            &super::webhooks::payload_sealer(&self.keys),
            site,
            id,
        )
        .await?;
        let p = Params::new()
            .with("site", site)
            .with("id", id)
            .with("v", version)
            .with("keys", &keys)
            .with("events", &events)
            .with("needle", format!("\"id\":\"{id}\""));
        for sql in [
            "ALTER TABLE leads DELETE WHERE site = {site:String} AND id = {id:String} AND version < {v:UInt64}",
            "ALTER TABLE lead_visitors DELETE WHERE site = {site:String} AND lead_id = {id:String}",
            // Privacy-center links and mails (sealed, or blanked once sent) about the lead.
            "ALTER TABLE privacy_links DELETE WHERE site = {site:String} AND lead_id = {id:String}",
            "ALTER TABLE mail_outbox DELETE WHERE site = {site:String} AND lead_id = {id:String}",
            // Earlier webhook payloads carried the contact details (sealed; in the clear when
            // an earlier version wrote them and no collector has sealed them since).
            "ALTER TABLE webhook_outbox DELETE WHERE site = {site:String}
             AND (has({events:Array(String)}, event_id) OR (startsWith(payload, '{') AND position(payload, {needle:String}) > 0))",
        ] {
            self.store().execute(&format!("{sql}{SYNC}"), &p).await?;
        }
        if !keys.is_empty() {
            for sql in [
                "ALTER TABLE events UPDATE visitor_key = '' WHERE site = {site:String} AND visitor_key IN {keys:Array(String)}",
                "ALTER TABLE sessions UPDATE visitor_key = '' WHERE site = {site:String} AND visitor_key IN {keys:Array(String)}",
            ] {
                self.store().execute(&format!("{sql}{SYNC}"), &p).await?;
            }
        }
        Ok(())
    }
}
