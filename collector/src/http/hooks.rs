//! Webhook endpoints per site (`admin`): register, list, delete, and each one's delivery log.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::admin::admin_site;
use super::json::Json;
use super::{ApiError, AppState};
use crate::leads::webhooks::WebhookError;

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> ApiError {
        match e {
            WebhookError::Invalid { field, message } => ApiError::bad_request(message).field(field),
            WebhookError::Store(s) => s.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateHook {
    url: String,
    /// What the privacy center tells people receives their details ("Our CRM").
    name: Option<String>,
    events: Option<Vec<String>>,
}

pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    domain: web::Path<String>,
    body: Json<CreateHook>,
) -> Result<HttpResponse, ApiError> {
    let site = admin_site(&state, &req, &domain)?;
    let body = body.into_inner();
    let (endpoint, secret) = state
        .webhooks
        .create(&site, &body.url, body.name.as_deref(), body.events)
        .await?;
    tracing::info!(site = %site, endpoint = %endpoint.id, "webhook endpoint registered");
    let mut out = serde_json::to_value(&endpoint).unwrap_or_default();
    out["secret"] = json!(secret);
    Ok(HttpResponse::Created().json(out))
}

pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    domain: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let site = admin_site(&state, &req, &domain)?;
    Ok(HttpResponse::Ok().json(json!({"webhooks": state.webhooks.list(&site)})))
}

pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (domain, id) = path.into_inner();
    let site = admin_site(&state, &req, &domain)?;
    if state.webhooks.delete(&site, &id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("no webhook endpoint with that id"))
    }
}

pub async fn deliveries(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (domain, id) = path.into_inner();
    let site = admin_site(&state, &req, &domain)?;
    Ok(HttpResponse::Ok()
        .json(json!({"deliveries": state.webhooks.deliveries(&site, &id, 1000).await?})))
}
