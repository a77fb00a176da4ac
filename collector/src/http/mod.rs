//! The actix-web application: shared state, routes, authentication and request metrics.
//! Handlers live one concern per file; this file only wires them.

mod admin;
mod assets;
mod backup;
pub mod center;
mod dashboard;
pub mod error;
mod goals;
mod health;
mod hooks;
mod imports;
pub mod ingest;
pub mod json;
mod lead_sync;
mod leads;
mod privacy;
pub mod rate_limit;
mod segments;
pub mod snippet;
mod sql;
mod stats;

use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header;
use actix_web::{web, HttpRequest};

use crate::auth::dashboard::Dashboard;
use crate::auth::{Principal, Scope, Tokens};
use crate::clock::Clock;
use crate::config::Config;
use crate::enrich::Geo;
use crate::leads::webhooks::Webhooks;
use crate::leads::Leads;
use crate::metrics::Metrics;
use crate::pipeline::sessions::Tracker;
use crate::pipeline::spool::Spool;
use crate::pipeline::Pipeline;
use crate::privacy::salts::Salts;
use crate::reports::goals::Goals;
use crate::sites::Sites;
use crate::store::Store;
pub use error::ApiError;
use rate_limit::RateLimits;

/// Everything handlers share. Cheap to clone (all `Arc`).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// What "now" is for visits, salts, rollups and report periods (tests move it).
    pub clock: Clock,
    pub store: Arc<dyn Store>,
    pub tokens: Arc<Tokens>,
    pub sites: Arc<Sites>,
    pub metrics: Arc<Metrics>,
    pub pipeline: Arc<Pipeline>,
    /// The write-ahead spool (the pipeline appends, the batcher drains, `/readyz` checks it).
    pub spool: Spool,
    /// Live visits (the pipeline assigns events to them, the background sweeps idle ones).
    pub sessions: Arc<Tracker>,
    /// Visitor-id salts (the pipeline hashes with them, the background rotates them).
    pub salts: Arc<Salts>,
    /// GeoIP and ASN/ISP databases (the pipeline enriches visits; identify names a company).
    pub geo: Arc<Geo>,
    /// Per-client and per-site beacon limits of the beacon routes.
    pub rate_limits: Arc<RateLimits>,
    pub leads: Arc<Leads>,
    pub goals: Arc<Goals>,
    /// Imported history (uploads are written one at a time).
    pub imports: Arc<crate::imports::Imports>,
    pub dashboard: Arc<Dashboard>,
    pub webhooks: Arc<Webhooks>,
    /// The privacy center's mail (sign-in links, yearly notices) through the durable outbox.
    pub mailer: Arc<crate::mail::Mailer>,
    pub rollups: Arc<crate::reports::rollups::Rollups>,
    pub analyst: Arc<crate::analyst::Analyst>,
}

impl AppState {
    /// The caller's principal, if it holds `scope` (401 without a valid token, 403 without
    /// the scope).
    pub fn authorize(&self, req: &HttpRequest, scope: Scope) -> Result<Principal, ApiError> {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        let principal = self
            .tokens
            .authenticate(token)
            .ok_or_else(ApiError::unauthorized)?;
        if !principal.has_scope(scope) {
            return Err(ApiError::forbidden(format!(
                "this token lacks the {scope} scope"
            )));
        }
        Ok(principal)
    }

    /// The caller of an API the dashboard uses: a bearer token if one is sent, else the
    /// dashboard session cookie (whose principal is the token or site password it was opened
    /// with, so the signed-in dashboard may do what its token may); either must hold `scope`.
    pub fn authorize_reader(&self, req: &HttpRequest, scope: Scope) -> Result<Principal, ApiError> {
        if req.headers().contains_key(header::AUTHORIZATION) {
            return self.authorize(req, scope);
        }
        let principal =
            dashboard::session_principal(self, req).ok_or_else(ApiError::unauthorized)?;
        // A change made with the session cookie must come from the dashboard's own origin (the
        // cookie is SameSite=Strict already; this also refuses a sibling subdomain's page).
        if !matches!(
            *req.method(),
            actix_web::http::Method::GET | actix_web::http::Method::HEAD
        ) {
            same_origin(
                req,
                "a change with the dashboard session must come from the dashboard's origin",
            )?;
        }
        if !principal.has_scope(scope) {
            return Err(ApiError::forbidden(format!(
                "this session lacks the {scope} scope"
            )));
        }
        Ok(principal)
    }
}

/// Refuses a request whose `Origin` (when it sends one) is not this server's own host: what a
/// change made with a session cookie must pass. `refusal` is the 403's message.
fn same_origin(req: &HttpRequest, refusal: &str) -> Result<(), ApiError> {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(());
    };
    let host = req.connection_info().host().to_string();
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    if origin_host == host {
        Ok(())
    } else {
        Err(ApiError::forbidden(refusal))
    }
}

/// A session cookie (`name`, under `path`): HttpOnly, SameSite=Strict, `Secure` when configured
/// (`secure_cookies`, for TLS-terminating proxies that are not trusted) or when the request came
/// over TLS, as our listener or a trusted proxy says; a client's own `X-Forwarded-Proto` does
/// not count. An empty `value` with `max_age` 0 removes it.
fn session_cookie(
    state: &AppState,
    req: &HttpRequest,
    (name, path): (&'static str, &'static str),
    value: String,
    max_age: i64,
) -> actix_web::cookie::Cookie<'static> {
    let secure = state.config.secure_cookies
        || crate::privacy::client::is_https(req, &state.config.trusted_proxies);
    actix_web::cookie::Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Strict)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::seconds(max_age))
        .finish()
}

/// Whether the dashboard's files were embedded at build time.
pub fn dashboard_built() -> bool {
    dashboard::built()
}

/// Registers every route on an actix `App`.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state.clone()))
            .app_data(error::query_config())
            .app_data(error::path_config())
            // First: the router tries resources in order, and nearly every request is a beacon.
            .route("/api/event", web::post().to(ingest::event))
            .route("/healthz", web::get().to(health::healthz))
            .route("/readyz", web::get().to(health::readyz))
            .route("/metrics", web::get().to(health::metrics))
            .service(
                web::scope("/js")
                    .wrap(actix_web::middleware::Compress::default())
                    .route("/{file}", web::get().to(snippet::script)),
            )
            .route("/privacy.json", web::get().to(privacy::json_statement))
            .route("/privacy", web::get().to(privacy::html_statement))
            .route("/privacy/center", web::get().to(center::center))
            .route("/privacy/center.js", web::get().to(center::script))
            .route("/privacy/center/link", web::post().to(center::link_form))
            .route("/privacy/center/open", web::get().to(center::open_page))
            .route("/privacy/center/open", web::post().to(center::open))
            .route("/privacy/center/me", web::get().to(center::me))
            .route("/privacy/center/me", web::post().to(center::change))
            .route(
                "/privacy/center/me/data.json",
                web::get().to(center::download),
            )
            .route("/privacy/center/signout", web::post().to(center::sign_out))
            .route("/api/privacy/link", web::post().to(center::link_api))
            .route("/api/identify", web::post().to(leads::identify))
            .route("/api/optout", web::post().to(leads::opt_out))
            .route(
                "/api/identify",
                web::method(actix_web::http::Method::OPTIONS).to(ingest::preflight),
            )
            .route(
                "/api/optout",
                web::method(actix_web::http::Method::OPTIONS).to(ingest::preflight),
            )
            .route(
                "/api/event",
                web::method(actix_web::http::Method::OPTIONS).to(ingest::preflight),
            )
            .route("/api/v2/query", web::post().to(stats::query_v2))
            .route("/api/v2/query/batch", web::post().to(stats::query_batch))
            .route("/api/dashboard/login", web::post().to(dashboard::login))
            .route("/api/dashboard/session", web::get().to(dashboard::session))
            .route("/api/dashboard/logout", web::post().to(dashboard::logout))
            .route("/dashboard", web::get().to(dashboard::redirect))
            .service(
                web::scope("/dashboard")
                    .wrap(actix_web::middleware::Compress::default())
                    .route("/", web::get().to(|req| dashboard::file(req, None)))
                    .route(
                        "/{file}",
                        web::get().to(|req, p| dashboard::file(req, Some(p))),
                    ),
            )
            .service(
                web::scope("/api/v1")
                    .route("/sites", web::get().to(admin::list_sites))
                    .route("/sites", web::post().to(admin::upsert_site))
                    .route("/tokens", web::get().to(admin::list_tokens))
                    .route("/tokens", web::post().to(admin::create_token))
                    .route("/tokens/{id}", web::delete().to(admin::revoke_token))
                    .route("/sql", web::post().to(sql::run))
                    .route("/backup", web::post().to(backup::create))
                    .route("/sites/{domain}/webhooks", web::get().to(hooks::list))
                    .route("/sites/{domain}/webhooks", web::post().to(hooks::create))
                    .route(
                        "/sites/{domain}/webhooks/{id}",
                        web::delete().to(hooks::delete),
                    )
                    .route(
                        "/sites/{domain}/webhooks/{id}/deliveries",
                        web::get().to(hooks::deliveries),
                    )
                    .route("/sites/{domain}/mail", web::get().to(center::deliveries))
                    .route("/sites/{domain}/goals", web::get().to(goals::list))
                    .route("/sites/{domain}/goals", web::post().to(goals::create))
                    .route(
                        "/sites/{domain}/goals/{id}",
                        web::delete().to(goals::delete),
                    )
                    .route("/sites/{domain}/segments", web::get().to(segments::list))
                    .route("/sites/{domain}/segments", web::post().to(segments::create))
                    .route(
                        "/sites/{domain}/segments/{id}",
                        web::delete().to(segments::delete),
                    )
                    .route("/stats/property-keys", web::get().to(stats::property_keys))
                    .route("/sites/{domain}/imports", web::get().to(imports::list))
                    .route("/sites/{domain}/imports", web::post().to(imports::create))
                    .route(
                        "/sites/{domain}/imports/{id}",
                        web::delete().to(imports::delete),
                    )
                    .route(
                        "/sites/{domain}/dashboard-password",
                        web::put().to(dashboard::set_password),
                    )
                    .route(
                        "/sites/{domain}/dashboard-password",
                        web::delete().to(dashboard::delete_password),
                    )
                    .route("/stats/aggregate", web::get().to(stats::aggregate))
                    .route("/stats/timeseries", web::get().to(stats::timeseries))
                    .route("/stats/breakdown", web::get().to(stats::breakdown))
                    .route("/stats/accounts", web::get().to(stats::accounts))
                    .route("/stats/realtime/visitors", web::get().to(stats::realtime))
                    .route("/leads", web::get().to(lead_sync::pull))
                    .route("/leads.csv", web::get().to(lead_sync::csv))
                    .route("/leads/recent", web::get().to(lead_sync::recent))
                    .route("/erasure", web::post().to(leads::erasure))
                    .route("/leads/{id}", web::get().to(lead_sync::one)),
            )
            .default_service(web::to(not_found));
    }
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// Counts and times every request by its route pattern (wrap with `App::wrap_fn`).
pub fn record_metrics<S, B>(
    req: actix_web::dev::ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse<B>, actix_web::Error>>
where
    S: Service<
        actix_web::dev::ServiceRequest,
        Response = ServiceResponse<B>,
        Error = actix_web::Error,
    >,
{
    let started = Instant::now();
    let method = req.method().clone();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let fut = srv.call(req);
    async move {
        let res = fut.await?;
        if let Some(m) = metrics {
            let route = res
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".into());
            m.http_requests
                .with_label_values(&[route.as_str(), method.as_str(), res.status().as_str()])
                .inc();
            m.http_duration
                .with_label_values(&[route.as_str()])
                .observe(started.elapsed().as_secs_f64());
        }
        Ok(res)
    }
}
