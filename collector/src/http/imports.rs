//! Imported history per site (`crate::imports`): `POST /api/v1/sites/{domain}/imports` takes
//! Plausible's export zip as the body, `GET` lists the site's imports, `DELETE .../{id}`
//! removes one. All need `admin`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::admin::admin_site;
use super::json::read_body;
use super::{ApiError, AppState};
use crate::imports::saved::{ImportError, Saved};
use crate::imports::{self, ExportError, Imports, MAX_UPLOAD_BYTES};

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> ApiError {
        let message = e.to_string();
        match e.file {
            Some(file) => ApiError::bad_request(message).field(file),
            None => ApiError::bad_request(message),
        }
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> ApiError {
        match e {
            ImportError::Invalid(e) => e.into(),
            ImportError::Overlaps(m) => ApiError::new(StatusCode::CONFLICT, m),
            ImportError::Store(s) => s.into(),
        }
    }
}

pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    domain: web::Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let site = admin_site(&state, &req, &domain)?;
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !matches!(
        mime.as_str(),
        "application/zip" | "application/x-zip-compressed" | "application/octet-stream"
    ) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the export as a zip archive (Content-Type: application/zip)",
        ));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = read_body(&mut payload, declared, MAX_UPLOAD_BYTES).await?;
    // Unzipping and parsing are CPU work: off the request threads.
    let export = web::block(move || imports::from_zip(&body))
        .await
        .map_err(|_| ApiError::unavailable("the import was interrupted", 5))??;
    match state
        .imports
        .save(state.store.as_ref(), &site, export)
        .await?
    {
        Saved::Created(summary) => {
            tracing::info!(site = %site, import = %summary.id, rows = summary.rows, "history imported");
            Ok(HttpResponse::Created().json(json!({"import": summary, "created": true})))
        }
        Saved::Unchanged(summary) => {
            Ok(HttpResponse::Ok().json(json!({"import": summary, "created": false})))
        }
    }
}

pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    domain: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let site = admin_site(&state, &req, &domain)?;
    let imports = Imports::list(state.store.as_ref(), &site).await?;
    Ok(HttpResponse::Ok().json(json!({ "imports": imports })))
}

pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (domain, id) = path.into_inner();
    let site = admin_site(&state, &req, &domain)?;
    if state
        .imports
        .delete(state.store.as_ref(), &site, &id)
        .await?
    {
        tracing::info!(site = %site, import = %id, "import deleted");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("no import with that id"))
    }
}
