//! `GET /js/candor.js` (and its variants): the tracker, embedded into the binary at build
//! time from `snippet/dist/`. Cacheable for an hour with an ETag; gzip when the browser asks.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::assets::{index, respond, Asset};
use super::ApiError;

include!(concat!(env!("OUT_DIR"), "/snippet_files.rs"));

static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| index(SNIPPET_FILES));

pub async fn script(req: HttpRequest, file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let Some(asset) = ASSETS.get(file.as_str()) else {
        return Err(if SNIPPET_FILES.is_empty() {
            ApiError::not_found(
                "the snippet was not built into this binary; run make snippet and rebuild",
            )
        } else {
            ApiError::not_found(format!(
                "no script named {}",
                file.chars().take(80).collect::<String>()
            ))
        });
    };
    Ok(respond(
        &req,
        asset,
        "application/javascript; charset=utf-8",
        |r| {
            r.insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
        },
    ))
}

/// Names of the embedded scripts (for the start-up banner and tests).
pub fn names() -> Vec<&'static str> {
    SNIPPET_FILES.iter().map(|(n, _)| *n).collect()
}
