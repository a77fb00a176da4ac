//! A lead's history: the visits of its linked visitor keys (marketing-consented visits only,
//! since only those carry a key), with first- and last-touch attribution, totals and the
//! pages it read most. Read from `sessions` (one folded row per visit) and `events`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Leads;
use crate::sites::scoring::Scoring;
use crate::store::{fetch, Params, StoreError};

/// How many of a lead's latest visits the timeline shows.
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

/// A lead's totals, first-touch source and score.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Summary {
    pub visits: u64,
    pub pageviews: u64,
    pub first_seen: Option<u32>,
    pub last_seen: Option<u32>,
    pub lead_source: String,
    pub score: f64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct History {
    /// Points from visits and page views under the site's scoring rules, decayed by age.
    pub score: f64,
    pub visits: u64,
    pub pageviews: u64,
    pub first_seen: Option<u32>,
    pub last_seen: Option<u32>,
    pub first_touch: Option<Touch>,
    pub last_touch: Option<Touch>,
    pub top_pages: Vec<PageCount>,
    /// The latest visits, newest first.
    pub timeline: Vec<Visit>,
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

    /// Visits of these keys, oldest first, or with `latest` newest first; at most `limit`.
    async fn visits_of(
        &self,
        site: &str,
        keys: &[String],
        latest: bool,
        limit: usize,
    ) -> Result<Vec<Visit>, StoreError> {
        fetch(
            self.store(),
            "SELECT toUnixTimestamp(start) AS start, toUnixTimestamp(end) AS end, pageviews, entry_page,
                    exit.2 AS exit_page, country_code AS country, device, browser,
                    if(referrer_source = '', 'Direct / None', referrer_source) AS source, referrer, channel,
                    utm_source, utm_medium, utm_campaign
             FROM sessions FINAL
             WHERE site = {site:String} AND visitor_key IN {keys:Array(String)}
             ORDER BY toInt64(toUnixTimestamp(start)) * if({latest:UInt8} = 1, -1, 1) LIMIT {limit:UInt32}",
            &Params::new()
                .with("site", site)
                .with("keys", keys)
                .with("latest", u8::from(latest))
                .with("limit", limit as u32),
        )
        .await
    }

    /// The lead's history. Totals and score come from `summaries`, as in the pull API and
    /// the CSV export; the first visit and the latest `TIMELINE` visits are read for the
    /// touches and the timeline.
    pub async fn history(
        &self,
        site: &str,
        lead_id: &str,
        scoring: &Scoring,
    ) -> Result<History, StoreError> {
        let keys = self.keys_of(site, lead_id).await?;
        if keys.is_empty() {
            return Ok(History::default());
        }
        let first = self.visits_of(site, &keys, false, 1).await?;
        let timeline = self.visits_of(site, &keys, true, TIMELINE).await?;
        let top_pages: Vec<PageCount> = fetch(
            self.store(),
            "SELECT pathname AS page, count() AS pageviews FROM events
             WHERE site = {site:String} AND visitor_key IN {keys:Array(String)} AND name = 'pageview'
             GROUP BY page ORDER BY pageviews DESC, page LIMIT 10",
            &Params::new().with("site", site).with("keys", &keys),
        )
        .await?;
        let summary = self
            .summaries(site, Some(&[lead_id.to_string()]), scoring)
            .await?
            .remove(lead_id)
            .unwrap_or_default();
        Ok(History {
            score: summary.score,
            visits: summary.visits,
            pageviews: summary.pageviews,
            first_seen: summary.first_seen,
            last_seen: summary.last_seen,
            first_touch: first.into_iter().next().map(|v| v.touch),
            last_touch: timeline.first().map(|v| v.touch.clone()),
            top_pages,
            timeline,
        })
    }

    /// Totals, first-touch source and score of a site's leads (all of them, or `ids`), from
    /// the visits and page views of their linked keys: two queries for any number of leads.
    pub async fn summaries(
        &self,
        site: &str,
        ids: Option<&[String]>,
        scoring: &Scoring,
    ) -> Result<HashMap<String, Summary>, StoreError> {
        #[derive(Deserialize)]
        struct VisitRow {
            lead_id: String,
            start: u32,
            end: u32,
            source: String,
        }
        #[derive(Deserialize)]
        struct PageRow {
            lead_id: String,
            t: u32,
            path: String,
        }
        let leads = "(SELECT visitor_key, lead_id FROM lead_visitors FINAL
                      WHERE site = {site:String} AND unlinked = 0 AND ({all:UInt8} = 1 OR has({ids:Array(String)}, lead_id))) AS l";
        let params = Params::new()
            .with("site", site)
            .with("all", u8::from(ids.is_none()))
            .with("ids", ids.unwrap_or_default());
        let visits: Vec<VisitRow> = fetch(
            self.store(),
            &format!(
                "SELECT l.lead_id AS lead_id, toUnixTimestamp(s.start) AS start, toUnixTimestamp(s.end) AS end,
                        if(s.referrer_source = '', 'Direct / None', s.referrer_source) AS source
                 FROM (SELECT visitor_key, start, end, referrer_source FROM sessions FINAL
                       WHERE site = {{site:String}} AND visitor_key != '') AS s
                 INNER JOIN {leads} ON s.visitor_key = l.visitor_key"
            ),
            &params,
        )
        .await?;
        let pages: Vec<PageRow> = fetch(
            self.store(),
            &format!(
                "SELECT l.lead_id AS lead_id, toUnixTimestamp(e.timestamp) AS t, e.pathname AS path
                 FROM (SELECT visitor_key, timestamp, pathname FROM events
                       WHERE site = {{site:String}} AND name = 'pageview' AND visitor_key != '') AS e
                 INNER JOIN {leads} ON e.visitor_key = l.visitor_key"
            ),
            &params,
        )
        .await?;
        let mut starts: HashMap<String, Vec<u32>> = HashMap::new();
        let mut views: HashMap<String, Vec<(u32, String)>> = HashMap::new();
        let mut out: HashMap<String, Summary> = HashMap::new();
        for v in visits {
            let s = out.entry(v.lead_id.clone()).or_default();
            s.visits += 1;
            if s.first_seen.is_none_or(|f| v.start < f) {
                s.first_seen = Some(v.start);
                s.lead_source = v.source;
            }
            s.last_seen = Some(s.last_seen.map_or(v.end, |l| l.max(v.end)));
            starts.entry(v.lead_id).or_default().push(v.start);
        }
        for p in pages {
            out.entry(p.lead_id.clone()).or_default().pageviews += 1;
            views.entry(p.lead_id).or_default().push((p.t, p.path));
        }
        let now = crate::clock::unix_seconds();
        for (id, s) in out.iter_mut() {
            s.score = scoring.score(
                now,
                starts.get(id).map(Vec::as_slice).unwrap_or_default(),
                views.get(id).map(Vec::as_slice).unwrap_or_default(),
            );
        }
        Ok(out)
    }
}
