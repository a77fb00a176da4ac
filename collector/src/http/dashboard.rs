//! The dashboard: its embedded files at `/dashboard/`, sign-in with an API token or a site's
//! dashboard password into an HttpOnly, SameSite=Strict session cookie, sign-out that ends
//! the session server-side, and the admin routes that set a site's dashboard password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::admin::admin_site;
use super::assets::{index, respond, Asset};
use super::json::Json;
use super::{ApiError, AppState};
use crate::auth::dashboard::{COOKIE, MIN_PASSWORD_CHARS, SESSION_SECS};
use crate::auth::{Principal, Scope};
use crate::privacy::client;

include!(concat!(env!("OUT_DIR"), "/dashboard_files.rs"));

/// The dashboard's files: those built into the binary, or, for work on the dashboard, the
/// files of `CANDOR_DASHBOARD_DIR` (a `make dashboard` output directory), read once at the
/// first request, so a rebuilt dashboard needs a restart rather than a rebuilt binary.
static FILES: LazyLock<&'static [(&'static str, &'static [u8])]> =
    LazyLock::new(|| match std::env::var_os("CANDOR_DASHBOARD_DIR") {
        Some(dir) => from_dir(std::path::Path::new(&dir)),
        None => DASHBOARD_FILES,
    });

static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| index(*FILES));

fn from_dir(dir: &std::path::Path) -> &'static [(&'static str, &'static [u8])] {
    let mut files: Vec<(&'static str, &'static [u8])> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let body = std::fs::read(e.path()).ok()?;
            Some((
                &*Box::leak(name.into_boxed_str()),
                &*Box::leak(body.into_boxed_slice()),
            ))
        })
        .collect();
    files.sort();
    tracing::info!(dir = %dir.display(), files = files.len(), "dashboard files from CANDOR_DASHBOARD_DIR");
    Box::leak(files.into_boxed_slice())
}

const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn built() -> bool {
    !FILES.is_empty()
}

pub async fn redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/dashboard/"))
        .finish()
}

pub async fn file(
    req: HttpRequest,
    path: Option<web::Path<String>>,
) -> Result<HttpResponse, ApiError> {
    let name = path
        .map(|p| p.into_inner())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "index.html".into());
    let Some(asset) = ASSETS.get(name.as_str()) else {
        return Err(if FILES.is_empty() {
            ApiError::not_found(
                "the dashboard was not built into this binary; run make dashboard and rebuild",
            )
        } else {
            ApiError::not_found(format!(
                "no dashboard file named {}",
                name.chars().take(80).collect::<String>()
            ))
        });
    };
    let content_type = match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "application/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    Ok(respond(&req, asset, content_type, |r| {
        r.insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header(("Referrer-Policy", "same-origin"));
    }))
}

/// The principal of the request's dashboard cookie, if any.
pub fn session_principal(state: &AppState, req: &HttpRequest) -> Option<Principal> {
    let cookie = req.cookie(COOKIE)?;
    state.dashboard.principal(cookie.value(), &state.tokens)
}

fn sites_of(state: &AppState, principal: &Principal) -> serde_json::Value {
    let sites: Vec<serde_json::Value> = state
        .sites
        .list()
        .into_iter()
        .filter(|s| principal.may_access_site(s.domain.as_str()))
        .map(|s| {
            json!({
                "domain": s.domain,
                "timezone": s.timezone,
                // The People section (names, companies) only for sessions that may read leads.
                "leads": principal.has_scope(Scope::LeadsRead),
                // Settings (goals, passwords, tokens, the site) only for admin sessions.
                "admin": principal.has_scope(Scope::Admin),
            })
        })
        .collect();
    // DB-IP's licence (CC BY 4.0) asks for credit where its locations are shown.
    let credits = if state.config.geoip_is_default() {
        json!([{"text": "IP Geolocation by DB-IP", "url": "https://db-ip.com"}])
    } else {
        json!([])
    };
    json!({ "sites": sites, "credits": credits })
}

/// The dashboard's session cookie, for every path of the dashboard and its APIs.
const SESSION: (&str, &str) = (COOKIE, "/");

fn session_cookie(
    state: &AppState,
    req: &HttpRequest,
    value: String,
    max_age: i64,
) -> actix_web::cookie::Cookie<'static> {
    super::session_cookie(state, req, SESSION, value, max_age)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    token: Option<String>,
    site: Option<String>,
    password: Option<String>,
}

pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<Login>,
) -> Result<HttpResponse, ApiError> {
    // Keyed on the client as resolved through the trusted proxies, so one proxy in front is
    // not one shared limit, and a client cannot pick its key with X-Forwarded-For.
    let client = client::client_ip(&req, &state.config.trusted_proxies)
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if let Err(wait) = state.dashboard.check_login(client) {
        let mut e = ApiError::new(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            "too many sign-in attempts; wait a minute",
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    let body = body.into_inner();
    let wrong = || {
        ApiError::new(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "wrong token, site or password",
        )
    };
    let (principal, value) = match (body.token, body.site, body.password) {
        (Some(token), None, None) => {
            let principal = state.tokens.authenticate(token.trim()).ok_or_else(wrong)?;
            if !principal.has_scope(Scope::StatsRead) {
                return Err(ApiError::forbidden("this token lacks the stats:read scope"));
            }
            let value = state.dashboard.session_for_token(&principal.token_id);
            (principal, value)
        }
        (None, Some(site), Some(password)) => {
            let site = state.sites.get(&site).ok_or_else(wrong)?;
            let domain = site.domain.to_string();
            if !state.dashboard.verify_password(&domain, &password) {
                return Err(wrong());
            }
            let value = state
                .dashboard
                .session_for_site(&domain)
                .ok_or_else(wrong)?;
            let principal = state
                .dashboard
                .principal(&value, &state.tokens)
                .ok_or_else(wrong)?;
            (principal, value)
        }
        _ => {
            return Err(ApiError::bad_request(
                "send {\"token\": ...} or {\"site\": ..., \"password\": ...}",
            ))
        }
    };
    tracing::info!(principal = %principal.token_id, "dashboard sign-in");
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&state, &req, value, i64::from(SESSION_SECS)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(sites_of(&state, &principal)))
}

pub async fn session(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let principal = session_principal(&state, &req)
        .ok_or_else(|| ApiError::new(actix_web::http::StatusCode::UNAUTHORIZED, "not signed in"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(sites_of(&state, &principal)))
}

/// Ends the session server-side (the cookie stops working on every collector, not only in
/// this browser) and clears the cookie.
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if let Some(cookie) = req.cookie(COOKIE) {
        state.dashboard.end_session(cookie.value()).await?;
    }
    Ok(HttpResponse::NoContent()
        .cookie(session_cookie(&state, &req, String::new(), 0))
        .finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    password: String,
}

pub async fn set_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    domain: web::Path<String>,
    body: Json<SetPassword>,
) -> Result<HttpResponse, ApiError> {
    let site = admin_site(&state, &req, &domain)?;
    let password = body.into_inner().password;
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > 1024 {
        return Err(ApiError::bad_request(format!(
            "the password needs at least {MIN_PASSWORD_CHARS} characters"
        ))
        .field("password"));
    }
    state.dashboard.set_password(&site, Some(&password)).await?;
    tracing::info!(site = %site, "dashboard password set");
    Ok(HttpResponse::NoContent().finish())
}

pub async fn delete_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    domain: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let site = admin_site(&state, &req, &domain)?;
    state.dashboard.set_password(&site, None).await?;
    Ok(HttpResponse::NoContent().finish())
}
