//! `POST /api/identify` and `POST /api/optout`: the snippet's consented lead capture and
//! consent withdrawal. Identify requires `consent: "marketing"` and a `vid` (403 otherwise,
//! nothing stored); only email, name and company are read. Both are beacons: the same
//! per-client and per-site rate limits as `/api/event`, and identify stores nothing under
//! `DNT: 1` or `Sec-GPC: 1` (204 with `X-Candor-Drop`). Opt-out is honoured whatever the
//! browser's privacy signals say, since it only ever removes consent.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::ingest::{
    accepted_or, check_beacon_rate, cors_error, dropped, origin_of, read_beacon, request_facts,
    site_for,
};
use super::json::parse;
use super::{ApiError, AppState};
use crate::ingest::Beacon;
use crate::leads::{Email, Identification};
use crate::pipeline::DropReason;
use crate::privacy;

#[derive(Deserialize)]
struct IdentifyBody {
    site: String,
    vid: Option<String>,
    consent: Option<String>,
    email: Option<String>,
    name: Option<String>,
    company: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct OptOutBody {
    site: String,
    vid: String,
}

pub async fn identify(
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
    let result = async {
        let b: IdentifyBody = parse(&body)?;
        let site = site_for(&state, &b.site, origin)?;
        let ip = check_beacon_rate(&state, &req, site.domain.as_str())?;
        if privacy::do_not_track(req.headers()) {
            return Ok(Some(DropReason::Dnt));
        }
        if privacy::global_privacy_control(req.headers()) {
            return Ok(Some(DropReason::Gpc));
        }
        if b.consent.as_deref() != Some("marketing") {
            return Err(
                ApiError::forbidden("identification requires consent \"marketing\"")
                    .field("consent"),
            );
        }
        let vid = match b.vid.as_deref() {
            Some(v) if !v.is_empty() && v.len() <= 64 => v,
            _ => {
                return Err(ApiError::forbidden(
                    "identification requires the visitor's first-party id",
                )
                .field("vid"))
            }
        };
        let email = b.email.as_deref().and_then(Email::parse).ok_or_else(|| {
            ApiError::bad_request("a valid email address is required").field("email")
        })?;
        for (field, v) in [("name", &b.name), ("company", &b.company)] {
            if v.as_ref().is_some_and(|s| s.chars().count() > 200) {
                return Err(ApiError::bad_request(format!(
                    "{field} is longer than 200 characters"
                ))
                .field(field));
            }
        }
        let page_url = b.url.as_deref().and_then(|u| url::Url::parse(u).ok());
        let page = page_url
            .as_ref()
            .map(|u| crate::ingest::pathname(u, false))
            .unwrap_or_default();
        let (id, created) = state
            .leads
            .identify(Identification {
                site: site.domain.as_str(),
                vid,
                email,
                name: b.name,
                company: b.company,
                organisation: organisation(&state, &req),
                page,
                consent_version: site.consent_version.clone(),
            })
            .await?;
        tracing::info!(site = %site.domain, lead = %id, created, "lead identified");
        let event = if created {
            "lead.created"
        } else {
            "lead.updated"
        };
        announce(&state, site.domain.as_str(), event, &id).await?;
        if created {
            count_lead(&state, &req, &site, ip, page_url, vid).await;
        }
        Ok(None)
    }
    .await;
    match result {
        Ok(Some(reason)) => dropped(reason, origin),
        Ok(None) => accepted_or(Ok(()), origin),
        Err(e) => cors_error(e, origin),
    }
}

pub async fn opt_out(
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
    let result = async {
        let b: OptOutBody = parse(&body)?;
        let site = site_for(&state, &b.site, origin)?;
        check_beacon_rate(&state, &req, site.domain.as_str())?;
        if b.vid.is_empty() || b.vid.len() > 64 {
            return Err(ApiError::bad_request("vid must be 1 to 64 characters").field("vid"));
        }
        let changed = state.leads.opt_out(site.domain.as_str(), &b.vid).await?;
        for id in &changed {
            tracing::info!(site = %site.domain, lead = %id, "lead opted out");
            announce(&state, site.domain.as_str(), "lead.updated", id).await?;
        }
        Ok(())
    }
    .await;
    accepted_or(result, origin)
}

/// Records a new lead's identification as an event of the visitor's current visit, through
/// the same pipeline as page views (so it gets that visit's attributes, and bots and excluded
/// addresses or paths are left out as their page views are): what the `leads` metric counts.
/// The lead itself is already stored, so a failure here is logged, not answered: a retry
/// would find the lead and not count it again.
async fn count_lead(
    state: &AppState,
    req: &HttpRequest,
    site: &crate::sites::Site,
    ip: std::net::IpAddr,
    page_url: Option<url::Url>,
    vid: &str,
) {
    let url = page_url
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .or_else(|| url::Url::parse(&format!("https://{}/", site.domain)).ok());
    let Some(url) = url else { return };
    // (Identify has already answered DNT and GPC, so both are off here.)
    let beacon = Beacon::lead(site.domain.clone(), url, vid);
    match state
        .pipeline
        .ingest(beacon, site, &request_facts(state, req, ip))
        .await
    {
        Ok(None) => {}
        Ok(Some(reason)) => {
            tracing::debug!(site = %site.domain, reason = reason.as_str(), "lead not counted")
        }
        Err(e) => tracing::warn!(site = %site.domain, error = %e, "lead not counted"),
    }
}

/// Queues a lead webhook with the lead's current view (a tombstone when it is not active).
/// Nothing is read from the store when no endpoint of the site subscribes to the event.
pub async fn announce(
    state: &AppState,
    site: &str,
    event: &str,
    lead_id: &str,
) -> Result<(), ApiError> {
    if !state.webhooks.wants(site, event) {
        return Ok(());
    }
    if let Some((lead, _)) = state.leads.get(lead_id).await? {
        state
            .webhooks
            .emit(site, event, serde_json::json!({ "lead": lead }))
            .await?;
    }
    Ok(())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    site: Option<String>,
    email: Option<String>,
    lead_id: Option<String>,
}

/// `POST /api/v1/erasure` (`leads:write`): erases a person by email (on one site, or every
/// site the token may access) or by lead id; answers when it is done, with what was erased.
pub async fn erasure(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: super::json::Json<ErasureRequest>,
) -> Result<HttpResponse, ApiError> {
    use crate::leads::erasure::Subject;
    let principal = state.authorize(&req, crate::auth::Scope::LeadsWrite)?;
    let body = body.into_inner();
    let mut erased: Vec<(String, String)> = Vec::new();
    match (body.email, body.lead_id) {
        (Some(email), None) => {
            let email = crate::leads::Email::parse(&email).ok_or_else(|| {
                ApiError::bad_request("a valid email address is required").field("email")
            })?;
            let sites: Vec<String> = match body.site {
                Some(s) => vec![super::admin::site_in_scope(&state, &principal, &s, || {
                    ApiError::not_found("unknown site")
                })
                .map_err(|e| e.field("site"))?],
                None => state
                    .sites
                    .list()
                    .into_iter()
                    .map(|s| s.domain.to_string())
                    .filter(|d| principal.may_access_site(d))
                    .collect(),
            };
            for site in &sites {
                erased.extend(
                    state
                        .leads
                        .erase(Subject::Email {
                            site,
                            email: email.clone(),
                        })
                        .await?,
                );
            }
        }
        (None, Some(id)) => {
            let (lead, _) = state
                .leads
                .get(&id)
                .await?
                .ok_or_else(|| ApiError::not_found("no lead with that id").field("lead_id"))?;
            if !principal.may_access_site(&lead.site) {
                return Err(ApiError::forbidden(
                    "this token is not valid for this lead's site",
                ));
            }
            erased.extend(
                state
                    .leads
                    .erase(Subject::Lead {
                        site: &lead.site,
                        id: &lead.id,
                    })
                    .await?,
            );
        }
        _ => {
            return Err(
                ApiError::bad_request("send exactly one of email and lead_id").field("email"),
            )
        }
    }
    if erased.is_empty() {
        return Err(ApiError::not_found("no lead matches"));
    }
    for (site, id) in &erased {
        tracing::info!(site = %site, lead = %id, "lead erased");
        announce(&state, site, "lead.erased", id).await?;
    }
    let done: Vec<serde_json::Value> = erased
        .iter()
        .map(|(site, id)| serde_json::json!({"id": id, "site": site, "status": "erased"}))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "erased": done,
        "completed_at": crate::clock::unix_millis(),
    })))
}

/// The visitor's organisation from the ASN/ISP database (when configured), the company of a
/// lead that left the field empty. The address itself is only used here, in memory.
fn organisation(state: &AppState, req: &HttpRequest) -> Option<String> {
    let ip = crate::privacy::client::client_ip(req, &state.config.trusted_proxies)?;
    Some(state.geo.organisation(ip)).filter(|o| !o.is_empty())
}
