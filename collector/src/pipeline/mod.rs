//! The ingestion pipeline: a beacon passes named steps — drop rules, enrich, hash, session,
//! spool — each a small function that returns the event or a `DropReason`, each counted and
//! timed in `/metrics`. Read `Pipeline::ingest` to see the whole path in one screen.

pub mod batcher;
pub mod record;
pub mod row;
pub mod sessions;
pub mod spool;

pub use record::{
    split_record, Record, SpooledRows, EVENT_COLUMNS, EVENT_COLUMNS_V1, RECORD_EVENT,
    RECORD_ROWBINARY, RECORD_VERSIONED, SESSION_COLUMNS,
};
pub use row::EventRow;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};
use ring::hmac;

use crate::enrich::{self, AgentCache, Geo};
use crate::ingest::{self, Beacon};
use crate::metrics::Metrics;
use crate::privacy::keys::Keys;
use crate::privacy::salts::Salts;
use crate::sites::Site;
use sessions::{Attribution, Touch, Tracker};
use spool::{Spool, SpoolError};

/// Why an event was deliberately not stored (`X-Candor-Drop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    Dnt,
    Gpc,
    Bot,
    OptedOut,
    Excluded,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Dnt => "dnt",
            DropReason::Gpc => "gpc",
            DropReason::Bot => "bot",
            DropReason::OptedOut => "opted-out",
            DropReason::Excluded => "excluded",
        }
    }
}

/// The request facts the pipeline may use. The IP and user agent live only here, in memory.
pub struct Visit<'a> {
    pub ip: IpAddr,
    pub user_agent: &'a str,
    pub dnt: bool,
    pub gpc: bool,
    pub now_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("today's visitor-id salt is not loaded yet")]
    NoSalt,
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
}

struct StepMetrics {
    dropped: IntCounterVec,
    accepted: IntCounter,
    // One histogram per step, looked up once here rather than by label on every event.
    drop_rules: Histogram,
    enrich: Histogram,
    hash: Histogram,
    session: Histogram,
    encode: Histogram,
    spool: Histogram,
}

pub struct Pipeline {
    pub spool: Spool,
    pub tracker: Tracker,
    salts: Arc<Salts>,
    keys: Arc<Keys>,
    geo: Geo,
    agents: AgentCache,
    client_limit: Option<DefaultKeyedRateLimiter<u64>>,
    site_limit: Option<DefaultKeyedRateLimiter<String>>,
    /// Per-process key for rate-limit buckets: clients are keyed by a hash, never the raw IP.
    limiter_key: hmac::Key,
    metrics: StepMetrics,
}

pub struct PipelineConfig {
    pub rate_limit_per_minute: u32,
    pub site_rate_limit_per_minute: u32,
}

impl Pipeline {
    pub fn new(
        spool: Spool,
        salts: Arc<Salts>,
        keys: Arc<Keys>,
        geo: Geo,
        config: PipelineConfig,
        metrics: &Metrics,
    ) -> Pipeline {
        enrich::warm_up();
        let limiter = |per_minute: u32| {
            NonZeroU32::new(per_minute).map(|n| Quota::per_minute(n).allow_burst(n))
        };
        let seconds = HistogramVec::new(
            HistogramOpts::new("ingest_step_seconds", "time spent in each ingestion step").buckets(
                vec![
                    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001,
                    0.005, 0.025, 0.1, 0.5,
                ],
            ),
            &["step"],
        )
        .expect("static metric");
        let step = StepMetrics {
            drop_rules: seconds.with_label_values(&["drop_rules"]),
            enrich: seconds.with_label_values(&["enrich"]),
            hash: seconds.with_label_values(&["hash"]),
            session: seconds.with_label_values(&["session"]),
            encode: seconds.with_label_values(&["encode"]),
            spool: seconds.with_label_values(&["spool"]),
            dropped: IntCounterVec::new(
                Opts::new(
                    "ingest_dropped_total",
                    "events deliberately not stored, by reason",
                ),
                &["reason"],
            )
            .expect("static metric"),
            accepted: IntCounter::new("ingest_accepted_total", "events written to the spool")
                .expect("static metric"),
        };
        metrics.register(Box::new(seconds));
        metrics.register(Box::new(step.dropped.clone()));
        metrics.register(Box::new(step.accepted.clone()));
        let mut key = [0u8; 32];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key);
        Pipeline {
            spool,
            tracker: Tracker::new(),
            salts,
            keys,
            geo,
            agents: AgentCache::new(20_000),
            client_limit: limiter(config.rate_limit_per_minute).map(RateLimiter::keyed),
            site_limit: limiter(config.site_rate_limit_per_minute).map(RateLimiter::keyed),
            limiter_key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            metrics: step,
        }
    }

    /// The organisation of an address (ASN/ISP database), empty when unknown or not configured.
    pub fn organisation(&self, ip: IpAddr) -> String {
        self.geo.organisation(ip)
    }

    pub fn salts(&self) -> &Salts {
        &self.salts
    }

    fn timed<T>(step: &Histogram, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        step.observe(started.elapsed().as_secs_f64());
        out
    }

    /// Per-client and per-site limits. Clients are keyed by a keyed hash of their address.
    pub fn check_rate(&self, site: &str, ip: IpAddr) -> Result<(), IngestError> {
        use governor::clock::{Clock, DefaultClock};
        let retry = |not_until: governor::NotUntil<governor::clock::QuantaInstant>| {
            IngestError::RateLimited {
                retry_after_secs: not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs()
                    .max(1),
            }
        };
        if let Some(l) = &self.client_limit {
            let tag = match ip {
                IpAddr::V4(v) => hmac::sign(&self.limiter_key, &v.octets()),
                IpAddr::V6(v) => hmac::sign(&self.limiter_key, &v.octets()),
            };
            let key = u64::from_be_bytes(tag.as_ref()[..8].try_into().expect("8 bytes"));
            l.check_key(&key).map_err(retry)?;
        }
        if let Some(l) = &self.site_limit {
            l.check_key(&site.to_string()).map_err(retry)?;
        }
        Ok(())
    }

    /// Drops the rate-limit state of clients and sites that are back to a full allowance, so
    /// the limiters hold only recently active keys however many addresses have called.
    pub fn forget_idle_clients(&self) {
        if let Some(l) = &self.client_limit {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.site_limit {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// The number of clients the per-client limiter remembers.
    pub fn remembered_clients(&self) -> usize {
        self.client_limit.as_ref().map_or(0, |l| l.len())
    }

    /// The whole ingestion path. `Ok(None)` means stored; `Ok(Some(reason))` deliberately not.
    pub async fn ingest(
        &self,
        beacon: Beacon,
        site: &Site,
        visit: &Visit<'_>,
    ) -> Result<Option<DropReason>, IngestError> {
        let agent = self.agents.get(visit.user_agent);
        if let Some(reason) = Self::timed(&self.metrics.drop_rules, || {
            drop_rules(&beacon, site, visit, agent.is_bot)
        }) {
            self.metrics
                .dropped
                .with_label_values(&[reason.as_str()])
                .inc();
            return Ok(Some(reason));
        }
        let mut row = Self::timed(&self.metrics.enrich, || enrich(&beacon, site, visit));
        Self::timed(&self.metrics.hash, || self.hash(&mut row, &beacon, visit))?;
        let record = Self::timed(&self.metrics.session, || {
            self.session(row, || attribute(&beacon, visit, &agent, &self.geo))
        });
        let payload = Self::timed(&self.metrics.encode, || record.encode());
        let started = Instant::now();
        self.spool.append(payload).await?;
        self.metrics.spool.observe(started.elapsed().as_secs_f64());
        self.metrics.accepted.inc();
        Ok(None)
    }

    fn hash(
        &self,
        row: &mut EventRow,
        beacon: &Beacon,
        visit: &Visit<'_>,
    ) -> Result<(), IngestError> {
        let day = (visit.now_ms / 86_400_000) as i64;
        row.visitor_id = self
            .salts
            .visitor_id(day, &row.site, visit.ip, visit.user_agent)
            .ok_or(IngestError::NoSalt)?;
        if let Some(vid) = &beacon.vid {
            row.visitor_key = self.keys.visitor_key(&row.site, vid);
        }
        Ok(())
    }

    /// Step: assigns the event to its visit. The event then carries the visit's first-touch
    /// attributes (source, UTM, location, device), as the session row does, so reports
    /// filter and group events by visit properties without a join. Only the hostname stays
    /// the event's own. `first_touch` runs only for an event that starts a visit.
    fn session(&self, mut row: EventRow, first_touch: impl FnOnce() -> Attribution) -> Record {
        let mut delta = self.tracker.touch(
            Touch {
                site: &row.site,
                visitor_id: row.visitor_id,
                at: row.timestamp,
                is_pageview: row.name == "pageview",
                pathname: &row.pathname,
            },
            first_touch,
        );
        row.attribution = delta.attribution.clone();
        row.session_id = delta.session_id;
        delta.engaged_ms = u64::from(row.engaged_ms);
        Record {
            event: row,
            session: delta,
        }
    }
}

/// Step: DNT, GPC, bots, the site's exclusions.
fn drop_rules(beacon: &Beacon, site: &Site, visit: &Visit<'_>, is_bot: bool) -> Option<DropReason> {
    if visit.dnt {
        return Some(DropReason::Dnt);
    }
    if visit.gpc {
        return Some(DropReason::Gpc);
    }
    if is_bot {
        return Some(DropReason::Bot);
    }
    if !site.exclude_paths.is_empty() {
        let path = ingest::pathname(&beacon.url, beacon.hash_mode);
        if site.exclude_paths.iter().any(|p| glob_match(p, &path)) {
            return Some(DropReason::Excluded);
        }
    }
    if site.exclude_ips.iter().any(|net| net.contains(&visit.ip)) {
        return Some(DropReason::Excluded);
    }
    None
}

/// `*` matches any run of characters; everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first)
        || !text[first.len()..].ends_with(last)
        || text.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Step: the event's own facts (time, host, path, properties). The visit's attributes come
/// from `attribute`, once per visit.
fn enrich(beacon: &Beacon, site: &Site, visit: &Visit<'_>) -> EventRow {
    EventRow {
        event_id: uuid::Uuid::new_v4(),
        timestamp: (visit.now_ms / 1000) as u32,
        site: beacon.site.to_string(),
        name: beacon.name.clone(),
        hostname: ingest::hostname(&beacon.url),
        pathname: ingest::pathname(&beacon.url, beacon.hash_mode),
        attribution: Arc::default(),
        screen_width: beacon.screen_width.unwrap_or(0),
        visitor_id: 0,
        session_id: 0,
        visitor_key: String::new(),
        consent: beacon.consent.as_str(),
        engaged_ms: beacon.engaged_ms.unwrap_or(0),
        props: beacon.props.clone(),
        retention_days: site.retention_days,
    }
}

/// Step (first event of a visit): user agent, referrer source and channel, UTM, geo and
/// organisation — the visit's first-touch attributes.
fn attribute(beacon: &Beacon, visit: &Visit<'_>, agent: &enrich::Agent, geo: &Geo) -> Attribution {
    let hostname = ingest::hostname(&beacon.url);
    let utm = enrich::referrer::utm(&beacon.url);
    let source = enrich::referrer::classify(beacon.referrer.as_deref(), &hostname, &utm);
    let location = geo.locate(visit.ip);
    let (org, org_type) = geo.organisation_and_kind(visit.ip);
    let device = match beacon.screen_width {
        // Screen width is what the visitor actually sees; Plausible's breakpoints.
        Some(w) if w > 0 && w < 576 => "mobile",
        Some(w) if (576..992).contains(&w) => "tablet",
        Some(w) if w >= 992 => "desktop",
        _ => agent.device,
    };
    Attribution {
        hostname,
        referrer: source.referrer,
        referrer_source: source.name,
        channel: source.channel.to_string(),
        utm_source: utm.source,
        utm_medium: utm.medium,
        utm_campaign: utm.campaign,
        utm_content: utm.content,
        utm_term: utm.term,
        country_code: location.country_code,
        region: location.region,
        city: location.city,
        org,
        org_type,
        browser: agent.browser.clone(),
        browser_version: agent.browser_version.clone(),
        os: agent.os.clone(),
        os_version: agent.os_version.clone(),
        device: device.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_paths() {
        assert!(glob_match("/admin/*", "/admin/users"));
        assert!(glob_match("/admin*", "/admin"));
        assert!(!glob_match("/admin/*", "/blog/admin/x"));
        assert!(glob_match("*/preview", "/posts/1/preview"));
        assert!(glob_match("/a/*/c", "/a/b/c"));
        assert!(!glob_match("/a/*/c", "/a/b/d"));
        assert!(glob_match("/exact", "/exact"));
        assert!(!glob_match("/exact", "/exact/more"));
    }
}
