//! `POST /api/v1/sql`: read-only ad-hoc SQL for analysts. Read-only is enforced by the engine
//! (`readonly=1` on a dedicated connection or request), with row and time limits; the text is
//! never inspected. Engine errors come back as 400 with the engine's message.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::json::Json;
use super::{ApiError, AppState};
use crate::auth::Scope;
use crate::store::{Params, StoreError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlRequest {
    query: String,
    /// Optional server-side parameters for `{name:Type}` placeholders in the query.
    #[serde(default)]
    params: Map<String, Value>,
}

pub async fn run(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<SqlRequest>,
) -> Result<HttpResponse, ApiError> {
    let principal = state.authorize(&req, Scope::SqlRead)?;
    // Ad-hoc SQL can read any site's rows, so only tokens valid for every site may use it.
    if principal.is_site_limited() {
        return Err(ApiError::forbidden(
            "tokens limited to sites cannot run ad-hoc SQL; use the stats API",
        ));
    }
    let body = body.into_inner();
    if body.query.trim().is_empty() {
        return Err(ApiError::bad_request("query must not be empty").field("query"));
    }
    let mut params = Params::new();
    for (name, value) in &body.params {
        if !crate::store::is_valid_name(name) {
            return Err(
                ApiError::bad_request(format!("invalid parameter name \"{name}\"")).field("params"),
            );
        }
        match value {
            Value::String(s) => params.push(name, s.as_str()),
            Value::Number(n) => params.push_raw(name, n.to_string()),
            Value::Bool(b) => params.push(name, *b),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "parameter \"{name}\" must be a string, number or boolean"
                ))
                .field("params"))
            }
        }
    }
    let output = state
        .store
        .query_readonly(&body.query, &params, "JSONCompact")
        .await
        .map_err(|e| match e {
            StoreError::Query { message, .. } => ApiError::bad_request(message).field("query"),
            other => other.into(),
        })?;
    // A statement with no result set (e.g. `SET` refused earlier, or `SHOW` producing nothing)
    // returns no output at all.
    if output.is_empty() {
        return Ok(HttpResponse::Ok().json(json!({"columns": [], "rows": []})));
    }
    let mut parsed: Map<String, Value> = serde_json::from_slice(&output)
        .map_err(|e| ApiError::from(StoreError::Decode(e.to_string())))?;
    Ok(HttpResponse::Ok().json(json!({
        "columns": parsed.remove("meta").unwrap_or(Value::Array(vec![])),
        "rows": parsed.remove("data").unwrap_or(Value::Array(vec![])),
        "statistics": parsed.remove("statistics").unwrap_or(Value::Null),
    })))
}
