//! The lead APIs for CRM sync jobs and the dashboard: `GET /api/v1/leads?site=&cursor=&limit=`,
//! the incremental pull API (ordered by change; a job that pulls until `leads` is empty, again
//! and again, sees every lead's latest state once per change, none skipped, even while leads
//! are written), one lead with its history, the latest leads, and the CSV export.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::auth::Scope;
use crate::leads::history::Summary;
use crate::leads::{Cursor, LeadView};
use crate::sites::Site;

/// A site whose leads the caller may read (`leads:read`, as a bearer token or the dashboard
/// session's token; 404 unknown, 403 another site's token).
fn readable_site(state: &AppState, req: &HttpRequest, site: &str) -> Result<Site, ApiError> {
    let principal = state.authorize_reader(req, Scope::LeadsRead)?;
    let site = state
        .sites
        .get(site)
        .ok_or_else(|| ApiError::not_found("unknown site").field("site"))?;
    if !principal.may_access_site(site.domain.as_str()) {
        return Err(ApiError::forbidden("this token is not valid for this site"));
    }
    Ok(site)
}

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
    let site = readable_site(&state, &req, &q.site)?;
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
    // Active leads carry their totals, first-touch source and score.
    let active: Vec<String> = leads
        .iter()
        .filter(|l| l.status == "active")
        .map(|l| l.id.clone())
        .collect();
    let summaries = if active.is_empty() {
        Default::default()
    } else {
        state
            .leads
            .summaries(site.domain.as_str(), Some(&active), &site.lead_scoring)
            .await?
    };
    let leads = with_summaries(leads, &summaries);
    Ok(HttpResponse::Ok().json(json!({"leads": leads, "next_cursor": next_cursor})))
}

#[derive(Deserialize)]
pub struct RecentQuery {
    site: String,
    limit: Option<u32>,
}

/// `GET /api/v1/leads/recent?site=&limit=`: the site's latest identified active leads, newest
/// first, each with its totals, first-touch source, score and last visit (the dashboard's
/// "Recent leads").
pub async fn recent(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<RecentQuery>,
) -> Result<HttpResponse, ApiError> {
    let site = readable_site(&state, &req, &q.site)?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1 to 100").field("limit"));
    }
    let leads = state.leads.recent(site.domain.as_str(), limit).await?;
    let ids: Vec<String> = leads.iter().map(|l| l.id.clone()).collect();
    let summaries = if ids.is_empty() {
        Default::default()
    } else {
        state
            .leads
            .summaries(site.domain.as_str(), Some(&ids), &site.lead_scoring)
            .await?
    };
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(json!({"leads": with_summaries(leads, &summaries)})))
}

/// `GET /api/v1/leads/{id}`: one lead with its visit history. Tombstones (opted out, erased)
/// come without contact details or history.
pub async fn one(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let principal = state.authorize_reader(&req, Scope::LeadsRead)?;
    let (lead, consent_page) = state
        .leads
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no lead with that id"))?;
    if !principal.may_access_site(&lead.site) {
        return Err(ApiError::forbidden(
            "this token is not valid for this lead's site",
        ));
    }
    if lead.status != "active" {
        return Ok(HttpResponse::Ok().json(json!({"lead": lead})));
    }
    let scoring = state
        .sites
        .get(&lead.site)
        .map(|s| s.lead_scoring)
        .unwrap_or_default();
    let history = state.leads.history(&lead.site, &lead.id, &scoring).await?;
    Ok(HttpResponse::Ok().json(json!({
        "lead": lead,
        "consent_page": consent_page,
        "history": history,
    })))
}

/// Leads as JSON, each active one with its summary's fields (totals, source, score).
fn with_summaries(
    leads: Vec<LeadView>,
    summaries: &HashMap<String, Summary>,
) -> Vec<serde_json::Value> {
    leads
        .into_iter()
        .map(|l| {
            let summary =
                (l.status == "active").then(|| summaries.get(&l.id).cloned().unwrap_or_default());
            let mut v = serde_json::to_value(&l).unwrap_or_default();
            if let (Some(s), Some(o)) = (summary, v.as_object_mut()) {
                if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(s) {
                    o.extend(fields);
                }
            }
            v
        })
        .collect()
}

/// A CSV cell that spreadsheets will not run as a formula.
fn cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}

/// `GET /api/v1/leads.csv?site=`: every active lead with the columns CRM imports expect.
pub async fn csv(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<CsvQuery>,
) -> Result<HttpResponse, ApiError> {
    let site = readable_site(&state, &req, &q.site)?;
    let leads = state.leads.active(site.domain.as_str()).await?;
    let summaries = state
        .leads
        .summaries(site.domain.as_str(), None, &site.lead_scoring)
        .await?;
    let mut out = ::csv::Writer::from_writer(Vec::new());
    let write = |out: &mut ::csv::Writer<Vec<u8>>, row: &[String]| {
        out.write_record(row)
            .map_err(|e| ApiError::bad_request(format!("cannot write CSV: {e}")))
    };
    write(
        &mut out,
        &[
            "Email",
            "FirstName",
            "LastName",
            "Company",
            "LeadSource",
            "Status",
            "ConsentAt",
            "CreatedAt",
            "Score",
            "Visits",
            "LastSeen",
            "LeadId",
            "Frequency",
            "Topics",
        ]
        .map(String::from),
    )?;
    let iso = |t: Option<u32>| {
        t.and_then(|t| chrono::DateTime::from_timestamp(i64::from(t), 0))
            .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    };
    for l in &leads {
        let summary = summaries.get(&l.id);
        let name = l.name.clone().unwrap_or_default();
        let (first, last) = match name.trim().split_once(' ') {
            Some((f, rest)) => (f.to_string(), rest.trim().to_string()),
            None => (name.trim().to_string(), String::new()),
        };
        write(
            &mut out,
            &[
                cell(l.email.as_deref().unwrap_or("")),
                cell(&first),
                cell(&last),
                cell(l.company.as_deref().unwrap_or("")),
                cell(
                    summary
                        .map(|s| s.lead_source.as_str())
                        .filter(|s| !s.is_empty())
                        .unwrap_or("Direct / None"),
                ),
                l.status.clone(),
                iso(l.consent_at),
                iso(l.created_at),
                summary.map(|s| s.score).unwrap_or(0.0).to_string(),
                summary.map(|s| s.visits).unwrap_or(0).to_string(),
                iso(summary.and_then(|s| s.last_seen)),
                l.id.clone(),
                cell(l.preferences.as_ref().map_or("", |p| p.frequency.as_str())),
                cell(
                    &l.preferences
                        .as_ref()
                        .map(|p| p.topics.join("; "))
                        .unwrap_or_default(),
                ),
            ],
        )?;
    }
    let body = out
        .into_inner()
        .map_err(|e| ApiError::bad_request(format!("cannot write CSV: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"leads-{}.csv\"", site.domain),
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(body))
}

#[derive(Deserialize)]
pub struct CsvQuery {
    site: String,
}
