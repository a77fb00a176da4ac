//! `POST /api/identify` and `POST /api/optout`: the snippet's consented lead capture and
//! consent withdrawal. Identify requires `consent: "marketing"` and a `vid` (403 otherwise,
//! nothing stored); only email, name and company are read.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::ingest::{accepted_or, cors_error, origin_of, read_beacon, site_for};
use super::json::parse;
use super::{ApiError, AppState};
use crate::leads::{Email, Identification};

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
        let page = b
            .url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| crate::ingest::pathname(&u, false))
            .unwrap_or_default();
        let (id, created) = state
            .leads
            .identify(Identification {
                site: site.domain.as_str(),
                vid,
                email,
                name: b.name,
                company: b.company,
                page,
            })
            .await?;
        tracing::info!(site = %site.domain, lead = %id, created, "lead identified");
        let event = if created {
            "lead.created"
        } else {
            "lead.updated"
        };
        announce(&state, site.domain.as_str(), event, &id).await?;
        Ok(())
    }
    .await;
    accepted_or(result, origin)
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

/// Queues a lead webhook with the lead's current view (a tombstone when it is not active).
pub async fn announce(
    state: &AppState,
    site: &str,
    event: &str,
    lead_id: &str,
) -> Result<(), ApiError> {
    if let Some((lead, _)) = state.leads.get(lead_id).await? {
        state
            .webhooks
            .emit(site, event, serde_json::json!({ "lead": lead }))
            .await?;
    }
    Ok(())
}
