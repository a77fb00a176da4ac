//! The ingestion pipeline: a beacon passes named steps — drop rules, enrich, hash, session,
//! spool — each a small function that returns the event or a `DropReason`, each counted and
//! timed in `/metrics`. Read `Pipeline::ingest` to see the whole path in one screen.

pub mod batcher;
pub mod sessions;
pub mod spool;

use std::collections::BTreeMap;
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
use crate::store::rowbinary::RowBinary;
use sessions::{Attribution, SessionDelta, Touch, Tracker};
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

/// One row of `events`, as spooled and inserted.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    pub event_id: uuid::Uuid,
    pub timestamp: u32,
    pub site: String,
    pub name: String,
    /// The event's own host; every other visit property comes from `attribution`.
    pub hostname: String,
    pub pathname: String,
    /// The visit's first-touch attributes (referrer, UTM, location, device), shared with the
    /// session: set by the session step.
    pub attribution: Arc<Attribution>,
    pub screen_width: u16,
    pub visitor_id: u64,
    pub session_id: u64,
    pub visitor_key: String,
    pub consent: &'static str,
    pub engaged_ms: u32,
    pub props: BTreeMap<String, String>,
    pub retention_days: u16,
}

/// What the spool holds per accepted event: its row and its session delta.
#[derive(Clone, Debug)]
pub struct Record {
    pub event: EventRow,
    pub session: SessionDelta,
}

/// The first byte of a spooled record in the current format: the `events` row alone, in
/// RowBinary (`EVENT_COLUMNS`), with the three columns from which the store derives the
/// session delta row itself (`SESSIONS_FROM_EVENTS` in `store::migrations`).
pub const RECORD_EVENT: u8 = 2;

/// The first byte of a record of the previous format: the `events` row (`EVENT_COLUMNS_V1`)
/// and the `sessions` delta row (`SESSION_COLUMNS`) in RowBinary. Records of the first format
/// start with `{` (two JSONEachRow lines). Both are still replayed after an upgrade.
pub const RECORD_ROWBINARY: u8 = 1;

macro_rules! event_columns_v1 {
    () => {
        "event_id, timestamp, site, name, hostname, pathname, referrer, referrer_source, \
channel, utm_source, utm_medium, utm_campaign, utm_content, utm_term, country_code, region, \
city, org, org_type, browser, browser_version, os, os_version, device, screen_width, \
visitor_id, session_id, visitor_key, consent, engaged_ms, props, retention_days"
    };
}

/// The `events` columns of a spooled record of the previous format, in order.
pub const EVENT_COLUMNS_V1: &str = event_columns_v1!();

/// The `events` columns of a spooled record, in order: the event, then its visit's start,
/// the page view's sequence in the visit (0 for other events) and the visit's hostname.
pub const EVENT_COLUMNS: &str = concat!(
    event_columns_v1!(),
    ", session_start, session_seq, session_hostname"
);

/// The `sessions` columns of a spooled record of the previous format, in order.
pub const SESSION_COLUMNS: &str = "site, day, session_id, visitor_id, start, end, pageviews, \
events, engaged_ms, entry_page, exit, visitor_key, hostname, referrer, referrer_source, \
channel, utm_source, utm_medium, utm_campaign, utm_content, utm_term, country_code, region, \
city, org, org_type, browser, browser_version, os, os_version, device, retention_days";

fn put_attribution(w: &mut RowBinary<'_>, a: &Attribution) {
    w.str(&a.referrer)
        .str(&a.referrer_source)
        .str(&a.channel)
        .str(&a.utm_source)
        .str(&a.utm_medium)
        .str(&a.utm_campaign)
        .str(&a.utm_content)
        .str(&a.utm_term)
        .str(&a.country_code)
        .str(&a.region)
        .str(&a.city)
        .str(&a.org)
        .str(&a.org_type)
        .str(&a.browser)
        .str(&a.browser_version)
        .str(&a.os)
        .str(&a.os_version)
        .str(&a.device);
}

impl Record {
    /// The spooled form: `RECORD_EVENT`, then the `events` row in RowBinary
    /// (`EVENT_COLUMNS`), so the batcher only concatenates bytes and the store reads them
    /// without parsing text. The store derives the session delta from the row, so one
    /// insert per batch feeds both tables.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(384);
        out.push(RECORD_EVENT);
        let w = &mut RowBinary(&mut out);
        self.put_event(w);
        w.datetime(self.session.start)
            .u32(self.session.exit.0)
            .str(&self.session.attribution.hostname);
        out
    }

    /// The previous spooled form (`RECORD_ROWBINARY`): the version byte, the length of the
    /// `events` row, then the `events` row (`EVENT_COLUMNS_V1`) and the `sessions` delta row
    /// (`SESSION_COLUMNS`). Candor no longer writes it; it is kept so the upgrade path (a
    /// spool of this format left on disk) stays tested.
    pub fn encode_v1(&self) -> Vec<u8> {
        let (e, s) = (&self.event, &self.session);
        let mut out = Vec::with_capacity(640);
        out.push(RECORD_ROWBINARY);
        out.extend_from_slice(&[0; 4]);
        let w = &mut RowBinary(&mut out);
        self.put_event(w);
        let event_len = (w.0.len() - 5) as u32;
        w.str(&e.site)
            .date((s.start / 86_400) as u16)
            .u64(s.session_id)
            .u64(e.visitor_id)
            .datetime(s.start)
            .datetime(s.end)
            .u64(s.pageviews)
            .u64(s.events)
            .u64(s.engaged_ms)
            .str(&s.entry_page)
            .u32(s.exit.0)
            .str(&s.exit.1)
            .str(&e.visitor_key)
            .str(&s.attribution.hostname);
        put_attribution(w, &s.attribution);
        w.u16(e.retention_days);
        out[1..5].copy_from_slice(&event_len.to_le_bytes());
        out
    }

    /// The `EVENT_COLUMNS_V1` part of the `events` row.
    fn put_event(&self, w: &mut RowBinary<'_>) {
        let e = &self.event;
        w.uuid(&e.event_id)
            .datetime(e.timestamp)
            .str(&e.site)
            .str(&e.name)
            .str(&e.hostname)
            .str(&e.pathname);
        put_attribution(w, &e.attribution);
        w.u16(e.screen_width)
            .u64(e.visitor_id)
            .u64(e.session_id)
            .str(&e.visitor_key)
            .str(e.consent)
            .u32(e.engaged_ms)
            .string_map(&e.props)
            .u16(e.retention_days);
    }
}

/// A spooled record, by format.
#[derive(Debug, PartialEq)]
pub enum SpooledRows<'a> {
    /// The `events` row alone (`EVENT_COLUMNS`); the store derives the session delta.
    Event(&'a [u8]),
    /// The previous format: the `events` row (`EVENT_COLUMNS_V1`) and the `sessions` row
    /// (`SESSION_COLUMNS`), in RowBinary.
    RowBinary(&'a [u8], &'a [u8]),
    /// The first format: two JSONEachRow lines, each ending in `\n`.
    Json(&'a [u8], &'a [u8]),
}

/// Splits a spooled record of any version; `None` for bytes no version wrote.
pub fn split_record(payload: &[u8]) -> Option<SpooledRows<'_>> {
    match payload.first()? {
        &RECORD_EVENT => (payload.len() > 1).then(|| SpooledRows::Event(&payload[1..])),
        &RECORD_ROWBINARY => {
            let len = u32::from_le_bytes(payload.get(1..5)?.try_into().ok()?) as usize;
            let rows = &payload[5..];
            (len > 0 && len < rows.len()).then(|| {
                let (event, session) = rows.split_at(len);
                SpooledRows::RowBinary(event, session)
            })
        }
        b'{' => {
            let at = payload.iter().position(|b| *b == b'\n')?;
            let (event, session) = payload.split_at(at + 1);
            (session.len() > 1 && session.ends_with(b"\n"))
                .then_some(SpooledRows::Json(event, session))
        }
        _ => None,
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

    fn record() -> Record {
        let attribution = Arc::new(Attribution {
            hostname: "example.com".into(),
            referrer_source: "Google".into(),
            ..Default::default()
        });
        Record {
            event: EventRow {
                event_id: uuid::Uuid::new_v4(),
                timestamp: 86_400 * 3 + 5,
                site: "example.com".into(),
                name: "pageview".into(),
                hostname: "shop.example.com".into(),
                pathname: "/p".into(),
                attribution: attribution.clone(),
                screen_width: 1280,
                visitor_id: 7,
                session_id: 9,
                visitor_key: String::new(),
                consent: "none",
                engaged_ms: 0,
                props: BTreeMap::from([("plan".to_string(), "pro".to_string())]),
                retention_days: 400,
            },
            session: SessionDelta {
                session_id: 9,
                start: 86_400 * 3,
                end: 86_400 * 3 + 5,
                pageviews: 1,
                events: 1,
                engaged_ms: 0,
                entry_page: Arc::from("/"),
                exit: (2, "/p".into()),
                attribution,
            },
        }
    }

    #[test]
    fn a_record_is_its_event_row_with_the_visit_columns_at_the_end() {
        let r = record();
        let bytes = r.encode();
        let Some(SpooledRows::Event(event)) = split_record(&bytes) else {
            panic!("not an event record");
        };
        assert_eq!(&event[..16], &RowBinaryBytes::uuid(&r.event.event_id)[..]);
        // session_start (DateTime), session_seq (UInt32), session_hostname (String).
        let tail = [
            &(86_400u32 * 3).to_le_bytes()[..],
            &2u32.to_le_bytes(),
            b"\x0bexample.com",
        ]
        .concat();
        assert!(event.ends_with(&tail));
        assert_eq!(event.len() + 1, bytes.len());
    }

    #[test]
    fn a_record_of_the_previous_format_splits_into_its_two_rowbinary_rows() {
        let r = record();
        let bytes = r.encode_v1();
        let Some(SpooledRows::RowBinary(event, session)) = split_record(&bytes) else {
            panic!("not a RowBinary record");
        };
        assert_eq!(&event[..16], &RowBinaryBytes::uuid(&r.event.event_id)[..]);
        assert_eq!(event.len() + session.len() + 5, bytes.len());
        // The event rows of both formats agree on the columns they share.
        let encoded = r.encode();
        let Some(SpooledRows::Event(current)) = split_record(&encoded) else {
            panic!("not an event record");
        };
        assert!(current.starts_with(event));
        // The sessions row starts with the site, then the day of the visit's start.
        assert_eq!(&session[..12], b"\x0bexample.com");
        assert_eq!(&session[12..14], &3u16.to_le_bytes());
    }

    #[test]
    fn records_of_the_json_format_still_split_and_garbage_does_not() {
        let legacy = b"{\"event_id\":\"x\"}\n{\"site\":\"a\"}\n";
        assert_eq!(
            split_record(legacy),
            Some(SpooledRows::Json(
                &b"{\"event_id\":\"x\"}\n"[..],
                &b"{\"site\":\"a\"}\n"[..]
            ))
        );
        assert_eq!(split_record(b"{\"no\":\"second line\"}\n"), None);
        assert_eq!(split_record(&[RECORD_ROWBINARY, 200, 0, 0, 0, 1, 2]), None);
        assert_eq!(split_record(&[9, 9, 9]), None);
        assert_eq!(split_record(&[RECORD_EVENT]), None);
        assert_eq!(split_record(b""), None);
    }

    /// Encodes a value alone, to compare with a slice of a row.
    struct RowBinaryBytes;
    impl RowBinaryBytes {
        fn uuid(id: &uuid::Uuid) -> Vec<u8> {
            let mut out = Vec::new();
            RowBinary(&mut out).uuid(id);
            out
        }
    }

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
