//! Events as Plausible's test factories build them (`build(:pageview, user_id: 1, browser:
//! "Chrome", timestamp: ~N[2021-01-01 00:00:00])`), stored through the collector's own
//! session step and spool, so Plausible's tests can be translated case by case: only the
//! HTTP request parsing and enrichment are skipped (the case sets what they would derive).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use candor::pipeline::sessions::{Attribution, Touch};
use candor::pipeline::{EventRow, Record};

/// One event of a case. `Ev::pageview()` / `Ev::event(name)`, then setters named after
/// Plausible's factory fields.
#[derive(Clone, Debug)]
pub struct Ev {
    name: String,
    user_id: Option<u64>,
    timestamp: String,
    pathname: String,
    hostname: Option<String>,
    props: BTreeMap<String, String>,
    a: Attribution,
}

/// Plausible's factory default time (the cases that set none use the same day).
pub const DEFAULT_TIME: &str = "2021-01-01 00:00:00";

impl Ev {
    pub fn pageview() -> Ev {
        Ev::event("pageview")
    }

    pub fn event(name: &str) -> Ev {
        Ev {
            name: name.into(),
            user_id: None,
            timestamp: DEFAULT_TIME.into(),
            pathname: "/".into(),
            hostname: None,
            props: BTreeMap::new(),
            a: Attribution::default(),
        }
    }

    /// The visitor (Plausible's `user_id`); events without one are each a new visitor.
    pub fn user(mut self, id: u64) -> Ev {
        self.user_id = Some(id);
        self
    }

    /// `YYYY-MM-DD HH:MM:SS`, UTC.
    pub fn at(mut self, timestamp: &str) -> Ev {
        self.timestamp = timestamp.into();
        self
    }

    pub fn path(mut self, pathname: &str) -> Ev {
        self.pathname = pathname.into();
        self
    }

    pub fn host(mut self, hostname: &str) -> Ev {
        self.hostname = Some(hostname.into());
        self
    }

    pub fn prop(mut self, key: &str, value: &str) -> Ev {
        self.props.insert(key.into(), value.into());
        self
    }

    /// A visit property by Plausible's factory name (`referrer_source`, `utm_medium`,
    /// `country_code`, `operating_system`, `screen_size`, ...).
    pub fn set(mut self, field: &str, value: &str) -> Ev {
        let a = &mut self.a;
        let slot = match field {
            "referrer_source" | "source" => &mut a.referrer_source,
            "referrer" => &mut a.referrer,
            "acquisition_channel" | "channel" => &mut a.channel,
            "utm_source" => &mut a.utm_source,
            "utm_medium" => &mut a.utm_medium,
            "utm_campaign" => &mut a.utm_campaign,
            "utm_content" => &mut a.utm_content,
            "utm_term" => &mut a.utm_term,
            "country_code" | "country" => &mut a.country_code,
            "subdivision1_code" | "region" => &mut a.region,
            "city_geoname_id" | "city" => &mut a.city,
            "browser" => &mut a.browser,
            "browser_version" => &mut a.browser_version,
            "operating_system" | "os" => &mut a.os,
            "operating_system_version" | "os_version" => &mut a.os_version,
            "screen_size" | "device" => &mut a.device,
            "org" => &mut a.org,
            other => panic!("no visit property {other:?} in the fixture"),
        };
        *slot = value.into();
        self
    }
}

static NEXT_VISITOR: AtomicU64 = AtomicU64::new(1 << 40);

/// Stores `events` for `site` as the collector would (sessions by visitor and the 30-minute
/// timeout, first-touch attributes from each visit's first event), in time order, and waits
/// until the store holds them.
pub async fn populate(state: &candor::http::AppState, site: &str, events: Vec<Ev>) {
    let mut events: Vec<(u32, Ev)> = events
        .into_iter()
        .map(|e| {
            let t = chrono::NaiveDateTime::parse_from_str(&e.timestamp, "%Y-%m-%d %H:%M:%S")
                .unwrap_or_else(|_| panic!("timestamp {:?}", e.timestamp))
                .and_utc()
                .timestamp() as u32;
            (t, e)
        })
        .collect();
    events.sort_by_key(|(t, _)| *t);
    let n = events.len() as u64;
    let before = stored(state, site).await;
    for (at, e) in events {
        // Plausible's user ids are per site; Candor's visitor ids are hashes: offset them so
        // cases on different sites never share a visitor.
        let visitor_id = match e.user_id {
            Some(id) => id ^ site_offset(site),
            None => NEXT_VISITOR.fetch_add(1, Ordering::Relaxed),
        };
        let hostname = e.hostname.clone().unwrap_or_else(|| site.to_string());
        let is_pageview = e.name == "pageview";
        let mut delta = state.sessions.touch(
            Touch {
                site,
                visitor_id,
                at,
                is_pageview,
                pathname: &e.pathname,
            },
            || Attribution {
                hostname: hostname.clone(),
                ..e.a.clone()
            },
        );
        delta.engaged_ms = 0;
        let attribution: Arc<Attribution> = delta.attribution.clone();
        let record = Record {
            event: EventRow {
                event_id: uuid::Uuid::new_v4(),
                timestamp: at,
                site: site.into(),
                name: e.name.clone(),
                hostname,
                pathname: e.pathname.clone(),
                attribution,
                visitor_id,
                session_id: delta.session_id,
                consent: "none",
                props: e.props.clone(),
                // Plausible's cases are dated 2021: kept for 20,000 days (the TTL must stay
                // within DateTime's range, which ends in 2106).
                retention_days: 20_000,
                ..Default::default()
            },
            session: delta,
        };
        state.spool.append(record.encode()).await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while stored(state, site).await < before + n {
        assert!(
            std::time::Instant::now() < deadline,
            "{site}: {n} events not stored within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn site_offset(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) & ((1 << 40) - 1)
}

async fn stored(state: &candor::http::AppState, site: &str) -> u64 {
    let rows: Vec<serde_json::Value> = candor::store::fetch(
        state.store.as_ref(),
        "SELECT count() AS c FROM events WHERE site = {site:String}",
        &candor::store::Params::new().with("site", site),
    )
    .await
    .unwrap();
    rows[0]["c"].as_u64().unwrap_or(0)
}
