//! The ingestion pipeline: a beacon passes named steps — validate, user agent, drop rules,
//! event, hash, session (with a new visit's referrer, geo and organisation), spool — each a
//! small function that returns the event or a `DropReason`, each timed under its own name in
//! `/metrics` (`candor_ingest_step_seconds{step}`). Read `Pipeline::ingest` to see the whole
//! path in one screen. The row these steps fill is defined in `row`, the spooled forms in
//! `record`.

pub mod batcher;
pub mod record;
pub mod row;
pub mod sessions;
pub mod spool;
mod step_metrics;

pub use record::{
    split_record, Record, SpooledRows, EVENT_COLUMNS, EVENT_COLUMNS_V1, RECORD_EVENT,
    RECORD_ROWBINARY, RECORD_VERSIONED, SESSION_COLUMNS,
};
pub use row::EventRow;

use std::net::IpAddr;
use std::sync::Arc;

use crate::enrich::{self, Agent, AgentCache, Geo};
use crate::ingest::{self, Beacon, Invalid};
use crate::metrics::Metrics;
use crate::privacy::keys::Keys;
use crate::privacy::salts::Salts;
use crate::privacy::withdrawn::WithdrawnKeys;
use crate::sites::Site;
use sessions::{Attribution, Touch, Tracker};
use spool::{Spool, SpoolError};
use step_metrics::{timed, Laps, StepMetrics};

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

/// The facts of the beacon's HTTP request the pipeline may use. The IP and user agent live
/// only here, in memory.
pub struct RequestFacts<'a> {
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
}

/// The steps and what they need, handed in by `serve` (which also gives the spool, the live
/// visits and the salts to the background work): nothing reaches through the pipeline for them.
pub struct Pipeline {
    spool: Spool,
    sessions: Arc<Tracker>,
    salts: Arc<Salts>,
    keys: Arc<Keys>,
    withdrawn: Arc<WithdrawnKeys>,
    geo: Arc<Geo>,
    agents: AgentCache,
    steps: StepMetrics,
}

/// What the pipeline's steps use besides the beacon: shared with the rest of the application.
pub struct Collaborators {
    pub spool: Spool,
    pub sessions: Arc<Tracker>,
    pub salts: Arc<Salts>,
    pub keys: Arc<Keys>,
    /// Browsers whose person withdrew marketing consent in the privacy center.
    pub withdrawn: Arc<WithdrawnKeys>,
    pub geo: Arc<Geo>,
}

impl Pipeline {
    pub fn new(c: Collaborators, metrics: &Metrics) -> Pipeline {
        enrich::warm_up();
        Pipeline {
            spool: c.spool,
            sessions: c.sessions,
            salts: c.salts,
            keys: c.keys,
            withdrawn: c.withdrawn,
            geo: c.geo,
            agents: AgentCache::new(20_000),
            steps: StepMetrics::new(metrics),
        }
    }

    /// Step: a beacon body parsed into a `Beacon` with every field checked (the HTTP edge
    /// calls it before the site and rate checks).
    pub fn validate(&self, body: &[u8]) -> Result<Beacon, Invalid> {
        timed(&self.steps.validate, || ingest::parse(body))
    }

    /// The whole ingestion path after `validate`. `Ok(None)` means stored; `Ok(Some(reason))`
    /// deliberately not.
    pub async fn ingest(
        &self,
        beacon: Beacon,
        site: &Site,
        request: &RequestFacts<'_>,
    ) -> Result<Option<DropReason>, IngestError> {
        let s = &self.steps;
        // The steps run one after another: one clock reading between two steps times both.
        let mut laps = Laps::start();
        let agent = self.agents.get(request.user_agent);
        laps.lap(&s.user_agent);
        let drop = drop_rules(&beacon, site, request, agent.is_bot);
        laps.lap(&s.drop_rules);
        if let Some(reason) = drop {
            s.dropped.with_label_values(&[reason.as_str()]).inc();
            return Ok(Some(reason));
        }
        let mut row = event(&beacon, site, request);
        s.enrich.observe(laps.lap(&s.event));
        let hashed = self.hash(&mut row, &beacon, request);
        laps.lap(&s.hash);
        hashed?;
        let record = self.session(row, || self.first_touch(&beacon, request, &agent));
        laps.lap(&s.session);
        let payload = record.encode();
        laps.lap(&s.encode);
        self.spool.append(payload).await?;
        laps.lap(&s.spool);
        s.accepted.inc();
        Ok(None)
    }

    /// Step: the visitor id (keyed hash of the day's salt, site, IP and user agent) and, with
    /// marketing consent, the keyed hash of the first-party id.
    fn hash(
        &self,
        row: &mut EventRow,
        beacon: &Beacon,
        request: &RequestFacts<'_>,
    ) -> Result<(), IngestError> {
        let day = (request.now_ms / 86_400_000) as i64;
        row.visitor_id = self
            .salts
            .visitor_id(day, &row.site, request.ip, request.user_agent)
            .ok_or(IngestError::NoSalt)?;
        if let Some(vid) = &beacon.vid {
            let key = self.keys.visitor_key(&row.site, vid);
            if self.withdrawn.contains(&key) {
                // Withdrawn in the privacy center, which cannot reach the browser's storage:
                // the browser still sends its id, taken as analytics consent.
                row.consent = ingest::Consent::Analytics.as_str();
            } else {
                row.visitor_key = key;
            }
        }
        Ok(())
    }

    /// Step: assigns the event to its visit. The event then carries the visit's first-touch
    /// attributes (source, UTM, location, device), as the session row does, so reports
    /// filter and group events by visit properties without a join. Only the hostname stays
    /// the event's own. `first_touch` runs only for an event that starts a visit.
    fn session(&self, mut row: EventRow, first_touch: impl FnOnce() -> Attribution) -> Record {
        let mut delta = self.sessions.touch(
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
        if row.name == ingest::LEAD_EVENT {
            // A lead's identification belongs to the visit (its id and attributes) but is not
            // the visit's activity: without a session start the store derives no session
            // delta from it, so visits, durations, exit pages and event counts stay as the
            // visitor's own beacons made them.
            delta.start = 0;
        }
        Record {
            event: row,
            session: delta,
        }
    }

    /// The first event of a visit: its first-touch attributes, from the steps referrer (source,
    /// channel, UTM), geo and organisation, and the user agent's browser, OS and device.
    fn first_touch(
        &self,
        beacon: &Beacon,
        request: &RequestFacts<'_>,
        agent: &Agent,
    ) -> Attribution {
        let s = &self.steps;
        let hostname = ingest::hostname(&beacon.url);
        let (source, utm) = timed(&s.referrer, || referrer(beacon, &hostname));
        let location = timed(&s.geo, || self.geo.locate(request.ip));
        let (org, org_type) = timed(&s.organisation, || {
            self.geo.organisation_and_kind(request.ip)
        });
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
            device: device(beacon, agent).to_string(),
        }
    }
}

/// Step: DNT, GPC, bots, the site's exclusions.
fn drop_rules(
    beacon: &Beacon,
    site: &Site,
    request: &RequestFacts<'_>,
    is_bot: bool,
) -> Option<DropReason> {
    if request.dnt {
        return Some(DropReason::Dnt);
    }
    if request.gpc {
        return Some(DropReason::Gpc);
    }
    if is_bot {
        return Some(DropReason::Bot);
    }
    if !site.exclude_paths.is_empty() {
        let path = ingest::pathname(&beacon.url, beacon.hash_mode);
        if site
            .exclude_paths
            .iter()
            .any(|p| crate::path_pattern::matches(p, &path))
        {
            return Some(DropReason::Excluded);
        }
    }
    if site.exclude_ips.iter().any(|net| net.contains(&request.ip)) {
        return Some(DropReason::Excluded);
    }
    None
}

/// Step: the event's own facts (time, host, path, properties). The visit's attributes come
/// from `first_touch`, once per visit.
fn event(beacon: &Beacon, site: &Site, request: &RequestFacts<'_>) -> EventRow {
    EventRow {
        event_id: uuid::Uuid::new_v4(),
        timestamp: (request.now_ms / 1000) as u32,
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

/// Step: the referrer's source and channel, and the UTM parameters.
fn referrer(beacon: &Beacon, hostname: &str) -> (enrich::referrer::Source, enrich::referrer::Utm) {
    let utm = enrich::referrer::utm(&beacon.url);
    let source = enrich::referrer::classify(beacon.referrer.as_deref(), hostname, &utm);
    (source, utm)
}

/// The device class: from the screen width the visitor actually sees (Plausible's
/// breakpoints), else from the user agent.
fn device(beacon: &Beacon, agent: &Agent) -> &'static str {
    match beacon.screen_width {
        Some(w) if w > 0 && w < 576 => "Mobile",
        Some(w) if (576..992).contains(&w) => "Tablet",
        Some(w) if w >= 992 => "Desktop",
        _ => agent.device,
    }
}
