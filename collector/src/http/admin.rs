//! Administration: sites and API tokens. Every route needs the `admin` scope.
//!
//! An admin token limited to sites (a site admin) manages only those sites: it lists, changes
//! and configures only them, sees and revokes only tokens limited to a subset of them, and
//! creates only such tokens, never a global one. Anything outside its sites is 403, whether
//! it exists or not, so a site admin learns nothing about other sites or tokens.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::json::Json;
use super::{ApiError, AppState};
use crate::auth::{Principal, Scope, TokenError};
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

fn outside_sites() -> ApiError {
    ApiError::forbidden("this token is not valid for this site")
}

/// Whether a token limited to `sites` lies within the caller's sites: always for a global
/// admin; for a site admin only a token limited to a non-empty subset of its own sites.
fn within_sites(principal: &Principal, sites: &[String]) -> bool {
    !principal.is_site_limited()
        || (!sites.is_empty() && sites.iter().all(|s| principal.may_access_site(s)))
}

/// The canonical domain of a registered site the caller may act on: 403 for a site outside
/// a site-limited token's sites whether it exists or not (such a token learns nothing about
/// other sites), `unknown` for an unknown site to a global token.
pub fn site_in_scope(
    state: &AppState,
    principal: &Principal,
    domain: &str,
    unknown: impl FnOnce() -> ApiError,
) -> Result<String, ApiError> {
    match state.sites.get(domain).map(|s| s.domain.to_string()) {
        Some(site) if principal.may_access_site(&site) => Ok(site),
        None if !principal.is_site_limited() => Err(unknown()),
        _ => Err(outside_sites()),
    }
}

/// The canonical domain of a registered site, for an admin route (401/403 without admin,
/// 403 for a site outside the token's sites, 404 for an unknown site to a global admin).
pub fn admin_site(state: &AppState, req: &HttpRequest, domain: &str) -> Result<String, ApiError> {
    let principal = state.authorize_reader(req, Scope::Admin)?;
    site_in_scope(state, &principal, domain, || {
        ApiError::not_found(format!("no site named {domain:?}"))
    })
}

pub async fn list_sites(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let principal = state.authorize_reader(&req, Scope::Admin)?;
    let mut sites = state.sites.list();
    sites.retain(|s| principal.may_access_site(s.domain.as_str()));
    Ok(HttpResponse::Ok().json(json!({ "sites": sites })))
}

pub async fn upsert_site(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<SiteRequest>,
) -> Result<HttpResponse, ApiError> {
    let principal = state.authorize_reader(&req, Scope::Admin)?;
    let body = body.into_inner();
    // A site admin may change its own sites but not register new ones.
    if !principal.may_access_site(body.domain.as_str()) {
        return Err(outside_sites().field("domain"));
    }
    let (site, created) = state.sites.upsert(body).await?;
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
    let principal = state.authorize_reader(&req, Scope::Admin)?;
    let mut tokens = state.tokens.list();
    tokens.retain(|t| within_sites(&principal, &t.sites));
    Ok(HttpResponse::Ok().json(json!({ "tokens": tokens })))
}

pub async fn create_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<CreateToken>,
) -> Result<HttpResponse, ApiError> {
    let principal = state.authorize_reader(&req, Scope::Admin)?;
    let body = body.into_inner();
    let sites: Vec<String> = body.sites.iter().map(|s| s.to_string()).collect();
    if !within_sites(&principal, &sites) {
        return Err(ApiError::forbidden(
            "a token limited to sites may only create tokens limited to some of its sites",
        )
        .field("sites"));
    }
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
    let principal = state.authorize_reader(&req, Scope::Admin)?;
    if principal.is_site_limited() {
        // The same 403 for another site's token and for no token at all: a site admin cannot
        // probe for tokens outside its sites.
        let mine = state
            .tokens
            .list()
            .into_iter()
            .any(|t| t.id == *id && within_sites(&principal, &t.sites));
        if !mine {
            return Err(ApiError::forbidden(
                "no active token with this id within this token's sites",
            ));
        }
    }
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
