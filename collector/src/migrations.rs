//! The store's schema: versioned, idempotent migrations, recorded in `schema_migrations` and applied at
//! start. Every statement is `IF NOT EXISTS`, so a half-applied migration (or two collectors
//! starting together) re-runs harmlessly. With `clickhouse.cluster` set the same definitions
//! render as `ON CLUSTER` DDL with Replicated engines: big tables are sharded behind a
//! Distributed table, small ones are replicated to every node.

use std::borrow::Cow;

use serde::Deserialize;

use crate::pipeline::row;

use crate::store::{fetch, Params, Store, StoreError};

/// Single node (embedded chDB or one server) or a named cluster.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub cluster: Option<String>,
}

/// The engine family of a table; rendered as plain or Replicated.
#[derive(Clone, Copy)]
enum Family {
    MergeTree,
    /// `ReplacingMergeTree(version_column)`: rows with the same ORDER BY key collapse to the
    /// newest version; readers use `FINAL` or `argMax`.
    Replacing(&'static str),
    /// `AggregatingMergeTree`: rows with the same key fold their aggregate columns.
    Aggregating,
}

/// How a table is laid out in a cluster.
#[derive(Clone, Copy)]
enum Placement {
    /// Sharded by this key behind a Distributed table of the table's name.
    Sharded(&'static str),
    /// Small reference data: a full replica on every node.
    Everywhere,
}

/// A table's column list in `CREATE TABLE`.
#[derive(Clone, Copy)]
enum Columns {
    Listed(&'static str),
    /// The `events` columns a migration introduced (`pipeline::row`).
    EventsOf(u32),
}

impl Columns {
    fn ddl(self) -> Cow<'static, str> {
        match self {
            Columns::Listed(c) => Cow::Borrowed(c),
            Columns::EventsOf(version) => Cow::Owned(row::created_in(version)),
        }
    }
}

struct Table {
    name: &'static str,
    columns: Columns,
    family: Family,
    partition_by: Option<&'static str>,
    order_by: &'static str,
    ttl: Option<&'static str>,
    settings: Option<&'static str>,
    placement: Placement,
}

impl Table {
    fn create(&self, topology: &Topology) -> Vec<String> {
        let tail = {
            let mut t = String::new();
            if let Some(p) = self.partition_by {
                t.push_str(&format!("\nPARTITION BY {p}"));
            }
            t.push_str(&format!("\nORDER BY {}", self.order_by));
            if let Some(ttl) = self.ttl {
                t.push_str(&format!("\nTTL {ttl}"));
            }
            if let Some(s) = self.settings {
                t.push_str(&format!("\nSETTINGS {s}"));
            }
            t
        };
        let args = |replicated: Option<String>| {
            let mut a: Vec<String> = replicated.into_iter().collect();
            if let Family::Replacing(v) = self.family {
                a.push(v.to_string());
            }
            a.join(", ")
        };
        let family = match self.family {
            Family::MergeTree => "MergeTree",
            Family::Replacing(_) => "ReplacingMergeTree",
            Family::Aggregating => "AggregatingMergeTree",
        };
        match &topology.cluster {
            None => vec![format!(
                "CREATE TABLE IF NOT EXISTS {} (\n{}\n) ENGINE = {family}({}){tail}",
                self.name,
                self.columns.ddl(),
                args(None)
            )],
            Some(cluster) => match self.placement {
                Placement::Everywhere => vec![format!(
                    "CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {cluster} (\n{cols}\n) ENGINE = Replicated{family}({}){tail}",
                    args(Some(format!("'/clickhouse/tables/all/{{database}}/{name}', '{{replica}}'", name = self.name))),
                    name = self.name,
                    cols = self.columns.ddl(),
                )],
                Placement::Sharded(key) => vec![
                    format!(
                        "CREATE TABLE IF NOT EXISTS {name}_local ON CLUSTER {cluster} (\n{cols}\n) ENGINE = Replicated{family}({}){tail}",
                        args(Some(format!("'/clickhouse/tables/{{shard}}/{{database}}/{name}_local', '{{replica}}'", name = self.name))),
                        name = self.name,
                        cols = self.columns.ddl(),
                    ),
                    format!(
                        "CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {cluster} AS {name}_local ENGINE = Distributed({cluster}, currentDatabase(), {name}_local, {key})",
                        name = self.name,
                    ),
                ],
            },
        }
    }
}

const MIGRATIONS_TABLE: Table = Table {
    name: "schema_migrations",
    columns: Columns::Listed(
        "    version UInt32,\n    name String,\n    applied_at DateTime('UTC') DEFAULT now()",
    ),
    family: Family::Replacing("applied_at"),
    partition_by: None,
    order_by: "version",
    ttl: None,
    settings: None,
    placement: Placement::Everywhere,
};

/// Registered sites. Newest `version` wins.
const SITES: Table = Table {
    name: "sites",
    columns: Columns::Listed(
        "    domain String,
    timezone String DEFAULT 'UTC',
    retention_days UInt16 DEFAULT 400,
    allowed_origins Array(String),
    created_at DateTime('UTC'),
    deleted UInt8 DEFAULT 0,
    version UInt64",
    ),
    family: Family::Replacing("version"),
    partition_by: None,
    order_by: "domain",
    ttl: None,
    settings: None,
    placement: Placement::Everywhere,
};

/// API tokens: only the SHA-256 of the token is stored. Revocation writes a newer version.
const API_TOKENS: Table = Table {
    name: "api_tokens",
    columns: Columns::Listed(
        "    id String,
    name String,
    token_hash FixedString(64),
    scopes Array(LowCardinality(String)),
    sites Array(String),
    created_at DateTime('UTC'),
    revoked UInt8 DEFAULT 0,
    version UInt64",
    ),
    family: Family::Replacing("version"),
    partition_by: None,
    order_by: "id",
    ttl: None,
    settings: None,
    placement: Placement::Everywhere,
};

/// Daily visitor-id salts, shared by every collector through the store and destroyed after
/// two days so yesterday's ids can never be recomputed. Several collectors may race to
/// create a day's salt; readers take the earliest row (`argMin(salt, (created_at, salt))`).
const SALTS: Table = Table {
    name: "salts",
    columns: Columns::Listed(
        "    day Date,
    salt String,
    created_at DateTime64(3, 'UTC')",
    ),
    family: Family::MergeTree,
    partition_by: None,
    order_by: "(day, created_at)",
    ttl: Some("day + INTERVAL 2 DAY"),
    settings: Some("merge_with_ttl_timeout = 3600"),
    placement: Placement::Everywhere,
};

/// One row per accepted event. Sorted by site and day, then visitor and time, so a site's
/// date range is a contiguous scan and a visitor's events sit together for session queries.
/// Each row carries its site's retention, so the TTL is per site. Re-sent batches are
/// dropped by insert deduplication (`insert_deduplication_token` per spool batch).
const EVENTS: Table = Table {
    name: "events",
    columns: Columns::EventsOf(1),

    family: Family::MergeTree,
    partition_by: Some("toYYYYMM(timestamp)"),
    order_by: "(site, toDate(timestamp), visitor_id, timestamp)",
    ttl: Some("timestamp + toIntervalDay(retention_days)"),
    settings: Some("non_replicated_deduplication_window = 10000"),
    placement: Placement::Sharded("sipHash64(site, visitor_id)"),
};

/// Per-session aggregates written as one delta row per event (see `pipeline::sessions`):
/// ClickHouse folds the deltas; reports fold the remainder with GROUP BY session.
const SESSIONS: Table = Table {
    name: "sessions",
    columns: Columns::Listed(
        "    site LowCardinality(String),
    day Date,
    session_id UInt64,
    visitor_id SimpleAggregateFunction(any, UInt64),
    start SimpleAggregateFunction(min, DateTime('UTC')),
    end SimpleAggregateFunction(max, DateTime('UTC')),
    pageviews SimpleAggregateFunction(sum, UInt64),
    events SimpleAggregateFunction(sum, UInt64),
    engaged_ms SimpleAggregateFunction(sum, UInt64),
    entry_page SimpleAggregateFunction(max, String),
    exit SimpleAggregateFunction(max, Tuple(UInt32, String)),
    visitor_key SimpleAggregateFunction(max, String),
    hostname SimpleAggregateFunction(any, String),
    referrer SimpleAggregateFunction(any, String),
    referrer_source SimpleAggregateFunction(any, String),
    channel SimpleAggregateFunction(any, String),
    utm_source SimpleAggregateFunction(any, String),
    utm_medium SimpleAggregateFunction(any, String),
    utm_campaign SimpleAggregateFunction(any, String),
    utm_content SimpleAggregateFunction(any, String),
    utm_term SimpleAggregateFunction(any, String),
    country_code SimpleAggregateFunction(any, String),
    region SimpleAggregateFunction(any, String),
    city SimpleAggregateFunction(any, String),
    org SimpleAggregateFunction(any, String),
    browser SimpleAggregateFunction(any, String),
    browser_version SimpleAggregateFunction(any, String),
    os SimpleAggregateFunction(any, String),
    os_version SimpleAggregateFunction(any, String),
    device SimpleAggregateFunction(any, String),
    retention_days SimpleAggregateFunction(max, UInt16)",
    ),
    family: Family::Aggregating,
    partition_by: Some("toYYYYMM(day)"),
    order_by: "(site, day, session_id)",
    ttl: Some("day + toIntervalDay(retention_days)"),
    settings: Some("non_replicated_deduplication_window = 10000"),
    placement: Placement::Sharded("sipHash64(site, session_id)"),
};

/// Leads: contact details only encrypted (`*_enc`), the email also as a keyed hash for lookup
/// and erasure. Each change writes a new version; `FINAL` reads the current state.
const LEADS: Table = Table {
    name: "leads",
    columns: Columns::Listed(
        "    id String,
    site LowCardinality(String),
    email_hash String,
    email_enc String,
    name_enc String,
    company_enc String,
    status LowCardinality(String),
    consent_at DateTime('UTC'),
    consent_page String,
    created_at DateTime('UTC'),
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3),
    version UInt64",
    ),
    family: Family::Replacing("version"),
    partition_by: None,
    order_by: "(site, id)",
    ttl: None,
    settings: None,
    placement: Placement::Everywhere,
};

/// Which visitor keys (hashed first-party ids) belong to which lead.
const LEAD_VISITORS: Table = Table {
    name: "lead_visitors",
    columns: Columns::Listed(
        "    site LowCardinality(String),
    visitor_key String,
    lead_id String,
    linked_at DateTime('UTC'),
    unlinked UInt8,
    version UInt64",
    ),
    family: Family::Replacing("version"),
    partition_by: None,
    order_by: "(site, visitor_key, lead_id)",
    ttl: None,
    settings: None,
    placement: Placement::Everywhere,
};

/// Dashboard sessions ended by sign-out (SHA-256 of the session id), until the cookie would
/// have expired anyway; every collector sharing the store refuses them.
const DASHBOARD_SESSIONS_ENDED: Table = Table {
    name: "dashboard_sessions_ended",
    columns: Columns::Listed(
        "    id_hash String,
    expires_at DateTime('UTC')",
    ),
    family: Family::Replacing("expires_at"),
    partition_by: None,
    order_by: "id_hash",
    ttl: Some("expires_at"),
    settings: None,
    placement: Placement::Everywhere,
};

/// Goals per site: an event name or a page path. One version per change.
const GOALS: Table = Table {
    name: "goals",
    columns: Columns::Listed(
        "    site LowCardinality(String),
    id String,
    event_name String,
    page_path String,
    display_name String,
    created_at DateTime('UTC'),
    deleted UInt8,
    version UInt64",
    ),
    family: Family::Replacing("version"),
    partition_by: None,
    order_by: "(site, id)",
    ttl: None,
    settings: None,
    placement: Placement::Everywhere,
};

/// Saved segments per site (named filter sets, `http::segments`). One version per change.
const SEGMENTS: Table = Table {
    name: "segments",
    columns: Columns::Listed(
        "    site LowCardinality(String),
    id String,
    name String,
    filters String,
    created_at DateTime('UTC'),
    deleted UInt8,
    version UInt64",
    ),
    family: Family::Replacing("version"),
    partition_by: None,
    order_by: "(site, id)",
    ttl: None,
    settings: None,
    placement: Placement::Everywhere,
};

/// Privacy-center sign-in links: the SHA-256 of each single-use token, its lead and expiry.
const PRIVACY_LINKS: Table = Table {
    name: "privacy_links",
    columns: Columns::Listed(
        "    token_hash String,
    site LowCardinality(String),
    lead_id String,
    expires_at DateTime('UTC'),
    used UInt8,
    version UInt64",
    ),
    family: Family::Replacing("version"),
    partition_by: None,
    order_by: "token_hash",
    ttl: Some("expires_at + INTERVAL 1 DAY"),
    settings: None,
    placement: Placement::Everywhere,
};

/// Mail to people (`mail`): recipient and message sealed while pending, blanked once sent or
/// given up, so the rows that stay are a delivery log without anything personal.
const MAIL_OUTBOX: Table = Table {
    name: "mail_outbox",
    columns: Columns::Listed(
        "    id String,
    site LowCardinality(String),
    lead_id String,
    kind LowCardinality(String),
    message_enc String,
    created_at UInt64,
    expires_at UInt64,
    status LowCardinality(String),
    attempts UInt32,
    next_attempt_at UInt64,
    last_error String,
    version UInt64",
    ),
    family: Family::Replacing("version"),
    partition_by: None,
    order_by: "(site, id)",
    ttl: None,
    settings: None,
    placement: Placement::Everywhere,
};

/// Per-site dashboard passwords, as PBKDF2 hashes only.
const DASHBOARD_PASSWORDS: Table = Table {
    name: "dashboard_passwords",
    columns: Columns::Listed(
        "    site LowCardinality(String),
    password_hash String,
    deleted UInt8,
    version UInt64",
    ),
    family: Family::Replacing("version"),
    partition_by: None,
    order_by: "site",
    ttl: None,
    settings: None,
    placement: Placement::Everywhere,
};

/// Webhook endpoints per site; the signing secret only encrypted.
const WEBHOOKS: Table = Table {
    name: "webhooks",
    columns: Columns::Listed(
        "    site LowCardinality(String),
    id String,
    url String,
    secret_enc String,
    events Array(String),
    created_at DateTime('UTC'),
    deleted UInt8,
    version UInt64",
    ),
    family: Family::Replacing("version"),
    partition_by: None,
    order_by: "(site, id)",
    ttl: None,
    settings: None,
    placement: Placement::Everywhere,
};

/// The webhook outbox and delivery log: one row version per event, endpoint and attempt.
const WEBHOOK_OUTBOX: Table = Table {
    name: "webhook_outbox",
    columns: Columns::Listed(
        "    event_id String,
    endpoint_id String,
    site LowCardinality(String),
    event_type LowCardinality(String),
    payload String,
    created_at UInt64,
    status LowCardinality(String),
    attempts UInt32,
    next_attempt_at UInt64,
    last_status UInt16,
    last_error String,
    version UInt64",
    ),
    family: Family::Replacing("version"),
    partition_by: None,
    order_by: "(site, endpoint_id, event_id)",
    ttl: None,
    settings: None,
    placement: Placement::Everywhere,
};

/// Daily rollups (see `reports::rollups`): per site, finished UTC day, build and
/// (dimension, value), the sums every report metric is derived from. Readers take only the
/// current build of each day, named in `rollup_days`.
const ROLLUPS: Table = Table {
    name: "rollups",
    columns: Columns::Listed(
        "    site LowCardinality(String),
    day Date,
    build UInt64,
    dimension LowCardinality(String),
    value String,
    visitors UInt64,
    pageviews UInt64,
    events UInt64,
    visits UInt64,
    bounces UInt64,
    duration Float64,
    session_pageviews UInt64,
    retention_days UInt16",
    ),
    family: Family::MergeTree,
    partition_by: Some("toYYYYMM(day)"),
    order_by: "(site, dimension, day, value)",
    ttl: Some("day + toIntervalDay(retention_days)"),
    settings: None,
    placement: Placement::Everywhere,
};

/// The current rollup build of each site's day, with the event counts and goals it was built
/// from (a day whose counts or goals changed is built again).
const ROLLUP_DAYS: Table = Table {
    name: "rollup_days",
    columns: Columns::Listed(
        "    site LowCardinality(String),
    day Date,
    build UInt64,
    events UInt64,
    session_events UInt64,
    goals UInt64,
    retention_days UInt16",
    ),
    family: Family::Replacing("build"),
    partition_by: None,
    order_by: "(site, day)",
    ttl: Some("day + toIntervalDay(retention_days)"),
    settings: None,
    placement: Placement::Everywhere,
};

/// Imported history (see `crate::imports`): the daily aggregate rows of Plausible's export
/// tables, one `kind` per table, under the import they came from. Only imports with a record
/// in `imports` are read.
const IMPORTED: Table = Table {
    name: "imported",
    columns: Columns::Listed(
        "    site LowCardinality(String),
    import_id String,
    kind LowCardinality(String),
    date Date,
    source String,
    referrer String,
    utm_source String,
    utm_medium String,
    utm_campaign String,
    utm_content String,
    utm_term String,
    hostname String,
    page String,
    entry_page String,
    exit_page String,
    event_name String,
    link_url String,
    path String,
    country LowCardinality(String),
    region String,
    city UInt64,
    device LowCardinality(String),
    browser LowCardinality(String),
    browser_version String,
    os LowCardinality(String),
    os_version String,
    visitors UInt64,
    visits UInt64,
    pageviews UInt64,
    events UInt64,
    bounces UInt64,
    visit_duration UInt64",
    ),
    family: Family::MergeTree,
    partition_by: None,
    order_by: "(site, import_id, kind, date)",
    ttl: None,
    settings: None,
    placement: Placement::Everywhere,
};

/// One record per complete import of a site (one version per change; `deleted` hides it).
const IMPORTS: Table = Table {
    name: "imports",
    columns: Columns::Listed(
        "    site LowCardinality(String),
    id String,
    source LowCardinality(String),
    start_date Date,
    end_date Date,
    files Array(String),
    rows UInt64,
    created_at DateTime('UTC'),
    deleted UInt8,
    version UInt64",
    ),
    family: Family::Replacing("version"),
    partition_by: None,
    order_by: "(site, id)",
    ttl: None,
    settings: None,
    placement: Placement::Everywhere,
};

/// The session delta of each inserted event, as the collector used to write it beside the
/// event (see `pipeline::sessions`): the visit's start, the event's time as its end, one
/// event, a page view or not, the engaged time, the entry page on the visit's first page
/// view, (sequence, path) for the exit page, and the visit's first-touch attributes, which
/// every event row carries. One insert per batch then feeds both tables, and the spool holds
/// each event once. On a cluster the view runs on each shard's `events_local` and writes to
/// that shard's `sessions_local`: a visit's events share their visitor id, so its deltas
/// land on one shard, and reports aggregate across shards anyway.
const SESSIONS_FROM_EVENTS: &str = "SELECT site, toDate(session_start) AS day, session_id,
    visitor_id, session_start AS `start`, timestamp AS `end`,
    toUInt64(name = 'pageview') AS pageviews, toUInt64(1) AS events,
    toUInt64(engaged_ms) AS engaged_ms,
    if(session_seq = 1, pathname, '') AS entry_page,
    (session_seq, if(session_seq > 0, pathname, '')) AS `exit`,
    visitor_key, session_hostname AS hostname, referrer, referrer_source, channel,
    utm_source, utm_medium, utm_campaign, utm_content, utm_term, country_code, region, city,
    org, org_type, browser, browser_version, os, os_version, device, retention_days
FROM {events}
WHERE session_start > toDateTime(0)";

fn sessions_view(topology: &Topology) -> Vec<String> {
    // The visit columns of an `events` row: what the store derives the row's session delta
    // from. Rows of earlier versions hold the defaults and derive nothing (their session
    // rows were written directly).
    let mut s = add_columns(&EVENTS, &row::added_in(9), topology);
    s.push(match &topology.cluster {
        None => format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_from_events TO sessions AS {}",
            SESSIONS_FROM_EVENTS.replace("{events}", "events")
        ),
        Some(c) => format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_from_events ON CLUSTER {c} TO sessions_local AS {}",
            SESSIONS_FROM_EVENTS.replace("{events}", "events_local")
        ),
    });
    s
}

/// Migration 15: engagement beacons (`pageleave`, Plausible's `engagement`) no longer count in
/// a visit's `events` (they extend its duration and carry engaged time as before). The view's
/// query is replaced in place, so no insert runs without it.
fn sessions_view_without_engagement(topology: &Topology) -> Vec<String> {
    const ONE: &str = "toUInt64(1) AS events";
    assert!(SESSIONS_FROM_EVENTS.contains(ONE));
    let select = SESSIONS_FROM_EVENTS.replace(
        ONE,
        "toUInt64(name NOT IN ('pageleave', 'engagement')) AS events",
    );
    vec![match &topology.cluster {
        None => format!(
            "ALTER TABLE sessions_from_events MODIFY QUERY {}",
            select.replace("{events}", "events")
        ),
        Some(c) => format!(
            "ALTER TABLE sessions_from_events ON CLUSTER {c} MODIFY QUERY {}",
            select.replace("{events}", "events_local")
        ),
    }]
}

/// `ALTER TABLE .. ADD COLUMN IF NOT EXISTS` for a table, on every node in a cluster.
fn add_columns(table: &Table, columns: &[impl AsRef<str>], topology: &Topology) -> Vec<String> {
    alter_columns(table, "ADD COLUMN IF NOT EXISTS", columns, topology)
}

/// `ALTER TABLE .. MODIFY COLUMN` for a table, on every node in a cluster (a type change
/// rewrites the column part by part in the background; reads convert parts not yet done).
fn modify_columns(table: &Table, columns: &[impl AsRef<str>], topology: &Topology) -> Vec<String> {
    alter_columns(table, "MODIFY COLUMN", columns, topology)
}

/// `ALTER TABLE <table> <action> <column>, ...` on every node of a cluster: a sharded table's
/// local tables and its distributed table alike.
fn alter_columns(
    table: &Table,
    action: &str,
    columns: &[impl AsRef<str>],
    topology: &Topology,
) -> Vec<String> {
    let clauses = columns
        .iter()
        .map(|c| format!("{action} {}", c.as_ref()))
        .collect::<Vec<_>>()
        .join(", ");
    match (&topology.cluster, table.placement) {
        (None, _) => vec![format!("ALTER TABLE {} {clauses}", table.name)],
        (Some(c), Placement::Everywhere) => {
            vec![format!(
                "ALTER TABLE {} ON CLUSTER {c} {clauses}",
                table.name
            )]
        }
        (Some(c), Placement::Sharded(_)) => vec![
            format!("ALTER TABLE {}_local ON CLUSTER {c} {clauses}", table.name),
            format!("ALTER TABLE {} ON CLUSTER {c} {clauses}", table.name),
        ],
    }
}

/// Migration 18: the visit attributes of `sessions` whose values come from short lists
/// (sources, channels, campaigns' source, medium and name, places, organisations, browsers,
/// systems, devices) as `LowCardinality`, as `events` has most of them: breakdowns and filters
/// on visits read dictionary positions instead of strings. Free-form values (referrer URLs,
/// campaign content and term) stay plain strings: with hundreds of thousands of distinct
/// values a dictionary is larger and slower than the strings themselves. Only `sessions`
/// changes: it is written by the store's own view from `events`, so collectors of an earlier
/// version, whose inserts into `events` name the column types they know, keep working.
fn low_cardinality_visits(topology: &Topology) -> Vec<String> {
    let sessions: Vec<String> = [
        "hostname",
        "referrer_source",
        "channel",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "country_code",
        "region",
        "city",
        "org",
        "browser",
        "browser_version",
        "os",
        "os_version",
        "device",
    ]
    .iter()
    .map(|c| format!("{c} SimpleAggregateFunction(any, LowCardinality(String))"))
    .chain(["org_type SimpleAggregateFunction(any, LowCardinality(String)) DEFAULT ''".into()])
    .collect();
    modify_columns(&SESSIONS, &sessions, topology)
}

/// Channel and device names written before migration 13, and Plausible's names for them.
/// (Stored `paid` cannot be told apart any further: it becomes `Paid Other`.)
const LEGACY_CHANNELS: &[(&str, &str)] = &[
    ("direct", "Direct"),
    ("search", "Organic Search"),
    ("social", "Organic Social"),
    ("email", "Email"),
    ("paid", "Paid Other"),
    ("referral", "Referral"),
];
const LEGACY_DEVICES: &[(&str, &str)] = &[
    ("desktop", "Desktop"),
    ("mobile", "Mobile"),
    ("tablet", "Tablet"),
];

/// Migration 13: stored channels, devices, browsers and systems take Plausible's names, as
/// new events get them (`enrich`), in `events` and `sessions`, waiting for the rewrite to
/// finish. Rollups hold report values, so they are dropped and rebuilt by the builder.
fn plausible_names(topology: &Topology) -> Vec<String> {
    use crate::enrich::user_agent::{BROWSER_RENAMES, OS_RENAMES};
    let list = |names: Vec<&str>| {
        names
            .iter()
            .map(|n| {
                assert!(!n.contains('\'') && !n.contains('\\'), "plain names only");
                format!("'{n}'")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let renames = [
        ("channel", LEGACY_CHANNELS),
        ("device", LEGACY_DEVICES),
        ("browser", BROWSER_RENAMES),
        ("os", OS_RENAMES),
    ];
    let set = renames
        .iter()
        .map(|(col, table)| {
            let from = list(table.iter().map(|(f, _)| *f).collect());
            let to = list(table.iter().map(|(_, t)| *t).collect());
            format!("{col} = transform({col}, [{from}], [{to}], {col})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let matching = renames
        .iter()
        .map(|(col, table)| {
            format!(
                "{col} IN ({})",
                list(table.iter().map(|(f, _)| *f).collect())
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    let (suffix, on_cluster) = match &topology.cluster {
        None => ("", String::new()),
        Some(c) => ("_local", format!(" ON CLUSTER {c}")),
    };
    let mut out: Vec<String> = ["events", "sessions"]
        .iter()
        .map(|table| {
            format!(
                "ALTER TABLE {table}{suffix}{on_cluster} UPDATE {set} WHERE {matching} SETTINGS mutations_sync = 2"
            )
        })
        .collect();
    for table in ["rollups", "rollup_days"] {
        out.push(format!("TRUNCATE TABLE IF EXISTS {table}{on_cluster}"));
    }
    out
}

/// `CREATE TABLE` statements for each table, in order.
fn create_all(tables: &[Table], topology: &Topology) -> Vec<String> {
    tables.iter().flat_map(|t| t.create(topology)).collect()
}

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    statements: fn(&Topology) -> Vec<String>,
}

impl Migration {
    pub fn statements(&self, topology: &Topology) -> Vec<String> {
        (self.statements)(topology)
    }
}

/// Every migration, in order. Append only: never edit one that has shipped.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "sites, api_tokens, salts, events",
        statements: |t| create_all(&[SITES, API_TOKENS, SALTS, EVENTS], t),
    },
    Migration {
        version: 2,
        name: "sessions; site exclusions",
        statements: |t| {
            let mut s = SESSIONS.create(t);
            s.extend(add_columns(
                &SITES,
                &["exclude_paths Array(String)", "exclude_ips Array(String)"],
                t,
            ));
            s
        },
    },
    Migration {
        version: 3,
        name: "leads, lead_visitors",
        statements: |t| create_all(&[LEADS, LEAD_VISITORS], t),
    },
    Migration {
        version: 4,
        name: "goals, dashboard_passwords",
        statements: |t| create_all(&[GOALS, DASHBOARD_PASSWORDS], t),
    },
    Migration {
        version: 5,
        name: "webhooks, webhook_outbox",
        statements: |t| create_all(&[WEBHOOKS, WEBHOOK_OUTBOX], t),
    },
    Migration {
        version: 6,
        name: "consent text versions, lead scoring rules",
        statements: |t| {
            let mut s = add_columns(
                &SITES,
                &[
                    "consent_version String DEFAULT '1'",
                    "lead_scoring String DEFAULT ''",
                ],
                t,
            );
            s.extend(add_columns(
                &LEADS,
                &["consent_version String DEFAULT ''"],
                t,
            ));
            s
        },
    },
    Migration {
        version: 7,
        name: "network kind of the visiting organisation",
        statements: |t| {
            let mut s = add_columns(&EVENTS, &row::added_in(7), t);
            s.extend(add_columns(
                &SESSIONS,
                &["org_type SimpleAggregateFunction(any, String) DEFAULT ''"],
                t,
            ));
            s
        },
    },
    Migration {
        version: 8,
        name: "daily rollups",
        statements: |t| create_all(&[ROLLUPS, ROLLUP_DAYS], t),
    },
    Migration {
        version: 9,
        name: "sessions derived from events by a materialized view",
        statements: sessions_view,
    },
    Migration {
        version: 10,
        name: "dashboard sessions ended by sign-out",
        statements: |t| DASHBOARD_SESSIONS_ENDED.create(t),
    },
    Migration {
        version: 11,
        name: "exclude_paths in the one path-pattern syntax",
        // 0: written when `*` crossed `/` (read as `**`, `path_pattern::from_crossing_glob`);
        // 1: `*` within a segment, `**` across, as everywhere else.
        statements: |t| add_columns(&SITES, &["exclude_paths_syntax UInt8 DEFAULT 0"], t),
    },
    Migration {
        version: 12,
        name: "leads in the daily rollups",
        // Builds from before hold 0, which is exact: no lead was counted as an event then.
        statements: |t| add_columns(&ROLLUPS, &["leads UInt64 DEFAULT 0"], t),
    },
    Migration {
        version: 13,
        name: "Plausible's names for channels, devices, browsers and operating systems",
        statements: plausible_names,
    },
    Migration {
        version: 14,
        name: "imported history (Plausible exports)",
        statements: |t| create_all(&[IMPORTED, IMPORTS], t),
    },
    Migration {
        version: 15,
        name: "engagement beacons are not a visit's events",
        statements: sessions_view_without_engagement,
    },
    Migration {
        version: 16,
        name: "saved segments",
        statements: |t| SEGMENTS.create(t),
    },
    Migration {
        version: 17,
        name: "privacy center: contact preferences, sign-in links, mail outbox, recipient names",
        statements: |t| {
            let mut s = add_columns(
                &LEADS,
                &[
                    "frequency LowCardinality(String) DEFAULT ''",
                    "topics Array(String) DEFAULT []",
                ],
                t,
            );
            s.extend(add_columns(
                &SITES,
                &["privacy_center String DEFAULT ''"],
                t,
            ));
            s.extend(add_columns(&WEBHOOKS, &["name String DEFAULT ''"], t));
            s.extend(create_all(&[PRIVACY_LINKS, MAIL_OUTBOX], t));
            s
        },
    },
    Migration {
        version: 18,
        name: "visit attributes of sessions from short lists as LowCardinality",
        statements: low_cardinality_visits,
    },
    Migration {
        version: 19,
        name: "filtered daily rollups",
        // Builds from before hold no filters and rule 0: the builder builds them again.
        // Until then their rows read `bounce_visits` as `visits`, which it is unfiltered.
        statements: |t| {
            let mut s = add_columns(
                &ROLLUP_DAYS,
                &[
                    "filters Array(String) DEFAULT []",
                    "filter_rule UInt8 DEFAULT 0",
                ],
                t,
            );
            s.extend(add_columns(
                &ROLLUPS,
                &["bounce_visits UInt64 DEFAULT visits"],
                t,
            ));
            s
        },
    },
];

/// Every statement `migrate` may run, the bookkeeping table first (for DDL checks).
pub fn all_statements(topology: &Topology) -> Vec<String> {
    let mut out = MIGRATIONS_TABLE.create(topology);
    for m in MIGRATIONS {
        out.extend(m.statements(topology));
    }
    out
}

/// The versions recorded in `schema_migrations`.
async fn applied_versions(store: &dyn Store) -> Result<Vec<u32>, StoreError> {
    #[derive(Deserialize)]
    struct Applied {
        version: u32,
    }
    Ok(fetch::<Applied>(
        store,
        "SELECT DISTINCT version FROM schema_migrations",
        &Params::new(),
    )
    .await?
    .into_iter()
    .map(|a| a.version)
    .collect())
}

/// The migrations this store has not recorded yet, in order, without changing anything (a
/// store that has none recorded yet — a new one — lacks them all).
pub async fn pending(store: &dyn Store) -> Result<Vec<&'static Migration>, StoreError> {
    #[derive(Deserialize)]
    struct Count {
        n: u64,
    }
    let exists = fetch::<Count>(
        store,
        "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations'",
        &Params::new(),
    )
    .await?;
    if exists.first().map_or(0, |c| c.n) == 0 {
        return Ok(MIGRATIONS.iter().collect());
    }
    let applied = applied_versions(store).await?;
    Ok(MIGRATIONS
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect())
}

/// Applies every migration not yet recorded, in order; a statement that fails stops it there
/// with an error naming the migration (later ones do not run, and the caller — the server at
/// start — does not go on). Forward only; every statement is idempotent (`IF NOT EXISTS`,
/// renames that match only old values), so a migration cut short runs again whole. Returns
/// the versions applied now.
pub async fn migrate(store: &dyn Store, topology: &Topology) -> Result<Vec<u32>, StoreError> {
    migrate_up_to(store, topology, u32::MAX).await
}

/// `migrate`, stopping after version `last` (a staged upgrade; the upgrade tests build stores
/// of an earlier schema with it).
pub async fn migrate_up_to(
    store: &dyn Store,
    topology: &Topology,
    last: u32,
) -> Result<Vec<u32>, StoreError> {
    for sql in MIGRATIONS_TABLE.create(topology) {
        store.execute(&sql, &Params::new()).await?;
    }
    let applied = applied_versions(store).await?;
    let mut now_applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version <= last) {
        if applied.contains(&m.version) {
            continue;
        }
        for sql in m.statements(topology) {
            store
                .execute(&sql, &Params::new())
                .await
                .map_err(|e| StoreError::Query {
                    code: e.code(),
                    message: format!(
                        "migration {} ({}) failed, so it and the ones after it were not applied: {e}",
                        m.version, m.name
                    ),
                })?;
        }
        store
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES ({version:UInt32}, {name:String})",
                &Params::new().with("version", m.version).with("name", m.name),
            )
            .await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        now_applied.push(m.version);
    }
    #[derive(Deserialize)]
    struct Current {
        db: String,
    }
    let current = fetch::<Current>(store, "SELECT currentDatabase() AS db", &Params::new())
        .await?
        .pop()
        .ok_or_else(|| StoreError::Decode("no current database".into()))?;
    for sql in analyst_views(&current.db, topology)? {
        store.execute(&sql, &Params::new()).await?;
    }
    Ok(now_applied)
}

/// What analysts may read through `/api/v1/sql`, as views in their own database (see
/// `crate::store::analyst_database`). Derived, not data: remade at every start so they follow the
/// tables. `events` leaves out `visitor_key` (the hashed first-party id that links a visit to
/// a lead); `sessions` likewise.
pub fn analyst_views(database: &str, topology: &Topology) -> Result<Vec<String>, StoreError> {
    if !crate::store::is_valid_name(database) {
        return Err(StoreError::Query {
            code: None,
            message: format!("database name {database:?} is not a plain identifier"),
        });
    }
    let analyst = crate::store::analyst_database(database);
    let on_cluster = topology
        .cluster
        .as_ref()
        .map(|c| format!(" ON CLUSTER {c}"))
        .unwrap_or_default();
    let view = |name: &str, select: &str| {
        format!("CREATE OR REPLACE VIEW {analyst}.{name}{on_cluster} AS {select} FROM {database}.{name}")
    };
    Ok(vec![
        format!("CREATE DATABASE IF NOT EXISTS {analyst}{on_cluster}"),
        view("events", "SELECT * EXCEPT (visitor_key)"),
        view("sessions", "SELECT * EXCEPT (visitor_key)"),
        view("goals", "SELECT *"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `events` DDL as migrations 1, 7 and 9 wrote it before the columns were derived
    /// from `pipeline::row`: shipped migrations must produce the same statements.
    const EVENTS_COLUMNS_OF_MIGRATION_1: &str = "    event_id UUID,
    timestamp DateTime('UTC'),
    site LowCardinality(String),
    name LowCardinality(String),
    hostname LowCardinality(String),
    pathname String,
    referrer String,
    referrer_source LowCardinality(String),
    channel LowCardinality(String),
    utm_source String,
    utm_medium String,
    utm_campaign String,
    utm_content String,
    utm_term String,
    country_code LowCardinality(String),
    region LowCardinality(String),
    city String,
    org String,
    browser LowCardinality(String),
    browser_version LowCardinality(String),
    os LowCardinality(String),
    os_version LowCardinality(String),
    device LowCardinality(String),
    screen_width UInt16,
    visitor_id UInt64,
    session_id UInt64,
    visitor_key String,
    consent LowCardinality(String),
    engaged_ms UInt32,
    props Map(String, String),
    retention_days UInt16 DEFAULT 400";
    const EVENTS_COLUMNS_OF_MIGRATION_7: &[&str] = &["org_type LowCardinality(String) DEFAULT ''"];
    const EVENTS_COLUMNS_OF_MIGRATION_9: &[&str] = &[
        "session_start DateTime('UTC') DEFAULT 0",
        "session_seq UInt32 DEFAULT 0",
        "session_hostname LowCardinality(String) DEFAULT ''",
    ];

    #[test]
    fn events_ddl_derived_from_the_row_is_the_shipped_ddl() {
        let listed = || Table {
            columns: Columns::Listed(EVENTS_COLUMNS_OF_MIGRATION_1),
            ..EVENTS
        };
        for t in [
            Topology::default(),
            Topology {
                cluster: Some("analytics".into()),
            },
        ] {
            assert_eq!(EVENTS.create(&t), listed().create(&t));
            let version = |v: u32| {
                MIGRATIONS
                    .iter()
                    .find(|m| m.version == v)
                    .expect("migration")
                    .statements(&t)
            };
            assert_eq!(
                version(1),
                create_all(&[SITES, API_TOKENS, SALTS, listed()], &t)
            );
            let mut seven = add_columns(&EVENTS, EVENTS_COLUMNS_OF_MIGRATION_7, &t);
            seven.extend(add_columns(
                &SESSIONS,
                &["org_type SimpleAggregateFunction(any, String) DEFAULT ''"],
                &t,
            ));
            assert_eq!(version(7), seven);
            let nine = version(9);
            let adds = add_columns(&EVENTS, EVENTS_COLUMNS_OF_MIGRATION_9, &t);
            assert_eq!(nine[..adds.len()], adds[..]);
        }
    }

    #[test]
    fn the_session_view_carries_every_visit_attribute_of_the_row() {
        let sessions = SESSIONS.columns.ddl();
        for c in row::COLUMNS.iter().filter(|c| c.visit_attribute) {
            let named = SESSIONS_FROM_EVENTS
                .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .any(|w| w == c.name);
            assert!(named, "{} missing from SESSIONS_FROM_EVENTS", c.name);
            assert!(
                sessions.contains(&format!("    {} ", c.name)) || c.name == "org_type",
                "{} missing from sessions",
                c.name
            );
        }
    }

    #[test]
    fn migration_18_retypes_only_the_sessions_visit_columns_from_short_lists() {
        let statements = |t: &Topology| {
            MIGRATIONS
                .iter()
                .find(|m| m.version == 18)
                .expect("migration 18")
                .statements(t)
        };
        let single = statements(&Topology::default());
        assert_eq!(single.len(), 1);
        assert!(single[0].starts_with("ALTER TABLE sessions MODIFY COLUMN hostname SimpleAggregateFunction(any, LowCardinality(String)), "));
        assert!(single[0]
            .contains("MODIFY COLUMN city SimpleAggregateFunction(any, LowCardinality(String))"));
        assert!(single[0].ends_with("MODIFY COLUMN org_type SimpleAggregateFunction(any, LowCardinality(String)) DEFAULT ''"));
        // Free-form values stay strings; `events` is not touched (earlier collectors insert
        // into it naming its types).
        for kept in [
            "referrer ",
            "utm_content",
            "utm_term",
            "entry_page",
            "events",
        ] {
            assert!(
                !single[0].contains(&format!("MODIFY COLUMN {kept}")),
                "{kept}"
            );
        }
        let cluster = statements(&Topology {
            cluster: Some("analytics".into()),
        });
        assert_eq!(cluster.len(), 2);
        assert!(
            cluster[0].starts_with("ALTER TABLE sessions_local ON CLUSTER analytics MODIFY COLUMN")
        );
        assert!(cluster[1].starts_with("ALTER TABLE sessions ON CLUSTER analytics MODIFY COLUMN"));
    }

    #[test]
    fn single_node_ddl_has_no_cluster_clause() {
        let all = all_statements(&Topology::default()).join("\n");
        assert!(!all.contains("ON CLUSTER"));
        assert!(!all.contains("Replicated"));
        assert!(all.contains("TTL timestamp + toIntervalDay(retention_days)"));
    }

    #[test]
    fn cluster_ddl_is_replicated_and_distributed() {
        let t = Topology {
            cluster: Some("analytics".into()),
        };
        let all = all_statements(&t);
        assert!(all.iter().all(|s| s.contains("ON CLUSTER analytics")));
        assert!(all.iter().any(|s| s.contains("CREATE TABLE IF NOT EXISTS events_local") && s.contains("ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/events_local', '{replica}')")));
        assert!(all.iter().any(|s| s.contains("ENGINE = Distributed(analytics, currentDatabase(), events_local, sipHash64(site, visitor_id))")));
        assert!(all.iter().any(|s| s.contains("ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/sites', '{replica}', version)")));
    }
}
