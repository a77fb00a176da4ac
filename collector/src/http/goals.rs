//! Goals per site: `GET|POST /api/v1/sites/{domain}/goals`, `DELETE .../goals/{id}`.
//! Reading needs `stats:read` for the site; changing needs `admin`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::admin::admin_site;
use super::json::Json;
use super::{ApiError, AppState};
use crate::reports::goals::{GoalError, GoalRequest};

impl From<GoalError> for ApiError {
    fn from(e: GoalError) -> ApiError {
        match e {
            GoalError::Invalid { field, message } => ApiError::bad_request(message).field(field),
            GoalError::Store(s) => s.into(),
        }
    }
}

pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    domain: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let principal = super::stats::authorize_stats(&state, &req)?;
    let site = super::stats::site_for(&state, &principal, Some(&domain))?;
    Ok(HttpResponse::Ok().json(json!({"goals": state.goals.list(site.domain.as_str())})))
}

pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    domain: web::Path<String>,
    body: Json<GoalRequest>,
) -> Result<HttpResponse, ApiError> {
    let site = admin_site(&state, &req, &domain)?;
    let goal = state.goals.create(&site, body.into_inner()).await?;
    tracing::info!(site = %site, goal = %goal.display_name, "goal created");
    Ok(HttpResponse::Created().json(goal))
}

pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (domain, id) = path.into_inner();
    let site = admin_site(&state, &req, &domain)?;
    if state.goals.delete(&site, &id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("no goal with that id"))
    }
}
