//! Synthetic traffic for benchmarks and tests: `events` and `sessions` rows shaped like what
//! the collector writes, generated inside the engine (one `INSERT ... SELECT` per table).
//!
//! Visits of 1 to 15 events, 40 s apart, with one source, location and device each;
//! log-uniform page popularity over 300 pages; one in ten visits ends in a goal event
//! (`Signup` or `Download`, with a custom property `plan`: `free`, `pro` or `team`); a third
//! of page views carry a custom property `author` (`alice`, `bob` or `carol`); one in eleven
//! visits ends with a lead's identification five seconds after its last event (the
//! collector's `candor:lead` event: no page view, no session delta). As in
//! the collector, visitor ids are salted per UTC day (one person has a new id every day) and a
//! visit stays within its UTC day; every other event has its `sessions` delta row.

use super::{Params, Store, StoreError};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Traffic<'a> {
    pub site: &'a str,
    /// About this many events (visits average 8 events).
    pub events: u64,
    /// People; each gets a new visitor id every UTC day.
    pub people: u64,
    /// Visits start evenly over `[end - days * 86400, end - 3600)`.
    pub end: i64,
    pub days: u64,
}

/// One visit per `s`; its events expand with ARRAY JOIN. Shared by both inserts so the
/// delta rows describe exactly the events.
const VISITS: &str = "
    SELECT s, h, person, start, len, k,
           cityHash64('v', person, toDate(start)) AS visitor,
           start + toIntervalSecond(k * 40 + (cityHash64(s, k) % 30)) AS ts,
           if(k = len - 1 AND h % 5 = 0, ['Signup', 'Download'][1 + bitShiftRight(h, 3) % 2], 'pageview') AS name,
           concat('/page/', toString(toUInt32(floor(exp(log(300) * ((cityHash64(s, k) % 10000) / 10000.0)))))) AS path,
           concat('/page/', toString(toUInt32(floor(exp(log(300) * ((cityHash64(s, 0) % 10000) / 10000.0)))))) AS entry,
           if(h % 7 = 0, concat('www.', {site:String}), {site:String}) AS hostname,
           ['', '', 'google.com/search', 'google.com/search', 'news.ycombinator.com/item', 't.co/x', 'duckduckgo.com', 'github.com/candor'][1 + h % 8] AS referrer,
           ['', '', 'Google', 'Google', 'Hacker News', 'Twitter', 'DuckDuckGo', 'github.com'][1 + h % 8] AS source,
           ['Direct', 'Direct', 'Organic Search', 'Organic Search', 'Organic Social', 'Organic Social', 'Organic Search', 'Organic Social'][1 + h % 8] AS channel,
           if(bitShiftRight(h, 5) % 9 = 0, 'newsletter', '') AS utm_source,
           if(bitShiftRight(h, 5) % 9 = 0, 'email', '') AS utm_medium,
           if(bitShiftRight(h, 5) % 9 = 0, concat('campaign-', toString(bitShiftRight(h, 9) % 12)), '') AS utm_campaign,
           if(bitShiftRight(h, 5) % 9 = 0, ['hero', 'footer'][1 + bitShiftRight(h, 40) % 2], '') AS utm_content,
           if(bitShiftRight(h, 5) % 27 = 0, 'analytics', '') AS utm_term,
           ['DE', 'US', 'US', 'FR', 'GB', 'JP', 'BR', 'IN', 'NL', 'SE'][1 + bitShiftRight(h, 12) % 10] AS country,
           concat(country, '-', toString(bitShiftRight(h, 16) % 8)) AS region,
           concat('City ', toString(bitShiftRight(h, 16) % 60)) AS city,
           if(bitShiftRight(h, 20) % 6 = 0, concat('Example Org ', toString(bitShiftRight(h, 23) % 200)), '') AS org,
           if(org = '', ['isp', 'mobile', ''][1 + bitShiftRight(h, 44) % 3], 'business') AS org_type,
           ['Chrome', 'Chrome', 'Safari', 'Firefox', 'Microsoft Edge'][1 + bitShiftRight(h, 28) % 5] AS browser,
           toString(120 + bitShiftRight(h, 46) % 12) AS browser_version,
           ['Windows', 'Mac', 'iOS', 'Android', 'GNU/Linux'][1 + bitShiftRight(h, 31) % 5] AS os,
           toString(10 + bitShiftRight(h, 50) % 5) AS os_version,
           ['Desktop', 'Desktop', 'Mobile', 'Tablet'][1 + bitShiftRight(h, 34) % 4] AS device,
           if(name = 'pageview',
              if(cityHash64(s, k, 1) % 3 = 0, map('author', ['alice', 'bob', 'carol'][1 + cityHash64(s, k, 2) % 3]), map()),
              map('plan', ['free', 'pro', 'team'][1 + bitShiftRight(h, 52) % 3])) AS props
    FROM (
        SELECT number AS s, cityHash64(number, {site:String}) AS h, h % {people:UInt64} AS person,
               {end:Int64} - {days:Int64} * 86400 + intDiv(number * ({days:Int64} * 86400 - 3600), {visits:UInt64}) AS t,
               -- a visit (at most 15 events, 40 s apart) stays within its UTC day
               toDateTime(if(t % 86400 > 85700, t - 700, t), 'UTC') AS start,
               1 + h % 15 AS len
        FROM numbers({first:UInt64}, {count:UInt64})
    ) ARRAY JOIN range(len) AS k";

/// Inserts the traffic; returns nothing but errors. Rows: about `events` in `events` and as
/// many delta rows in `sessions`.
pub async fn seed(store: &dyn Store, t: &Traffic<'_>) -> Result<(), StoreError> {
    let visits = (t.events / 8).max(1);
    // A slice of visits per statement (about a million events), so seeding 100 million events
    // needs no more memory per statement than seeding one million (`store.memory_mb`).
    const SLICE: u64 = 125_000;
    let mut first = 0;
    while first < visits {
        let p = Params::new()
            .with("site", t.site)
            .with("visits", visits)
            .with("first", first)
            .with("count", SLICE.min(visits - first))
            .with("people", t.people.max(1))
            .with("end", t.end)
            .with("days", t.days.max(1) as i64);
        seed_slice(store, &p).await?;
        first += SLICE;
    }
    Ok(())
}

/// Inserts the events, session rows and lead identifications of one slice of visits.
async fn seed_slice(store: &dyn Store, p: &Params) -> Result<(), StoreError> {
    store
        .execute(&events_insert("ts", "name", "props", "'none'", ""), p)
        .await?;
    store
        .execute(
            &format!(
                "INSERT INTO sessions (site, day, session_id, visitor_id, start, end, pageviews, events, engaged_ms, entry_page, exit,
                                       visitor_key, hostname, referrer, referrer_source, channel, utm_source, utm_medium, utm_campaign,
                                       utm_content, utm_term, country_code, region, city, org, org_type, browser, browser_version, os,
                                       os_version, device, retention_days)
                 SELECT {{site:String}}, toDate(start), bitShiftRight(cityHash64(s, {{site:String}}, {{end:Int64}}), 1), visitor, start, ts, name = 'pageview', 1,
                        0, entry, (toUInt32(if(name = 'pageview', k + 1, 0)), if(name = 'pageview', path, '')), '', hostname,
                        referrer, source, channel, utm_source, utm_medium, utm_campaign, utm_content, utm_term, country, region,
                        city, org, org_type, browser, browser_version, os, os_version, device, 400
                 FROM ({VISITS})"
            ),
            p,
        )
        .await?;
    // One visit in eleven: a lead's identification five seconds after its last event.
    store
        .execute(
            &events_insert(
                "ts + 5",
                "'candor:lead'",
                "map()",
                "'marketing'",
                "WHERE k = len - 1 AND h % 11 = 0",
            ),
            p,
        )
        .await
}

/// An `INSERT ... SELECT` of `events` rows from `VISITS`, with the given time, name, custom
/// properties and consent expressions, for the visits' events that `filter` keeps.
fn events_insert(ts: &str, name: &str, props: &str, consent: &str, filter: &str) -> String {
    format!(
        "INSERT INTO events (event_id, timestamp, site, name, hostname, pathname, referrer, referrer_source, channel,
                             utm_source, utm_medium, utm_campaign, utm_content, utm_term, country_code, region, city, org,
                             org_type, browser, browser_version, os, os_version, device, screen_width, visitor_id,
                             session_id, props, consent, retention_days)
         SELECT generateUUIDv4(), {ts}, {{site:String}}, {name}, hostname, path, referrer, source, channel, utm_source,
                utm_medium, utm_campaign, utm_content, utm_term, country, region, city, org, org_type, browser,
                browser_version, os, os_version, device, 1280, visitor, bitShiftRight(cityHash64(s, {{site:String}}, {{end:Int64}}), 1), {props}, {consent}, 400
         FROM ({VISITS}) {filter}"
    )
}
