//! Administration: sites and API tokens. Every route needs the `admin` scope.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::json::Json;
use super::{ApiError, AppState};
use crate::auth::{Scope, TokenError};
use crate::sites::{SiteDomain, SiteError, SiteRequest};

impl From<SiteError> for ApiError {
    fn from(e: SiteError) -> ApiError {
        match e {
            SiteError::Invalid { field, message } => ApiError::bad_request(message).field(field),
            SiteError::Store(s) => s.into(),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> ApiError {
        match e {
            TokenError::Invalid(m) => ApiError::bad_request(m),
            TokenError::Store(s) => s.into(),
        }
    }
}

/// The canonical domain of a registered site, for an admin route (401/403 without admin,
/// 404 for an unknown site).
pub fn admin_site(state: &AppState, req: &HttpRequest, domain: &str) -> Result<String, ApiError> {
    state.authorize(req, Scope::Admin)?;
    state
        .sites
        .get(domain)
        .map(|s| s.domain.to_string())
        .ok_or_else(|| ApiError::not_found(format!("no site named {domain:?}")))
}

pub async fn list_sites(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    state.authorize(&req, Scope::Admin)?;
    Ok(HttpResponse::Ok().json(json!({"sites": state.sites.list()})))
}

pub async fn upsert_site(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<SiteRequest>,
) -> Result<HttpResponse, ApiError> {
    state.authorize(&req, Scope::Admin)?;
    let (site, created) = state.sites.upsert(body.into_inner()).await?;
    tracing::info!(site = %site.domain, created, "site saved");
    Ok(if created {
        HttpResponse::Created().json(site)
    } else {
        HttpResponse::Ok().json(site)
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    scopes: Vec<String>,
    #[serde(default)]
    sites: Vec<SiteDomain>,
}

pub async fn list_tokens(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    state.authorize(&req, Scope::Admin)?;
    Ok(HttpResponse::Ok().json(json!({"tokens": state.tokens.list()})))
}

pub async fn create_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<CreateToken>,
) -> Result<HttpResponse, ApiError> {
    state.authorize(&req, Scope::Admin)?;
    let body = body.into_inner();
    let scopes = body
        .scopes
        .iter()
        .map(|s| s.parse::<Scope>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| ApiError::bad_request(m).field("scopes"))?;
    for site in &body.sites {
        if state.sites.get(site.as_str()).is_none() {
            return Err(ApiError::bad_request(format!("unknown site \"{site}\"")).field("sites"));
        }
    }
    let (info, value) = state.tokens.create(&body.name, scopes, body.sites).await?;
    tracing::info!(token_id = %info.id, "token created");
    Ok(HttpResponse::Created().json(json!({
        "id": info.id,
        "name": info.name,
        "scopes": info.scopes,
        "sites": info.sites,
        "created_at": info.created_at,
        "token": value,
    })))
}

pub async fn revoke_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.authorize(&req, Scope::Admin)?;
    if state.tokens.revoke(&id).await? {
        tracing::info!(token_id = %id, "token revoked");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!(
            "no active token with id \"{}\"",
            id.chars().take(64).collect::<String>()
        )))
    }
}
