//! `GET /privacy.json?site=` and `GET /privacy?site=`: what Candor collects for a site, generated
//! from the site's actual configuration, with a paragraph a site owner can paste into a policy.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, AppState};

#[derive(Deserialize)]
pub struct SiteQuery {
    site: String,
}

/// The statement as data; the HTML page renders the same document.
pub fn statement(state: &AppState, domain: &str) -> Result<Value, ApiError> {
    let site = state
        .sites
        .get(domain)
        .ok_or_else(|| ApiError::not_found("unknown site: register it first").field("site"))?;
    let geo = !state.config.geoip_db.is_empty();
    let org = !state.config.org_db.is_empty();
    let mut collected = vec![
        json!({"item": "page", "detail": "the page's host name and path; the query string is dropped except campaign (utm_*) parameters"}),
        json!({"item": "referrer", "detail": "the referring site's host and path, never its query string, and the source and channel derived from it"}),
        json!({"item": "device", "detail": "browser, operating system and their major versions, device class and screen width, derived from the user agent, which itself is not stored"}),
        json!({"item": "events", "detail": "the event name, time and custom properties the site sends"}),
        json!({"item": "visitor_id", "detail": "a pseudonymous daily visitor id: HMAC-SHA256 of a random daily salt, the site, the IP address and the user agent, truncated to 64 bits"}),
        json!({"item": "session", "detail": "a random visit id; a visit ends after 30 minutes of inactivity"}),
    ];
    // Which databases: the defaults Candor fetches, by name, or the operator's own.
    let geo_source = if state.config.geoip_is_default() {
        "IP Geolocation by DB-IP (db-ip.com), DB-IP City Lite, CC BY 4.0, kept on this server"
    } else {
        "a GeoIP database kept on this server"
    };
    let org_source = if state.config.org_db_is_default() {
        "the ip-location-db ASN lists (RouteViews and DB-IP, CC BY 4.0), kept on this server"
    } else {
        "an ASN/ISP database kept on this server"
    };
    if geo {
        collected.push(json!({"item": "location", "detail": format!("country, region and city looked up from the IP address, which itself is not stored, in {geo_source}")}));
    }
    if org {
        collected.push(json!({"item": "organisation", "detail": format!("the network owner (company or provider) looked up from the IP address in {org_source}")}));
    }
    let geo_text = match (geo, org) {
        (true, true) => {
            "the country, region and city and the network's organisation derived from it"
        }
        (true, false) => "the country, region and city derived from it",
        (false, true) => "the network's organisation derived from it",
        (false, false) => "nothing derived from it",
    };
    let center = format!(
        "{}/privacy/center?site={}",
        state.config.public_url, site.domain
    );
    let paragraph = format!(
        "This website ({domain}) uses Candor, a self-hosted analytics tool, to count visits without cookies. \
         For each page view it records the page, the referring site, the browser, operating system and device class{geo_clause}, \
         and a visitor identifier computed from a daily random salt, your IP address and browser; the salt is destroyed after two days, \
         so visits cannot be linked across days and the identifier cannot be traced back to you. Your IP address and full browser \
         string are never stored. Data is kept for {days} days. If your browser sends Do Not Track or Global Privacy Control, nothing \
         is recorded. Only if you consent to marketing does the site keep a random identifier in your browser, and only if you submit \
         a form marked for it are your email, name and company stored, encrypted. You can withdraw consent or opt out at any time, \
         and see, correct, download or erase what the site holds about you in its privacy center: {center}.",
        center = center,
        domain = site.domain,
        geo_clause = if geo { ", the country and city of your network" } else { "" },
        days = site.retention_days,
    );
    Ok(json!({
        "site": site.domain,
        "collector": format!("Candor {}", env!("CARGO_PKG_VERSION")),
        "cookieless_by_default": true,
        "collected": collected,
        "never_collected": [
            "your IP address (used in memory for the visitor id, rate limiting and any lookup, then discarded)",
            "your full user-agent string",
            "the query string of the referring page",
            "form fields that the site did not explicitly mark for capture (never passwords or hidden fields)",
            "the random identifier kept in your browser with marketing consent (only a keyed hash of it)"
        ],
        "ip_address": {"stored": false, "used_for": format!("the daily visitor id, rate limiting, and {geo_text}")},
        "salt_rotation": "a new random 32-byte salt every UTC day, shared by the site's collectors, destroyed after two days",
        "retention_days": site.retention_days,
        "enrichment": {
            "geoip": geo,
            "organisation": org,
            "geoip_database": geo.then_some(geo_source),
            "organisation_database": org.then_some(org_source),
        },
        "signals": {
            "do_not_track": "honoured: a request with DNT: 1 stores nothing",
            "global_privacy_control": "honoured: a request with Sec-GPC: 1 stores nothing",
            "automated_browsers": "not counted"
        },
        "consent_levels": {
            "none": "cookieless counting only; nothing is stored in your browser",
            "analytics": "the same as none: cookieless counting, nothing stored in your browser",
            "marketing": "a random first-party identifier is kept in your browser; the site stores only a keyed hash of it, which links your later visits, and a form you submit can link your contact details (stored encrypted) to those visits"
        },
        "excluded_paths": site.exclude_paths,
        "opt_out": [
            "turn on Do Not Track or Global Privacy Control in your browser",
            "call candor.optOut() on the site (remembered in your browser), or use the site's consent banner",
            "withdrawing marketing consent deletes the identifier from your browser and marks any lead as opted out"
        ],
        "erasure": "erase yourself in the privacy center after proving your address with a link sent to it, or ask the site owner: your contact details, the keyed hash of your email address and the key that linked your visits to you are removed from every table, and connected CRM systems are notified",
        "privacy_center": {
            "url": center,
            "what": "see what the site collects and change this browser's consent; with a link sent to your address, see, correct, download or erase what it holds about you and choose how often you hear from it",
            "sign_in_by_mail": state.mailer.configured(),
        },
        "policy_paragraph": paragraph,
    }))
}

pub async fn json_statement(
    state: web::Data<AppState>,
    q: web::Query<SiteQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .json(statement(&state, &q.site)?))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn list(v: &Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|i| match i {
            Value::Object(o) => format!(
                "<li><strong>{}</strong>: {}</li>",
                escape(o.get("item").and_then(Value::as_str).unwrap_or("")),
                escape(o.get("detail").and_then(Value::as_str).unwrap_or(""))
            ),
            other => format!("<li>{}</li>", escape(other.as_str().unwrap_or(""))),
        })
        .collect()
}

pub async fn html_statement(
    state: web::Data<AppState>,
    q: web::Query<SiteQuery>,
) -> Result<HttpResponse, ApiError> {
    let s = statement(&state, &q.site)?;
    let text = |k: &str| escape(s[k].as_str().unwrap_or(""));
    let levels: String = ["none", "analytics", "marketing"]
        .iter()
        .map(|l| {
            format!(
                "<li><strong>{l}</strong>: {}</li>",
                escape(s["consent_levels"][l].as_str().unwrap_or(""))
            )
        })
        .collect();
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>What {site} collects</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}}h1{{font-size:1.6rem}}blockquote{{background:#f4f4f4;border-left:4px solid #555;margin:1rem 0;padding:.75rem 1rem}}</style>
</head><body><main>
<h1>What {site} collects, and what it does not</h1>
<p>Generated by {collector} from this site's configuration. Machine-readable: <a href="/privacy.json?site={site_q}">privacy.json</a>.</p>
<h2>Collected for each visit</h2><ul>{collected}</ul>
<h2>Never collected</h2><ul>{never}</ul>
<h2>Identifiers</h2><p>{salt}. Retention: {days} days.</p>
<h2>Consent</h2><ul>{levels}</ul>
<h2>Your choices</h2><ul>{opt_out}</ul><p>{erasure}.</p>
<p><a href="{center_href}">Open the privacy center</a>: {center_what}.</p>
<h2>For the site's privacy policy</h2><blockquote>{paragraph}</blockquote>
</main></body></html>"#,
        site = text("site"),
        site_q = escape(&q.site),
        collector = text("collector"),
        collected = list(&s["collected"]),
        never = list(&s["never_collected"]),
        salt = escape(&format!(
            "Visitor ids use {}",
            s["salt_rotation"].as_str().unwrap_or("")
        )),
        days = s["retention_days"],
        levels = levels,
        opt_out = list(&s["opt_out"]),
        erasure = text("erasure"),
        center_href = escape(s["privacy_center"]["url"].as_str().unwrap_or("")),
        center_what = escape(s["privacy_center"]["what"].as_str().unwrap_or("")),
        paragraph = text("policy_paragraph"),
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(html))
}
