//! Liveness, readiness and metrics.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;
use crate::store::Params;

/// The process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready to accept traffic: the store answers a query.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let check = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        state
            .store
            .query("SELECT 1", &Params::new(), "TabSeparated"),
    )
    .await;
    match check {
        Ok(Ok(_)) if state.spool.disk_full() => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "30"))
            .json(json!({"error": "the spool's disk is full: beacons get 503 until there is space", "field": null})),
        Ok(Ok(_)) if state.spool.is_full() => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "30"))
            .json(json!({"error": "spool full: the store is not taking events fast enough", "field": null})),
        Ok(Ok(_)) => {
            state.metrics.store_up.set(1);
            HttpResponse::Ok()
                .json(json!({"status": "ready", "store": state.store.engine().as_str()}))
        }
        Ok(Err(e)) => {
            state.metrics.store_up.set(0);
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .json(json!({"error": format!("store not ready: {e}"), "field": null}))
        }
        Err(_) => {
            state.metrics.store_up.set(0);
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .json(json!({"error": "store did not answer within 5 s", "field": null}))
        }
    }
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
