//! `POST /api/event`: transport checks (content type, size), validation, site and Origin,
//! rate limits, then the pipeline. Status codes per the contract: 202 stored durably, 204
//! deliberately not stored (`X-Candor-Drop`), 400/403/413/415/429/503, never 500 for input.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde_json::json;

use super::json::read_body;
use super::rate_limit::RateLimited;
use super::{ApiError, AppState};
use crate::pipeline::spool::SpoolError;
use crate::pipeline::{DropReason, IngestError, RequestFacts};
use crate::privacy;
use crate::sites::{Site, SiteDomain};

/// Whether a browser Origin may send beacons for a site: the site's domain and its
/// subdomains on any scheme and port, plus the site's configured origins.
pub fn origin_allowed(origin: &str, site: &Site) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let Some(host) = url.host_str().map(|h| h.to_ascii_lowercase()) else {
        return false;
    };
    let domain = site.domain.as_str();
    if host == domain || host.ends_with(&format!(".{domain}")) {
        return true;
    }
    let normalised = origin.trim_end_matches('/').to_ascii_lowercase();
    site.allowed_origins
        .iter()
        .any(|allowed| match allowed.strip_prefix("*.") {
            Some(parent) => host == parent || host.ends_with(&format!(".{parent}")),
            None => *allowed == normalised,
        })
}

pub fn with_cors(mut builder: HttpResponseBuilder, origin: Option<&str>) -> HttpResponseBuilder {
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        builder.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, o));
        builder.insert_header((header::VARY, "Origin"));
    }
    builder
}

pub fn cors_error(e: ApiError, origin: Option<&str>) -> HttpResponse {
    let mut b = with_cors(HttpResponse::build(e.status), origin);
    if let Some(secs) = e.retry_after {
        b.insert_header((header::RETRY_AFTER, secs.to_string()));
    }
    b.json(json!({"error": e.message, "field": e.field}))
}

/// The registered site, if the Origin (when the browser sent one) may send data for it.
pub fn site_for(
    state: &AppState,
    domain: &str,
    origin: Option<&str>,
) -> Result<Arc<Site>, ApiError> {
    let site = SiteDomain::parse(domain)
        .ok()
        .and_then(|d| state.sites.get_shared(&d));
    allowed_site(site, domain, origin)
}

/// A site looked up for a beacon: 403 when unknown or when the Origin may not send for it.
fn allowed_site(
    site: Option<Arc<Site>>,
    domain: &str,
    origin: Option<&str>,
) -> Result<Arc<Site>, ApiError> {
    let site = site.ok_or_else(|| {
        ApiError::forbidden(format!(
            "unknown site \"{}\"",
            domain.chars().take(100).collect::<String>()
        ))
        .field("site")
    })?;
    if let Some(o) = origin {
        if !origin_allowed(o, &site) {
            return Err(ApiError::forbidden(
                "this Origin may not send data for this site",
            ));
        }
    }
    Ok(site)
}

/// The request's Origin header, if any.
pub fn origin_of(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Transport checks shared by every beacon endpoint: JSON or text/plain (sendBeacon) only, and
/// at most `max_event_bytes`.
pub async fn read_beacon(
    state: &AppState,
    req: &HttpRequest,
    payload: &mut web::Payload,
) -> Result<web::BytesMut, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !(mime.is_empty()
        || mime.eq_ignore_ascii_case("application/json")
        || mime.eq_ignore_ascii_case("text/plain"))
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json or text/plain",
        ));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    // A body trickled in a byte at a time would hold its connection for as long as the client
    // likes: it has `http.body_timeout` to arrive (the head has `http.request_timeout`). A
    // beacon's body nearly always came in the same packets as its head: read what is there
    // first, and arm the timer only for a body still on its way.
    let mut read = std::pin::pin!(read_body(payload, declared, state.config.max_event_bytes));
    if let std::task::Poll::Ready(body) = futures_util::poll!(read.as_mut()) {
        return body;
    }
    tokio::time::timeout(state.config.http.body_timeout, read)
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            ))
        })
}

/// The body of every 202, written once rather than serialised per beacon.
const ACCEPTED: &str = r#"{"status":"accepted"}"#;

fn accepted(origin: Option<&str>) -> HttpResponse {
    with_cors(HttpResponse::Accepted(), origin)
        .content_type(header::ContentType::json())
        .body(ACCEPTED)
}

/// 202 on success, or the error with CORS headers for the Origin.
pub fn accepted_or(result: Result<(), ApiError>, origin: Option<&str>) -> HttpResponse {
    match result {
        Ok(()) => accepted(origin),
        Err(e) => cors_error(e, origin),
    }
}

/// 204 for a beacon deliberately not stored, naming why in `X-Candor-Drop`.
pub fn dropped(reason: DropReason, origin: Option<&str>) -> HttpResponse {
    with_cors(HttpResponse::NoContent(), origin)
        .insert_header(("X-Candor-Drop", reason.as_str()))
        .finish()
}

/// The per-client and per-site beacon limits, shared by every beacon route (`/api/event`,
/// `/api/identify`, `/api/optout`) through one limiter (`AppState::rate_limits`). Returns the client's
/// address (resolved through the trusted proxies).
pub fn check_beacon_rate(
    state: &AppState,
    req: &HttpRequest,
    site: &str,
) -> Result<std::net::IpAddr, ApiError> {
    let ip = privacy::client::client_ip(req, &state.config.trusted_proxies)
        .ok_or_else(|| ApiError::bad_request("no client address"))?;
    state.rate_limits.check(site, ip)?;
    Ok(ip)
}

/// CORS preflight. The real check happens on the POST, when the site is known.
pub async fn preflight(req: HttpRequest) -> HttpResponse {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    with_cors(HttpResponse::NoContent(), origin)
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish()
}

pub async fn event(
    state: web::Data<AppState>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> HttpResponse {
    let origin_header = origin_of(&req);
    let origin = origin_header.as_deref();
    let body = match read_beacon(&state, &req, &mut payload).await {
        Ok(b) => b,
        Err(e) => return cors_error(e, origin),
    };
    let beacon = match state.pipeline.validate(&body) {
        Ok(b) => b,
        Err(inv) => return cors_error(ApiError::bad_request(inv.message).field(inv.field), origin),
    };
    // A 403 for the site or the Origin carries no CORS grant.
    let site = state.sites.get_shared(&beacon.site);
    let site = match allowed_site(site, beacon.site.as_str(), origin) {
        Ok(s) => s,
        Err(e) => return cors_error(e, None),
    };
    let ip = match check_beacon_rate(&state, &req, site.domain.as_str()) {
        Ok(ip) => ip,
        Err(e) => return cors_error(e, origin),
    };
    match state
        .pipeline
        .ingest(beacon, &site, &request_facts(&state, &req, ip))
        .await
    {
        Ok(None) => accepted(origin),
        Ok(Some(reason)) => dropped(reason, origin),
        Err(e) => cors_error(e.into(), origin),
    }
}

/// What the pipeline may know of a beacon's request: the client address (already resolved
/// through the trusted proxies), user agent, privacy signals and the application's time.
pub fn request_facts<'r>(
    state: &AppState,
    req: &'r HttpRequest,
    ip: std::net::IpAddr,
) -> RequestFacts<'r> {
    RequestFacts {
        ip,
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        dnt: privacy::do_not_track(req.headers()),
        gpc: privacy::global_privacy_control(req.headers()),
        now_ms: state.clock.unix_millis(),
    }
}

/// Over a beacon limit: 429 with `Retry-After`.
impl From<RateLimited> for ApiError {
    fn from(e: RateLimited) -> ApiError {
        ApiError {
            retry_after: Some(e.retry_after_secs),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate limited; retry later")
        }
    }
}

/// Ingestion failures as contract statuses: 503 for everything that clears up on its own (spool full, disk full, shutting down, salt not loaded, disk trouble).
impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> ApiError {
        match e {
            IngestError::Spool(SpoolError::Full(_)) => ApiError::unavailable(
                "the spool is full (the store is unreachable); retry later",
                30,
            ),
            IngestError::Spool(SpoolError::NoSpace) => {
                ApiError::unavailable("the collector's disk is full; retry later", 30)
            }
            IngestError::Spool(SpoolError::Closed) => {
                ApiError::unavailable("shutting down; retry shortly", 5)
            }
            IngestError::Spool(e) => {
                tracing::error!(error = %e, "spool append failed");
                ApiError::unavailable("cannot store the event right now; retry shortly", 5)
            }
            IngestError::NoSalt => {
                ApiError::unavailable("not ready: visitor-id salt not loaded", 5)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sites::SiteDomain;

    fn site(origins: &[&str]) -> Site {
        Site {
            domain: SiteDomain::parse("example.com").unwrap(),
            timezone: "UTC".into(),
            retention_days: 400,
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            exclude_paths: vec![],
            exclude_ips: vec![],
            created_at: 0,
            consent_version: "1".into(),
            lead_scoring: Default::default(),
            privacy_center: Default::default(),
        }
    }

    #[test]
    fn origins_default_to_the_domain_and_subdomains() {
        let s = site(&[]);
        for ok in [
            "https://example.com",
            "http://example.com:8080",
            "https://shop.example.com",
        ] {
            assert!(origin_allowed(ok, &s), "{ok}");
        }
        for bad in [
            "https://evil.com",
            "https://example.com.evil.com",
            "https://notexample.com",
            "null",
        ] {
            assert!(!origin_allowed(bad, &s), "{bad}");
        }
        let s = site(&["https://checkout.partner.net", "*.cdn.net"]);
        assert!(origin_allowed("https://checkout.partner.net", &s));
        assert!(!origin_allowed("http://checkout.partner.net", &s));
        assert!(origin_allowed("https://a.cdn.net", &s));
    }
}
