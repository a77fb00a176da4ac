//! What the benchmarks share.

use candor::sites::{Site, SiteDomain};
use serde_json::{json, Value};

/// libchdb as `candor serve` finds it: `CANDOR_LIBCHDB`, else the pinned copy under `.cache/`.
pub fn libchdb() -> std::path::PathBuf {
    std::env::var_os("CANDOR_LIBCHDB")
        .map(Into::into)
        .unwrap_or_else(candor::config::default_libchdb_path)
}

/// The seeded site of the report benchmarks, in UTC.
pub fn site(domain: &str) -> anyhow::Result<Site> {
    Ok(Site {
        domain: SiteDomain::parse(domain)?,
        timezone: "UTC".into(),
        retention_days: 400,
        allowed_origins: vec![],
        exclude_paths: vec![],
        exclude_ips: vec![],
        created_at: 0,
        consent_version: "1".into(),
        lead_scoring: Default::default(),
        privacy_center: Default::default(),
    })
}

/// What the dashboard asks for when it opens a 30-day view.
pub fn dashboard_queries(site: &str) -> Vec<(&'static str, Value)> {
    let q = |metrics: Value, dims: Value| json!({"site_id": site, "metrics": metrics, "date_range": "30d", "dimensions": dims, "pagination": {"limit": 9}});
    let mut top = q(
        json!([
            "visitors",
            "visits",
            "pageviews",
            "views_per_visit",
            "bounce_rate",
            "visit_duration"
        ]),
        json!([]),
    );
    top["include"] = json!({"comparisons": {"mode": "previous_period"}});
    let mut chart = q(json!(["visitors"]), json!(["time:day"]));
    chart["include"] = json!({"time_labels": true});
    let mut out = vec![
        ("top stats + previous period", top),
        ("chart by day", chart),
    ];
    for (label, dim) in [
        ("channels", "visit:channel"),
        ("sources", "visit:source"),
        ("referrers", "visit:referrer"),
        ("utm sources", "visit:utm_source"),
        ("top pages", "event:page"),
        ("entry pages", "visit:entry_page"),
        ("exit pages", "visit:exit_page"),
        ("countries", "visit:country"),
        ("regions", "visit:region"),
        ("cities", "visit:city"),
        ("devices", "visit:device"),
        ("browsers", "visit:browser"),
        ("operating systems", "visit:os"),
        ("organisations", "visit:org"),
    ] {
        let metrics = match dim {
            "event:page" => json!(["visitors", "pageviews"]),
            "visit:entry_page" | "visit:exit_page" => json!(["visits"]),
            _ => json!(["visitors"]),
        };
        out.push((label, q(metrics, json!([dim]))));
    }
    out.push((
        "goals",
        q(
            json!(["visitors", "events", "conversion_rate"]),
            json!(["event:goal"]),
        ),
    ));
    let mut live = q(json!(["visitors"]), json!([]));
    live["date_range"] = json!("realtime");
    out.push(("current visitors", live));
    out
}
