//! The privacy center: a page per site where visitors see what it collects, change this
//! browser's consent, and — after proving who they are with a link sent to their address —
//! see, correct, download or erase what the site holds about them.
//!
//! Routes (all server-rendered, usable without JavaScript except the consent buttons):
//! - `GET /privacy/center?site=` the center; `&consent=` is the level the snippet reports.
//! - `POST /privacy/center/link` (form) and `POST /api/privacy/link` (JSON) ask for a link.
//!   The answer never depends on whether the address is a lead: validation and rate limits
//!   first, then the lookup and the mail happen after the answer, off the request.
//! - `GET /privacy/center/open?token=` shows a button (mail scanners that fetch links must not
//!   use them up); `POST /privacy/center/open` uses the link and starts a 30-minute session.
//! - `GET /privacy/center/me`, `POST /privacy/center/me` (update, preferences, opt-out,
//!   erase), `GET /privacy/center/me/data.json`, `POST /privacy/center/signout`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use serde_json::Value;

use super::{ApiError, AppState};
use crate::leads::center::{PersonalRecord, Preferences, Session, LINK_TTL_MS, SESSION_TTL_SECS};
use crate::leads::Email;
use crate::mail::Letter;
use crate::sites::Site;

const COOKIE: &str = "candor_privacy";
const SCRIPT: &str = include_str!("center.js");
const LEVELS: [(&str, &str); 3] = [
    ("none", "Anonymous counting only"),
    ("analytics", "Analytics"),
    ("marketing", "Marketing"),
];

fn label(level: &str) -> &'static str {
    LEVELS
        .iter()
        .find(|(l, _)| *l == level)
        .map_or("Not known here", |(_, t)| t)
}

const STYLE: &str = "body{font:16px/1.55 system-ui,sans-serif;max-width:44rem;margin:0 auto;padding:1rem 1rem 3rem;color:#1b1b1b;background:#fff}\
h1{font-size:1.55rem;line-height:1.25}h2{font-size:1.2rem;margin-top:2rem}\
section{border-top:1px solid #ddd}label{display:block;margin:.6rem 0 .2rem;font-weight:600}\
input[type=email],input[type=text]{font:inherit;width:100%;max-width:24rem;padding:.5rem;border:1px solid #767676;border-radius:4px;box-sizing:border-box}\
button{font:inherit;padding:.55rem 1rem;border-radius:4px;border:1px solid #1f4fbf;background:#1f4fbf;color:#fff;cursor:pointer;margin:.3rem .4rem .3rem 0}\
button[disabled]{background:#eee;color:#555;border-color:#bbb;cursor:not-allowed}\
button[aria-pressed=true]{outline:3px solid #111;outline-offset:2px}\
button.quiet{background:#fff;color:#1f4fbf}button.danger{background:#a4161a;border-color:#a4161a}\
fieldset{border:1px solid #ccc;border-radius:4px;margin:.8rem 0}legend{font-weight:600}\
fieldset label{font-weight:400;display:flex;gap:.5rem;align-items:center}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}\
.notice{background:#eef5ee;border-left:4px solid #2b7a2b;padding:.6rem .9rem}\
.warn{background:#fdf3e7;border-left:4px solid #b35c00;padding:.6rem .9rem}\
a{color:#1f4fbf}footer{margin-top:2.5rem;font-size:.9rem;color:#444}\
@media (max-width:30rem){dl{grid-template-columns:1fr}dd{margin-bottom:.5rem}}";

/// A center page with headers that keep its contents to itself: never cached, never framed,
/// no referrer to other sites (a link's token must not travel on; same-origin keeps the
/// `Origin` of the center's own forms, which `no-referrer` would make `null`), scripts only
/// from here.
fn page(status: StatusCode, title: &str, body: Markup) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                main { (body) }
                footer { "Privacy center powered by Candor, self-hosted analytics." }
                script src="/privacy/center.js" {}
            }
        }
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .body(markup.into_string())
}

pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(SCRIPT)
}

fn site_of(state: &AppState, domain: &str) -> Result<Site, ApiError> {
    state
        .sites
        .get(domain)
        .ok_or_else(|| ApiError::not_found("unknown site").field("site"))
}

/// Where people reach the site owner when the center cannot send mail.
fn contact_of(site: &Site) -> String {
    let c = site.privacy_center.contact.trim();
    if c.is_empty() {
        format!("through {}", site.domain)
    } else {
        c.to_string()
    }
}

fn strings(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|i| match i {
            Value::Object(o) => (
                o.get("item")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                o.get("detail")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
            other => (String::new(), other.as_str().unwrap_or("").to_string()),
        })
        .collect()
}

#[derive(Deserialize)]
pub struct CenterQuery {
    site: String,
    consent: Option<String>,
}

pub async fn center(
    state: web::Data<AppState>,
    q: web::Query<CenterQuery>,
) -> Result<HttpResponse, ApiError> {
    let site = site_of(&state, &q.site)?;
    let s = super::privacy::statement(&state, site.domain.as_str())?;
    let current = q
        .consent
        .as_deref()
        .filter(|c| LEVELS.iter().any(|(l, _)| l == c))
        .unwrap_or("");
    let recipients = state.webhooks.recipients(site.domain.as_str());
    let domain = site.domain.as_str();
    let body = html! {
        h1 { "Your privacy on " (domain) }
        p { (domain) " counts visits with Candor, which it runs on its own server. This page is generated from the site's actual settings: what it collects, what it never does, and what you can do about it." }
        section #consent data-site=(domain) data-current=(current) aria-labelledby="consent-h" {
            h2 #consent-h { "Your choice in this browser" }
            p { "Now: " strong #level { (label(current)) } }
            div role="group" aria-label="Choose what this browser allows" {
                @for (level, text) in LEVELS {
                    button type="button" data-level=(level) data-label=(text) disabled aria-pressed="false" { (text) }
                }
            }
            p #consent-note { "To change it, open this page from " (domain) " (its privacy link): the choice is kept in your browser there." }
            dl {
                @for (level, text) in LEVELS {
                    dt { (text) }
                    dd { (s["consent_levels"][level].as_str().unwrap_or("")) }
                }
            }
        }
        section aria-labelledby="collected-h" {
            h2 #collected-h { "What " (domain) " collects for each visit" }
            ul { @for (item, detail) in strings(&s["collected"]) { li { strong { (item) } ": " (detail) } } }
            h2 { "What it never collects" }
            ul { @for (_, text) in strings(&s["never_collected"]) { li { (text) } } }
            h2 { "How long it keeps it" }
            p { "Visits are kept for " (site.retention_days) " days, then deleted. The daily salt behind the anonymous visitor id is destroyed after two days." }
            h2 { "Who receives it" }
            @if recipients.is_empty() {
                p { "Nobody: the data stays on the site's own server." }
            } @else {
                p { "Visit statistics stay on the site's own server. The contact details of people who gave them with marketing consent, and their changes, are passed to:" }
                ul { @for r in &recipients { li { (r) } } }
            }
        }
        section aria-labelledby="you-h" {
            h2 #you-h { "What " (domain) " holds about you" }
            p { "If you gave " (domain) " your email address, you can see what it holds about you, correct it, choose how often you hear from it, download it, or erase it. Nothing about a person is ever shown on the strength of a browser alone: you prove it is you with a link sent to your address." }
            @if state.mailer.configured() {
                form method="post" action="/privacy/center/link" {
                    input type="hidden" name="site" value=(domain);
                    label for="email" { "Your email address" }
                    input #email type="email" name="email" required autocomplete="email" maxlength="254";
                    div { button type="submit" { "Email me a link" } }
                }
                p { "The link works once, for 15 minutes. If " (domain) " does not know the address, no mail is sent — and this page cannot tell anyone either way." }
            } @else {
                p.warn { "This site does not send mail from here. To see, correct, download or erase what it holds about you, contact the site owner " (contact_of(&site)) "." }
            }
        }
        p { a href={ "/privacy?site=" (domain) } { "The full statement" } " · " a href={ "/privacy.json?site=" (domain) } { "privacy.json" } }
    };
    Ok(page(
        StatusCode::OK,
        &format!("Your privacy on {domain}"),
        body,
    ))
}

#[derive(Deserialize)]
pub struct LinkRequest {
    site: String,
    email: String,
}

/// Validation and rate limits, then the answer; the lookup and the mail run afterwards.
async fn request_link(
    state: &AppState,
    req: &HttpRequest,
    site: &str,
    email: &str,
) -> Result<(), ApiError> {
    let site = site_of(state, site)?;
    if !state.mailer.configured() {
        return Err(ApiError::unavailable(
            format!(
                "this collector does not send mail; contact the site owner {}",
                contact_of(&site)
            ),
            3600,
        ));
    }
    let email = Email::parse(email)
        .ok_or_else(|| ApiError::bad_request("a valid email address is required").field("email"))?;
    let client = crate::privacy::client::client_ip(req, &state.config.trusted_proxies)
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let address = state.leads.email_hash(site.domain.as_str(), &email);
    state
        .rate_limits
        .check_link(client, &address)
        .map_err(|l| ApiError {
            retry_after: Some(l.retry_after_secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many link requests; try again later",
            )
        })?;
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = send_link(&state, &site, &email).await {
            tracing::warn!(site = %site.domain, error = %e, "privacy center link not queued");
        }
    });
    Ok(())
}

async fn send_link(
    state: &AppState,
    site: &Site,
    email: &Email,
) -> Result<(), crate::store::StoreError> {
    let domain = site.domain.as_str();
    let Some(lead_id) = state.leads.find(domain, email).await? else {
        return Ok(());
    };
    let now = state.clock.unix_millis();
    let (token, expires) = state.leads.create_link(domain, &lead_id, now).await?;
    let url = format!(
        "{}/privacy/center/open?token={token}",
        state.config.public_url
    );
    let letter = sign_in_letter(site, email.as_str(), &url);
    state
        .mailer
        .queue(domain, &lead_id, "link", &letter, now, expires)
        .await?;
    tracing::info!(site = %domain, lead = %lead_id, "privacy center link queued");
    Ok(())
}

fn sender_name(site: &Site) -> String {
    let n = site.privacy_center.sender_name.trim();
    if n.is_empty() {
        site.domain.to_string()
    } else {
        n.to_string()
    }
}

fn sign_in_letter(site: &Site, to: &str, url: &str) -> Letter {
    let domain = site.domain.as_str();
    let minutes = LINK_TTL_MS / 60_000;
    let text = format!(
        "Hello,\n\nsomeone, hopefully you, asked to see what {domain} holds about {to}.\n\
         Open this link within {minutes} minutes to see it, correct it, choose how often you hear \
         from {domain}, download it or erase it:\n\n{url}\n\n\
         The link works once. If you did not ask for it, ignore this mail: nothing changes.\n\n\
         {sender}\n",
        sender = sender_name(site),
    );
    let html = html! {
        p { "Hello," }
        p { "someone, hopefully you, asked to see what " (domain) " holds about " (to) ". Open this link within " (minutes) " minutes to see it, correct it, choose how often you hear from " (domain) ", download it or erase it:" }
        p { a href=(url) { "See what " (domain) " holds about you" } }
        p { "The link works once. If you did not ask for it, ignore this mail: nothing changes." }
        p { (sender_name(site)) }
    };
    Letter {
        to: to.to_string(),
        sender_name: sender_name(site),
        subject: format!("Your link to what {domain} holds about you"),
        text,
        html: html.into_string(),
    }
}

/// The yearly "what we hold about you" mail of a lead.
pub fn notice_letter(site: &Site, to: &str, center_url: &str) -> Letter {
    let domain = site.domain.as_str();
    let text = format!(
        "Hello,\n\nonce a year {domain} tells the people it holds contact details for what it keeps \
         and why. Because you gave it your address with marketing consent, it holds: your email \
         address, the name and company you gave, when you consented and to which version of its \
         text, how often and about what you want to hear from it, and the visits of the browser \
         you consented in.\n\nYou can see all of it, correct it, change how often you hear from \
         {domain}, download it or erase it in its privacy center (ask there for a sign-in link):\n\n\
         {center_url}\n\n{sender}\n",
        sender = sender_name(site),
    );
    let html = html! {
        p { "Hello," }
        p { "once a year " (domain) " tells the people it holds contact details for what it keeps and why. Because you gave it your address with marketing consent, it holds: your email address, the name and company you gave, when you consented and to which version of its text, how often and about what you want to hear from it, and the visits of the browser you consented in." }
        p { "You can see all of it, correct it, change how often you hear from " (domain) ", download it or erase it in its " a href=(center_url) { "privacy center" } " (ask there for a sign-in link)." }
        p { (sender_name(site)) }
    };
    Letter {
        to: to.to_string(),
        sender_name: sender_name(site),
        subject: format!("What {domain} holds about you"),
        text,
        html: html.into_string(),
    }
}

fn link_sent(site: &str) -> HttpResponse {
    page(
        StatusCode::OK,
        "Check your inbox",
        html! {
            h1 { "Check your inbox" }
            p.notice { "If " (site) " holds that address, a link is on its way to it. It works once, for 15 minutes." }
            p { "No mail? Check the spam folder, or the address you typed. " a href={ "/privacy/center?site=" (site) } { "Back to the privacy center" } }
        },
    )
}

fn problem(status: StatusCode, title: &str, text: &str, back: Option<&str>) -> HttpResponse {
    page(
        status,
        title,
        html! {
            h1 { (title) }
            p.warn { (text) }
            @if let Some(site) = back { p { a href={ "/privacy/center?site=" (site) } { "Back to the privacy center" } } }
        },
    )
}

pub async fn link_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LinkRequest>,
) -> HttpResponse {
    match request_link(&state, &req, &form.site, &form.email).await {
        Ok(()) => link_sent(&form.site),
        Err(e) => {
            let back = state.sites.get(&form.site).map(|s| s.domain.to_string());
            problem(e.status, "That did not work", &e.message, back.as_deref())
        }
    }
}

pub async fn link_api(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: super::json::Json<LinkRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    request_link(&state, &req, &body.site, &body.email).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "status": "accepted",
        "message": "if the site holds this address, a sign-in link valid for 15 minutes was sent to it",
    })))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

fn link_gone() -> HttpResponse {
    problem(
        StatusCode::GONE,
        "This link no longer works",
        "It has expired or was already used. Nothing is shown. Ask for a new link in the site's privacy center.",
        None,
    )
}

pub async fn open_page(
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let token = q.token.as_deref().unwrap_or("");
    let Some((site, _)) = state
        .leads
        .peek_link(token, state.clock.unix_seconds())
        .await?
    else {
        return Ok(link_gone());
    };
    Ok(page(
        StatusCode::OK,
        &format!("Your data at {site}"),
        html! {
            h1 { "Your data at " (site) }
            p { "Continue to see what " (site) " holds about you. The link then stops working; you stay signed in for 30 minutes in this browser." }
            form method="post" action="/privacy/center/open" {
                input type="hidden" name="token" value=(token);
                button type="submit" { "Show my data" }
            }
        },
    ))
}

#[derive(Deserialize)]
pub struct TokenForm {
    token: String,
}

/// The privacy center's session cookie: only the center's own paths see it.
const SESSION: (&str, &str) = (COOKIE, "/privacy/center");

/// A change must come from the center's own pages (the cookie is SameSite=Strict already).
fn same_origin(req: &HttpRequest) -> Result<(), ApiError> {
    super::same_origin(req, "a change must come from the privacy center's own page")
}

pub async fn open(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, ApiError> {
    same_origin(&req)?;
    let Some((site, lead_id)) = state
        .leads
        .consume_link(&form.token, state.clock.unix_seconds())
        .await?
    else {
        return Ok(link_gone());
    };
    let session = Session {
        site,
        lead_id,
        expires: u64::from(state.clock.unix_seconds()) + SESSION_TTL_SECS,
    };
    let value = state.leads.session_cookie(&session);
    Ok(HttpResponse::SeeOther()
        .cookie(super::session_cookie(
            &state,
            &req,
            SESSION,
            value,
            SESSION_TTL_SECS as i64,
        ))
        .insert_header((header::LOCATION, "/privacy/center/me"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// The signed-in person and the session cookie's value.
fn signed_in(state: &AppState, req: &HttpRequest) -> Option<(Session, String)> {
    req.cookie(COOKIE).and_then(|c| {
        let v = c.value().to_string();
        state
            .leads
            .open_session(&v, u64::from(state.clock.unix_seconds()))
            .map(|s| (s, v))
    })
}

/// What the signed-in person's site holds about them (with the session's cookie), or the
/// page to show instead: not signed in, or nothing held any more.
async fn own_record(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Result<(String, Site, PersonalRecord), HttpResponse>, ApiError> {
    let Some((session, cookie)) = signed_in(state, req) else {
        return Ok(Err(not_signed_in()));
    };
    let Some(site) = state.sites.get(&session.site) else {
        return Ok(Err(nothing_held(None)));
    };
    match state
        .leads
        .personal_record(&session.site, &session.lead_id, &site.lead_scoring)
        .await?
    {
        Some(record) => Ok(Ok((cookie, site, record))),
        None => Ok(Err(nothing_held(Some(site.domain.as_str())))),
    }
}

fn nothing_held(back: Option<&str>) -> HttpResponse {
    problem(
        StatusCode::NOT_FOUND,
        "Nothing held",
        "The site holds nothing about you any more.",
        back,
    )
}

/// The page for a request without a session.
fn not_signed_in() -> HttpResponse {
    problem(
        StatusCode::UNAUTHORIZED,
        "Not signed in",
        "Open the link we sent to your address to see your data. Links work once, for 15 minutes; the session after it lasts 30 minutes.",
        None,
    )
}

fn date(t: u32) -> String {
    chrono::DateTime::from_timestamp(i64::from(t), 0)
        .map(|d| d.format("%-d %B %Y, %H:%M UTC").to_string())
        .unwrap_or_default()
}

#[derive(Deserialize)]
pub struct MeQuery {
    done: Option<String>,
}

pub async fn me(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<MeQuery>,
) -> Result<HttpResponse, ApiError> {
    let (cookie, site, r) = match own_record(&state, &req).await? {
        Ok(held) => held,
        Err(page) => return Ok(page),
    };
    let csrf = state.leads.form_token(&cookie);
    let settings = &site.privacy_center;
    let done = match q.done.as_deref() {
        Some("update") => Some("Saved: your name and company."),
        Some("preferences") => Some("Saved: your contact preferences."),
        Some("optout") => Some("Done: you are opted out of marketing. Your contact details are no longer passed on, and your browser is counted anonymously only."),
        _ => None,
    };
    let domain = site.domain.as_str();
    let body = html! {
        h1 { "What " (domain) " holds about you" }
        @if let Some(d) = done { p.notice role="status" { (d) } }
        dl {
            dt { "Email address" } dd { (r.email) }
            dt { "Name" } dd { @if r.name.is_empty() { "—" } @else { (r.name) } }
            dt { "Company" } dd { @if r.company.is_empty() { "—" } @else { (r.company) } }
            dt { "Marketing consent" } dd {
                @if r.status == "active" { "given " (date(r.consent_at)) ", to version " (r.consent_version) " of the site's text" @if !r.consent_page.is_empty() { ", on " (r.consent_page) } }
                @else { "withdrawn" }
            }
            dt { "How often" } dd { @if r.preferences.frequency.is_empty() { "not chosen" } @else { (r.preferences.frequency) } }
            dt { "Topics" } dd { @if r.preferences.topics.is_empty() { "none chosen" } @else { (r.preferences.topics.join(", ")) } }
            dt { "First seen" } dd { (r.first_seen.map(date).unwrap_or_else(|| "—".into())) }
            dt { "Last seen" } dd { (r.last_seen.map(date).unwrap_or_else(|| "—".into())) }
            dt { "Visits linked to you" } dd { (r.visits_linked) " (" (r.pageviews_linked) " page views)" }
        }
        p { "The visits are the ones made in a browser where you consented to marketing. " (domain) " does not show a browsing history here." }

        section aria-labelledby="update-h" {
            h2 #update-h { "Correct your name and company" }
            form method="post" action="/privacy/center/me" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="action" value="update";
                label for="name" { "Name" }
                input #name type="text" name="name" value=(r.name) maxlength="200" autocomplete="name";
                label for="company" { "Company" }
                input #company type="text" name="company" value=(r.company) maxlength="200" autocomplete="organization";
                div { button type="submit" { "Save" } }
            }
        }
        section aria-labelledby="prefs-h" {
            h2 #prefs-h { "How often you hear from " (domain) }
            form method="post" action="/privacy/center/me" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="action" value="preferences";
                fieldset {
                    legend { "How often" }
                    @for (i, f) in settings.frequencies.iter().enumerate() {
                        label for={ "f" (i) } {
                            input id={ "f" (i) } type="radio" name="frequency" value=(f) checked[r.preferences.frequency == *f];
                            (f)
                        }
                    }
                }
                @if !settings.topics.is_empty() {
                    fieldset {
                        legend { "About" }
                        @for (i, t) in settings.topics.iter().enumerate() {
                            label for={ "t" (i) } {
                                input id={ "t" (i) } type="checkbox" name="topic" value=(t) checked[r.preferences.topics.contains(t)];
                                (t)
                            }
                        }
                    }
                }
                button type="submit" { "Save preferences" }
            }
        }
        section aria-labelledby="optout-h" {
            h2 #optout-h { "Stop marketing" }
            @if r.status == "active" {
                p { "Withdraw your marketing consent: " (domain) " stops linking your visits to you and stops passing your details on. It keeps your address only so you can come back here." }
                form method="post" action="/privacy/center/me" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="action" value="optout";
                    button.quiet type="submit" { "Opt out of marketing" }
                }
            } @else {
                p { "You are opted out of marketing." }
            }
        }
        section aria-labelledby="download-h" {
            h2 #download-h { "Take your data" }
            p { a href="/privacy/center/me/data.json" download { "Download everything as JSON" } }
        }
        section aria-labelledby="erase-h" {
            h2 #erase-h { "Erase yourself" }
            p { "Erases your contact details, preferences and the link between you and your visits from every table; connected CRM systems are told to do the same. This cannot be undone." }
            form method="post" action="/privacy/center/me" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="action" value="erase";
                label { input type="checkbox" name="confirm" value="yes" required; " I want " (domain) " to erase what it holds about me" }
                button.danger type="submit" { "Erase me" }
            }
        }
        form method="post" action="/privacy/center/signout" {
            input type="hidden" name="csrf" value=(csrf);
            button.quiet type="submit" { "Sign out" }
        }
    };
    Ok(page(
        StatusCode::OK,
        &format!("What {domain} holds about you"),
        body,
    ))
}

#[derive(Deserialize)]
pub struct Change {
    csrf: String,
    action: String,
    name: Option<String>,
    company: Option<String>,
    frequency: Option<String>,
    confirm: Option<String>,
}

/// Constant-time comparison of a form token with the expected one.
fn same_token(sent: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    sent.len() == expected.len() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

fn back_to_me(done: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/privacy/center/me?done={done}")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

pub async fn change(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    same_origin(&req)?;
    let Some((session, cookie)) = signed_in(&state, &req) else {
        return Ok(not_signed_in());
    };
    // Topics repeat (`topic=a&topic=b`), which a struct form cannot hold: read pairs.
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|_| ApiError::bad_request("invalid form"))?;
    let topics: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "topic")
        .map(|(_, v)| v.clone())
        .collect();
    let form: Change = serde_urlencoded::from_str(
        &serde_urlencoded::to_string(
            pairs
                .iter()
                .filter(|(k, _)| k != "topic")
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default(),
    )
    .map_err(|_| ApiError::bad_request("invalid form"))?;
    if !same_token(&form.csrf, &state.leads.form_token(&cookie)) {
        return Err(ApiError::forbidden(
            "this form is out of date: reload the page",
        ));
    }
    let site = site_of(&state, &session.site)?;
    let (domain, id) = (site.domain.as_str(), session.lead_id.as_str());
    let changed = match form.action.as_str() {
        "update" => {
            for (field, v) in [("name", &form.name), ("company", &form.company)] {
                if v.as_ref().is_some_and(|s| s.chars().count() > 200) {
                    return Err(ApiError::bad_request(format!(
                        "{field} is longer than 200 characters"
                    ))
                    .field(field));
                }
            }
            state
                .leads
                .update_contact(
                    domain,
                    id,
                    form.name.as_deref().unwrap_or(""),
                    form.company.as_deref().unwrap_or(""),
                )
                .await?
        }
        "preferences" => {
            let settings = &site.privacy_center;
            let frequency = form.frequency.unwrap_or_default();
            if !frequency.is_empty() && !settings.frequencies.contains(&frequency) {
                return Err(
                    ApiError::bad_request("choose one of the site's frequencies")
                        .field("frequency"),
                );
            }
            if let Some(t) = topics.iter().find(|t| !settings.topics.contains(t)) {
                return Err(ApiError::bad_request(format!(
                    "\"{}\" is not one of the site's topics",
                    t.chars().take(60).collect::<String>()
                ))
                .field("topic"));
            }
            let mut topics = topics;
            topics.sort_by_key(|t| settings.topics.iter().position(|x| x == t));
            topics.dedup();
            state
                .leads
                .set_preferences(domain, id, &Preferences { frequency, topics })
                .await?
        }
        "optout" => state.leads.withdraw(domain, id).await?,
        "erase" => {
            if form.confirm.as_deref() != Some("yes") {
                return Err(ApiError::bad_request("tick the box to confirm").field("confirm"));
            }
            let erased = state
                .leads
                .erase(crate::leads::erasure::Subject::Lead { site: domain, id })
                .await?;
            for (site, id) in &erased {
                tracing::info!(site = %site, lead = %id, "lead erased in the privacy center");
                super::leads::announce(&state, site, "lead.erased", id).await?;
            }
            let resp = page(
                StatusCode::OK,
                "Erased",
                html! {
                    h1 { "Erased" }
                    p.notice role="status" { (domain) " no longer holds your contact details, preferences or the link to your visits. Connected systems have been told." }
                    p { "To stop this browser from sending anything at all, choose “Anonymous counting only” in " a href={ "/privacy/center?site=" (domain) } { "the privacy center" } " opened from the site, or turn on Global Privacy Control." }
                },
            );
            return without_session(&state, &req, resp);
        }
        _ => return Err(ApiError::bad_request("unknown action").field("action")),
    };
    if !changed {
        return Ok(nothing_held(Some(domain)));
    }
    tracing::info!(site = %domain, lead = %id, action = %form.action, "lead changed in the privacy center");
    super::leads::announce(&state, domain, "lead.updated", id).await?;
    Ok(back_to_me(&form.action))
}

pub async fn download(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, site, record) = match own_record(&state, &req).await? {
        Ok(held) => held,
        Err(page) => return Ok(page),
    };
    let body = serde_json::json!({
        "exported_at": state.clock.unix_seconds(),
        "site": record.site,
        "lead": record,
        "about": super::privacy::statement(&state, site.domain.as_str())?,
    });
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}-my-data.json\"", site.domain),
        ))
        .body(serde_json::to_string_pretty(&body).unwrap_or_default()))
}

#[derive(Deserialize)]
pub struct SignOut {
    csrf: String,
}

pub async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SignOut>,
) -> Result<HttpResponse, ApiError> {
    same_origin(&req)?;
    let site = match signed_in(&state, &req) {
        Some((s, cookie)) if same_token(&form.csrf, &state.leads.form_token(&cookie)) => {
            Some(s.site)
        }
        _ => None,
    };
    let resp = page(
        StatusCode::OK,
        "Signed out",
        html! {
            h1 { "Signed out" }
            @if let Some(site) = &site { p { a href={ "/privacy/center?site=" (site) } { "Back to the privacy center" } } }
        },
    );
    without_session(&state, &req, resp)
}

/// `resp` with the center's session cookie cleared (after erasure and on signing out).
fn without_session(
    state: &AppState,
    req: &HttpRequest,
    mut resp: HttpResponse,
) -> Result<HttpResponse, ApiError> {
    resp.add_cookie(&super::session_cookie(
        state,
        req,
        SESSION,
        String::new(),
        0,
    ))
    .map_err(|_| ApiError::bad_request("cannot clear the cookie"))?;
    Ok(resp)
}

/// Queues the yearly notice for every active lead of the sites that enabled it and have not
/// had one for a year (or were created a year ago). Returns how many were queued.
pub async fn yearly_notices(state: &AppState) -> Result<usize, crate::store::StoreError> {
    const YEAR_MS: u64 = 365 * 86_400_000;
    let now = state.clock.unix_millis();
    let mut queued = 0;
    for site in state.sites.list() {
        if !site.privacy_center.yearly_notice || !state.mailer.configured() {
            continue;
        }
        let domain = site.domain.as_str();
        let last = state.mailer.last_queued(domain, "notice").await?;
        let center = format!("{}/privacy/center?site={domain}", state.config.public_url);
        for lead in state.leads.active(domain).await? {
            let since = last
                .get(&lead.id)
                .copied()
                .unwrap_or(u64::from(lead.created_at.unwrap_or(0)) * 1000);
            let Some(email) = lead.email.as_deref() else {
                continue;
            };
            if now.saturating_sub(since) < YEAR_MS {
                continue;
            }
            state
                .mailer
                .queue(
                    domain,
                    &lead.id,
                    "notice",
                    &notice_letter(&site, email, &center),
                    now,
                    0,
                )
                .await?;
            queued += 1;
        }
        if queued > 0 {
            tracing::info!(site = %domain, queued, "yearly privacy notices queued");
        }
    }
    Ok(queued)
}

/// `GET /api/v1/sites/{domain}/mail` (admin): the site's mail delivery log, nothing personal.
pub async fn deliveries(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let principal = state.authorize_reader(&req, crate::auth::Scope::Admin)?;
    let site = super::admin::site_in_scope(&state, &principal, &path, || {
        ApiError::not_found("unknown site")
    })?;
    let log = state.mailer.deliveries(&site, 200).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "deliveries": log })))
}
