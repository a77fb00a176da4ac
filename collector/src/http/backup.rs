//! `POST /api/v1/backup` (admin, the whole store): a consistent backup of the running
//! collector into a new directory on its machine — the store's database (ClickHouse's
//! `BACKUP DATABASE`, taken while beacons keep arriving: everything acknowledged before the
//! call is handed to the store first), the server key that opens lead contact details and
//! webhook secrets, and a manifest. `candor restore` puts it into an empty data directory.
//! Salts are not needed after two days; the spool is empty by construction.

use std::path::PathBuf;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::json::Json;
use super::{ApiError, AppState};
use crate::auth::Scope;
use crate::store::{fetch, Params};

/// How long a backup waits for the spool to reach the store.
const HAND_OVER: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// An absolute path on the collector's machine that does not exist yet (or is empty).
    dir: String,
}

/// The manifest's file name in a backup directory.
pub const MANIFEST: &str = "candor-backup.json";

pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<BackupRequest>,
) -> Result<HttpResponse, ApiError> {
    let principal = state.authorize_reader(&req, Scope::Admin)?;
    if principal.is_site_limited() {
        return Err(ApiError::forbidden(
            "a backup holds every site: it needs an admin token for all sites",
        ));
    }
    let body = body.into_inner();
    let dir = PathBuf::from(&body.dir);
    if !dir.is_absolute() || body.dir.contains(['\'', '\\', '\n']) {
        return Err(ApiError::bad_request(
            "dir is an absolute path on the collector's machine, without quotes or backslashes",
        )
        .field("dir"));
    }
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            format!(
                "{} exists and is not empty: a backup goes into a new directory",
                dir.display()
            ),
        )
        .field("dir"));
    }
    if !state.spool.handed_over(HAND_OVER).await {
        return Err(ApiError::unavailable(
            "the spool has not reached the store yet (is the store down?): try again",
            30,
        ));
    }
    crate::privacy::keys::create_private_dir(&dir).map_err(|e| {
        ApiError::bad_request(format!("cannot create {}: {e}", dir.display())).field("dir")
    })?;
    #[derive(Deserialize)]
    struct Db {
        db: String,
    }
    let db = fetch::<Db>(
        state.store.as_ref(),
        "SELECT currentDatabase() AS db",
        &Params::new(),
    )
    .await?
    .pop()
    .map(|d| d.db)
    .unwrap_or_else(|| "default".into());
    let target = dir.join("store");
    let started = std::time::Instant::now();
    state
        .store
        .execute(
            &crate::store::backup_statement(false, &db, &target)?,
            &Params::new(),
        )
        .await?;
    // The key that seals contact details, salts and webhook secrets: from the data directory,
    // unless it is configured (CANDOR_PII_KEY), in which case the operator keeps it.
    let key_file = state.config.data_dir.join("pii.key");
    let key = if state.config.pii_key.is_some() {
        "configured (CANDOR_PII_KEY): not in the backup; restore with the same key"
    } else {
        std::fs::copy(&key_file, dir.join("pii.key")).map_err(|e| {
            ApiError::new(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot copy the server key: {e}"),
            )
        })?;
        "pii.key"
    };
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let versions: Vec<u32> = fetch::<Version>(
        state.store.as_ref(),
        "SELECT DISTINCT version FROM schema_migrations ORDER BY version",
        &Params::new(),
    )
    .await?
    .into_iter()
    .map(|v| v.version)
    .collect();
    let manifest = json!({
        "format": 1,
        "created_at": state.clock.unix_seconds(),
        "database": db,
        "migrations": versions,
        "server_key": key,
        "candor": env!("CARGO_PKG_VERSION"),
    });
    std::fs::write(
        dir.join(MANIFEST),
        serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    )
    .map_err(|e| {
        ApiError::new(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write the manifest: {e}"),
        )
    })?;
    tracing::info!(dir = %dir.display(), seconds = started.elapsed().as_secs_f64(), "backup written");
    Ok(HttpResponse::Created().json(json!({
        "dir": dir.display().to_string(),
        "manifest": manifest,
        "seconds": started.elapsed().as_secs_f64(),
    })))
}
