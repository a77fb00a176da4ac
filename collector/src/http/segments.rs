//! Saved segments per site: named filter sets the dashboard offers and opens by URL
//! (`?segment=<id>`). `GET|POST /api/v1/sites/{domain}/segments`,
//! `DELETE .../segments/{id}`. Whoever may read the site's stats (a `stats:read` token or a
//! dashboard session) may list, save and delete them: a segment is a way of looking, not data.
//! Kept in the store (`segments`, one version per change); the filters are checked by the
//! Stats API's own parser before they are saved, so a saved segment always runs.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::json::Json;
use super::{ApiError, AppState};
use crate::store::{fetch, insert_rows, InsertOptions, Params};

/// At most this many segments per site.
const MAX_SEGMENTS: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRequest {
    name: String,
    /// Stats API v2 filters (`[["is", "visit:source", ["Google"]], ...]`).
    filters: Vec<Value>,
}

#[derive(Deserialize, Serialize)]
struct SegmentRow {
    site: String,
    id: String,
    name: String,
    filters: String,
    created_at: u32,
    deleted: u8,
    version: u64,
}

fn public(r: &SegmentRow) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "filters": serde_json::from_str::<Value>(&r.filters).unwrap_or(Value::Array(Vec::new())),
        "created_at": r.created_at,
    })
}

async fn site_of(state: &AppState, req: &HttpRequest, domain: &str) -> Result<String, ApiError> {
    let principal = super::stats::authorize_stats(state, req)?;
    let site = super::stats::site_for(state, &principal, Some(domain))?;
    Ok(site.domain.to_string())
}

async fn current(state: &AppState, site: &str) -> Result<Vec<SegmentRow>, ApiError> {
    Ok(fetch(
        state.store.as_ref(),
        "SELECT site, id, name, filters, toUnixTimestamp(created_at) AS created_at, deleted, version
         FROM segments FINAL WHERE site = {site:String} AND deleted = 0 ORDER BY name, id",
        &Params::new().with("site", site),
    )
    .await?)
}

pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    domain: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let site = site_of(&state, &req, &domain).await?;
    let segments: Vec<Value> = current(&state, &site).await?.iter().map(public).collect();
    Ok(HttpResponse::Ok().json(json!({ "segments": segments })))
}

pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    domain: web::Path<String>,
    body: Json<SegmentRequest>,
) -> Result<HttpResponse, ApiError> {
    let site = site_of(&state, &req, &domain).await?;
    let body = body.into_inner();
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("a segment's name is 1 to 100 characters").field("name"));
    }
    if body.filters.is_empty() || body.filters.len() > 20 {
        return Err(ApiError::bad_request("a segment has 1 to 20 filters").field("filters"));
    }
    for f in &body.filters {
        crate::reports::parse_filter(f).map_err(|e| ApiError::from(e).field("filters"))?;
    }
    let existing = current(&state, &site).await?;
    if existing.len() >= MAX_SEGMENTS {
        return Err(ApiError::bad_request(format!(
            "a site keeps at most {MAX_SEGMENTS} segments: delete one first"
        )));
    }
    let row = SegmentRow {
        site: site.clone(),
        id: uuid::Uuid::new_v4().simple().to_string(),
        name,
        filters: Value::Array(body.filters).to_string(),
        created_at: state.clock.unix_seconds(),
        deleted: 0,
        version: crate::clock::version(),
    };
    insert_rows(
        state.store.as_ref(),
        "segments",
        &[&row],
        &InsertOptions::default(),
    )
    .await?;
    tracing::info!(site = %site, segment = %row.id, "segment saved");
    Ok(HttpResponse::Created().json(public(&row)))
}

pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (domain, id) = path.into_inner();
    let site = site_of(&state, &req, &domain).await?;
    let Some(mut row) = current(&state, &site)
        .await?
        .into_iter()
        .find(|r| r.id == id)
    else {
        return Err(ApiError::not_found("no segment with that id"));
    };
    row.deleted = 1;
    row.version = crate::clock::version();
    insert_rows(
        state.store.as_ref(),
        "segments",
        &[&row],
        &InsertOptions::default(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
