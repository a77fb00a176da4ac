//! A lead's history: the visits of its linked visitor keys (marketing-consented visits only,
//! since only those carry a key), with first- and last-touch attribution, totals and the
//! pages it read most. Read from `sessions` (one folded row per visit) and `events`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Leads;
use crate::store::{fetch, Params, StoreError};

/// At most this many visits are read per lead (the timeline shows the latest 100).
pub const MAX_VISITS: usize = 1000;
const TIMELINE: usize = 100;

/// Where a visit came from.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Touch {
    pub source: String,
    pub referrer: String,
    pub channel: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
}

/// One visit of the lead.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Visit {
    pub start: u32,
    pub end: u32,
    pub pageviews: u64,
    pub entry_page: String,
    pub exit_page: String,
    pub country: String,
    pub device: String,
    pub browser: String,
    #[serde(flatten)]
    pub touch: Touch,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PageCount {
    pub page: String,
    pub pageviews: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct History {
    pub visits: usize,
    pub pageviews: u64,
    pub first_seen: Option<u32>,
    pub last_seen: Option<u32>,
    pub first_touch: Option<Touch>,
    pub last_touch: Option<Touch>,
    pub top_pages: Vec<PageCount>,
    /// The latest visits, newest first.
    pub timeline: Vec<Visit>,
}

fn direct(source: String) -> String {
    if source.is_empty() {
        "Direct / None".into()
    } else {
        source
    }
}

impl Leads {
    /// The visitor keys currently linked to a lead.
    async fn keys_of(&self, site: &str, lead_id: &str) -> Result<Vec<String>, StoreError> {
        #[derive(Deserialize)]
        struct Key {
            visitor_key: String,
        }
        let keys: Vec<Key> = fetch(
            self.store(),
            "SELECT visitor_key FROM lead_visitors FINAL
             WHERE site = {site:String} AND lead_id = {id:String} AND unlinked = 0",
            &Params::new().with("site", site).with("id", lead_id),
        )
        .await?;
        Ok(keys.into_iter().map(|k| k.visitor_key).collect())
    }

    pub async fn history(&self, site: &str, lead_id: &str) -> Result<History, StoreError> {
        let keys = self.keys_of(site, lead_id).await?;
        let mut visits: Vec<Visit> = if keys.is_empty() {
            Vec::new()
        } else {
            fetch(
                self.store(),
                "SELECT toUnixTimestamp(start) AS start, toUnixTimestamp(end) AS end, pageviews, entry_page,
                        exit.2 AS exit_page, country_code AS country, device, browser,
                        if(referrer_source = '', 'Direct / None', referrer_source) AS source, referrer, channel,
                        utm_source, utm_medium, utm_campaign
                 FROM sessions FINAL
                 WHERE site = {site:String} AND visitor_key IN {keys:Array(String)}
                 ORDER BY start LIMIT {max:UInt32}",
                &Params::new()
                    .with("site", site)
                    .with("keys", &keys)
                    .with("max", MAX_VISITS as u32),
            )
            .await?
        };
        let top_pages: Vec<PageCount> = if keys.is_empty() {
            Vec::new()
        } else {
            fetch(
                self.store(),
                "SELECT pathname AS page, count() AS pageviews FROM events
                 WHERE site = {site:String} AND visitor_key IN {keys:Array(String)} AND name = 'pageview'
                 GROUP BY page ORDER BY pageviews DESC, page LIMIT 10",
                &Params::new().with("site", site).with("keys", &keys),
            )
            .await?
        };
        let history = History {
            visits: visits.len(),
            pageviews: visits.iter().map(|v| v.pageviews).sum(),
            first_seen: visits.first().map(|v| v.start),
            last_seen: visits.iter().map(|v| v.end).max(),
            first_touch: visits.first().map(|v| v.touch.clone()),
            last_touch: visits.last().map(|v| v.touch.clone()),
            top_pages,
            timeline: Vec::new(),
        };
        visits.reverse();
        visits.truncate(TIMELINE);
        Ok(History {
            timeline: visits,
            ..history
        })
    }

    /// Each lead's first-touch source (for the CRM export's LeadSource).
    pub async fn first_sources(&self, site: &str) -> Result<HashMap<String, String>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            lead_id: String,
            source: String,
        }
        let rows: Vec<Row> = fetch(
            self.store(),
            "SELECT l.lead_id AS lead_id, argMin(s.referrer_source, s.start) AS source
             FROM (SELECT visitor_key, start, referrer_source FROM sessions FINAL
                   WHERE site = {site:String} AND visitor_key != '') AS s
             INNER JOIN (SELECT visitor_key, lead_id FROM lead_visitors FINAL
                         WHERE site = {site:String} AND unlinked = 0) AS l ON s.visitor_key = l.visitor_key
             GROUP BY l.lead_id",
            &Params::new().with("site", site),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.lead_id, direct(r.source)))
            .collect())
    }
}
