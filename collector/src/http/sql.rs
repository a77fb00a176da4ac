//! `POST /api/v1/sql`: read-only ad-hoc SQL for analysts. What may run is decided by
//! `crate::analyst` (an allow-list over the engine's own syntax tree); the engine's read-only
//! setting and limits apply as well. Refusals and engine errors are 400, too many queries at
//! once 429.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::json::Json;
use super::{ApiError, AppState};
use crate::analyst::AnalystError;
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

impl From<AnalystError> for ApiError {
    fn from(e: AnalystError) -> ApiError {
        match e {
            AnalystError::Refused(m) | AnalystError::Failed(m) => {
                ApiError::bad_request(m).field("query")
            }
            AnalystError::Busy(_) => ApiError {
                retry_after: Some(1),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string())
            },
            AnalystError::Store(s) => s.into(),
        }
    }
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
        .analyst
        .run(&body.query, &params, "JSONCompact")
        .await?;
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
