//! The stats APIs: `POST /api/v2/query` (Plausible's v2 shape, the one engine) and the legacy
//! v1 GET endpoints. A `stats:read` bearer token or a dashboard session cookie; a token
//! limited to sites gets 403 elsewhere.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::json::Json;
use super::{ApiError, AppState};
use crate::auth::{Principal, Scope};
use crate::imports::{ImportSet, Imports};
use crate::reports::engine::{Engine, Output, Query, ReportError};
use crate::reports::{self, imported, v1, QueryRequest};
use crate::sites::Site;

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> ApiError {
        match e {
            ReportError::Invalid { field, message } => ApiError::bad_request(message).field(field),
            ReportError::Store(s) => s.into(),
        }
    }
}

/// The caller: a bearer token if one is sent, else the dashboard session cookie.
pub fn authorize_stats(state: &AppState, req: &HttpRequest) -> Result<Principal, ApiError> {
    state.authorize_reader(req, Scope::StatsRead)
}

/// The site a report is for, if the caller may read it.
pub fn site_for(
    state: &AppState,
    principal: &Principal,
    site_id: Option<&str>,
) -> Result<Site, ApiError> {
    let site_id = site_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("site_id is required").field("site_id"))?;
    let site = state.sites.get(site_id);
    let domain = site
        .as_ref()
        .map(|s| s.domain.to_string())
        .unwrap_or_else(|| site_id.to_ascii_lowercase());
    if !principal.may_access_site(&domain) {
        return Err(ApiError::forbidden("this token is not valid for this site"));
    }
    site.ok_or_else(|| ApiError::not_found(format!("no site named {site_id:?}")).field("site_id"))
}

/// For `all`: the site as reports see it, its stats starting at its first stored event if
/// that is earlier than its registration (imported or replayed history), as Plausible's
/// `all` starts at the site's stats start date.
async fn with_stats_start(state: &AppState, mut site: Site) -> Result<Site, ApiError> {
    #[derive(serde::Deserialize)]
    struct First {
        t: u32,
    }
    let first: Vec<First> = crate::store::fetch(
        state.store.as_ref(),
        "SELECT toUInt32(min(timestamp)) AS t FROM events WHERE site = {site:String}",
        &crate::store::Params::new().with("site", site.domain.to_string()),
    )
    .await?;
    if let Some(t) = first.first().map(|f| f.t).filter(|t| *t > 0) {
        site.created_at = site.created_at.min(t);
    }
    Ok(site)
}

/// With imports, `all` starts at the first imported day when that is earlier, as in
/// Plausible.
fn start_at_imports(site: &mut Site, set: &ImportSet) {
    if let Some(first) = set.first_day() {
        let start = reports::dates::local_midnight(&reports::site_tz(site), first);
        site.created_at = site
            .created_at
            .min(u32::try_from(start.max(0)).unwrap_or(0));
    }
}

/// Runs a query through the engine, with the statements a batch answered ahead of time
/// (`memo`) when it is part of one.
async fn run(
    state: &AppState,
    q: &Query,
    imports: Option<&ImportSet>,
    memo: Option<&reports::batch::Memo>,
) -> Result<Output, ApiError> {
    let goals = state.goals.list(&q.site);
    let engine = Engine {
        store: state.store.as_ref(),
        goals: &goals,
        rollups: Some(&state.rollups),
        imports,
        memo,
    };
    Ok(engine.run(q).await?)
}

/// A v2 request checked and parsed, ready to run.
struct Prepared {
    body: QueryRequest,
    query: Query,
    /// With `include.imports`: the site's imports, and whether this query merges them.
    imports: Option<(ImportSet, Result<(), imported::Skip>)>,
}

async fn prepare(
    state: &AppState,
    principal: &Principal,
    body: QueryRequest,
) -> Result<Prepared, ApiError> {
    let mut site = site_for(state, principal, Some(&body.site_id))?;
    if body.date_range == "all" {
        site = with_stats_start(state, site).await?;
    }
    if !body.include.imports {
        let query = reports::parse_query(&body, &site, state.clock.unix_seconds().into())?;
        return Ok(Prepared {
            body,
            query,
            imports: None,
        });
    }
    let set = Imports::set(state.store.as_ref(), site.domain.as_str()).await?;
    start_at_imports(&mut site, &set);
    let query = reports::parse_query(&body, &site, state.clock.unix_seconds().into())?;
    let decision = imported::decide(&query, &set, &state.goals.list(&query.site));
    Ok(Prepared {
        body,
        query,
        imports: Some((set, decision)),
    })
}

/// Runs a prepared request (with the statements a batch answered ahead of time) and shapes
/// the v2 response.
async fn answer(
    state: &AppState,
    p: &Prepared,
    memo: Option<&reports::batch::Memo>,
) -> Result<serde_json::Value, ApiError> {
    let imports = match &p.imports {
        Some((set, Ok(()))) => Some(set),
        _ => None,
    };
    let out = run(state, &p.query, imports, memo).await?;
    let mut response = reports::v2_response(&p.body, &p.query, out);
    if let Some((_, decision)) = &p.imports {
        let meta = &mut response["meta"];
        meta["imports_included"] = json!(decision.is_ok());
        if let Err(skip) = decision {
            meta["imports_skip_reason"] = json!(skip.reason());
            if let Some(warning) = skip.warning() {
                meta["imports_warning"] = json!(warning);
            }
        }
    }
    Ok(response)
}

pub async fn query_v2(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<QueryRequest>,
) -> Result<HttpResponse, ApiError> {
    let principal = authorize_stats(&state, &req)?;
    let prepared = prepare(&state, &principal, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(answer(&state, &prepared, None).await?))
}

/// The most queries one batch may carry.
pub const MAX_BATCH: usize = 50;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    queries: Vec<serde_json::Value>,
}

/// `POST /api/v2/query/batch`: several v2 queries in one request, as the dashboard sends a
/// view. Each is checked and answered as `POST /api/v2/query` would answer it alone — its
/// own status and body in `results`, in order — but the statements they share are run once
/// (`reports::batch`). Only a caller that may not read stats at all, or a malformed batch,
/// fails the whole request.
pub async fn query_batch(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<BatchRequest>,
) -> Result<HttpResponse, ApiError> {
    let principal = authorize_stats(&state, &req)?;
    let queries = body.into_inner().queries;
    if queries.is_empty() || queries.len() > MAX_BATCH {
        return Err(
            ApiError::bad_request(format!("queries needs 1 to {MAX_BATCH} queries"))
                .field("queries"),
        );
    }
    let mut prepared: Vec<Result<Prepared, ApiError>> = Vec::with_capacity(queries.len());
    for q in queries {
        prepared.push(
            match super::json::parse::<QueryRequest>(q.to_string().as_bytes()) {
                Ok(body) => prepare(&state, &principal, body).await,
                Err(e) => Err(e),
            },
        );
    }
    let goals: Vec<Vec<reports::goals::Goal>> = prepared
        .iter()
        .map(|p| match p {
            Ok(p) => state.goals.list(&p.query.site),
            Err(_) => Vec::new(),
        })
        .collect();
    let reports: Vec<(&Query, &[reports::goals::Goal])> = prepared
        .iter()
        .zip(&goals)
        .filter_map(|(p, g)| p.as_ref().ok().map(|p| (&p.query, g.as_slice())))
        .collect();
    let memo = reports::batch::prefetch(state.store.as_ref(), Some(&state.rollups), &reports).await;
    let mut results = Vec::with_capacity(prepared.len());
    for (i, p) in prepared.into_iter().enumerate() {
        let outcome = match p {
            Ok(p) => answer(&state, &p, Some(&memo)).await,
            Err(e) => Err(e),
        };
        results.push(match outcome {
            Ok(body) => json!({"status": 200, "body": body}),
            Err(e) => {
                let field = match e.field {
                    Some(f) => format!("queries[{i}].{f}"),
                    None => format!("queries[{i}]"),
                };
                json!({
                    "status": e.status.as_u16(),
                    "body": {"error": e.message, "field": field},
                })
            }
        });
    }
    Ok(HttpResponse::Ok().json(json!({ "results": results })))
}

/// A v1 endpoint: its query from the parameters, its response shape from the engine's output.
async fn v1_report(
    state: &AppState,
    req: &HttpRequest,
    p: &v1::Params,
    query: fn(&v1::Params, &Site, i64) -> Result<Query, ReportError>,
    respond: fn(&Query, &Output) -> serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let principal = authorize_stats(state, req)?;
    let mut site = site_for(state, &principal, p.site_id.as_deref())?;
    if p.period.as_deref() == Some("all") {
        site = with_stats_start(state, site).await?;
    }
    let imports = if p.with_imported.as_deref() == Some("true") {
        let set = Imports::set(state.store.as_ref(), site.domain.as_str()).await?;
        start_at_imports(&mut site, &set);
        Some(set)
    } else {
        None
    };
    let q = query(p, &site, state.clock.unix_seconds().into())?;
    let decision = imports
        .as_ref()
        .map(|set| imported::decide(&q, set, &state.goals.list(&q.site)));
    let set = match (&imports, &decision) {
        (Some(set), Some(Ok(_))) => Some(set),
        _ => None,
    };
    let out = run(state, &q, set, None).await?;
    let mut body = respond(&q, &out);
    // Plausible's v1 says why imported stats were left out, when it matters.
    if let Some(Err(skip)) = decision {
        if let Some(warning) = skip.warning() {
            body["warning"] = json!(warning);
        }
    }
    Ok(HttpResponse::Ok().json(body))
}

pub async fn aggregate(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: web::Query<v1::Params>,
) -> Result<HttpResponse, ApiError> {
    v1_report(
        &state,
        &req,
        &p,
        v1::aggregate_query,
        v1::aggregate_response,
    )
    .await
}

pub async fn timeseries(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: web::Query<v1::Params>,
) -> Result<HttpResponse, ApiError> {
    v1_report(
        &state,
        &req,
        &p,
        v1::timeseries_query,
        v1::timeseries_response,
    )
    .await
}

pub async fn breakdown(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: web::Query<v1::Params>,
) -> Result<HttpResponse, ApiError> {
    v1_report(
        &state,
        &req,
        &p,
        v1::breakdown_query,
        v1::breakdown_response,
    )
    .await
}

pub async fn accounts(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: web::Query<v1::Params>,
) -> Result<HttpResponse, ApiError> {
    v1_report(&state, &req, &p, v1::accounts_query, v1::breakdown_response).await
}

pub async fn realtime(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: web::Query<v1::Params>,
) -> Result<HttpResponse, ApiError> {
    let principal = authorize_stats(&state, &req)?;
    let site = site_for(&state, &principal, p.site_id.as_deref())?;
    let q = v1::realtime_query(&site, state.clock.unix_seconds().into());
    let out = run(&state, &q, None, None).await?;
    let visitors = out
        .results
        .first()
        .and_then(|r| r.metrics.first().cloned())
        .unwrap_or(json!(0));
    Ok(HttpResponse::Ok().json(visitors))
}

/// `GET /api/v1/stats/property-keys?site_id=&period=&date=`: the custom property keys sent in
/// the period, by visitors (at most 100), for the dashboard's properties panel.
pub async fn property_keys(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: web::Query<v1::Params>,
) -> Result<HttpResponse, ApiError> {
    #[derive(serde::Deserialize, serde::Serialize)]
    struct Key {
        key: String,
        visitors: u64,
    }
    let principal = authorize_stats(&state, &req)?;
    let mut site = site_for(&state, &principal, p.site_id.as_deref())?;
    if p.period.as_deref() == Some("all") {
        site = with_stats_start(&state, site).await?;
    }
    let q = v1::aggregate_query(&p, &site, state.clock.unix_seconds().into())?;
    let keys: Vec<Key> = crate::store::fetch(
        state.store.as_ref(),
        "SELECT k AS key, uniq(visitor_id) AS visitors FROM events ARRAY JOIN mapKeys(props) AS k
         WHERE site = {site:String} AND timestamp >= toDateTime({start:Int64})
           AND timestamp < toDateTime({end:Int64}) AND name != 'candor:lead'
         GROUP BY k ORDER BY visitors DESC, k LIMIT 100",
        &crate::store::Params::new()
            .with("site", q.site.as_str())
            .with("start", q.range.start)
            .with("end", q.range.end),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "keys": keys })))
}
