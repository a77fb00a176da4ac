//! `GET /api/v1/leads?site=&cursor=&limit=`: the incremental pull API for CRM sync jobs.
//! Ordered by change; a job that pulls until `leads` is empty, again and again, sees every
//! lead's latest state once per change, none skipped, even while leads are written.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::auth::Scope;
use crate::leads::Cursor;

#[derive(Deserialize)]
pub struct PullQuery {
    site: String,
    cursor: Option<String>,
    limit: Option<u32>,
}

pub async fn pull(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<PullQuery>,
) -> Result<HttpResponse, ApiError> {
    let principal = state.authorize(&req, Scope::LeadsRead)?;
    let site = state
        .sites
        .get(&q.site)
        .ok_or_else(|| ApiError::not_found("unknown site").field("site"))?;
    if !principal.may_access_site(site.domain.as_str()) {
        return Err(ApiError::forbidden("this token is not valid for this site"));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1 to 1000").field("limit"));
    }
    let cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(
            Cursor::parse(c)
                .ok_or_else(|| ApiError::bad_request("invalid cursor").field("cursor"))?,
        ),
        None => None,
    };
    let (leads, next) = state
        .leads
        .changes(site.domain.as_str(), cursor.as_ref(), limit)
        .await?;
    let next_cursor = next.or(cursor).map(|c| c.encode()).unwrap_or_default();
    Ok(HttpResponse::Ok().json(json!({"leads": leads, "next_cursor": next_cursor})))
}
