//! One error type for every HTTP handler, mapped once to a status and the contract's JSON
//! body `{"error": "...", "field": ...}`. Bad input is always a 4xx, never a 500.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or invalid API token (send Authorization: Bearer <token>)",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unavailable(message: impl Into<String>, retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            resp.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let Some(secs) = self.retry_after {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        resp.json(Body {
            error: &self.message,
            field: self.field.as_deref(),
        })
    }
}

/// ClickHouse's error code for a statement over its memory bound.
const MEMORY_LIMIT_EXCEEDED: u32 = 241;

/// Store failures outside an analyst's own SQL: the store being down is a 503 (retry later);
/// so is a statement over the engine's memory bound, which says so and which setting raises
/// it (the same request fails again until the bound or the request changes). Anything else
/// is our fault and is logged, with a generic message to the caller.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "store unavailable");
                ApiError::unavailable("the store is unavailable; retry shortly", 5)
            }
            other if other.code() == Some(MEMORY_LIMIT_EXCEEDED) => {
                tracing::warn!(error = %other, "a statement went over the store's memory bound");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "this request needs more memory than the store's bound allows \
                     (store.memory_mb, CANDOR_STORE_MEMORY_MB); ask for a shorter date range \
                     or fewer breakdowns, or raise the bound",
                )
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal store error")
            }
        }
    }
}

/// actix's own extractor failures (bad query string, bad path) as contract errors.
pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::bad_request(format!("invalid query string: {err}")).into()
    })
}

pub fn path_config() -> actix_web::web::PathConfig {
    actix_web::web::PathConfig::default()
        .error_handler(|err, _req| ApiError::bad_request(format!("invalid path: {err}")).into())
}

/// Pulls the field name out of serde's "missing field `x`" / "unknown field `x`" messages.
pub fn field_of(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_serde_messages() {
        assert_eq!(
            field_of("missing field `domain` at line 1").as_deref(),
            Some("domain")
        );
        assert_eq!(field_of("expected value"), None);
    }

    #[test]
    fn a_statement_over_the_memory_bound_is_a_503_that_names_the_setting() {
        let e = ApiError::from(StoreError::from_engine_message(
            "Code: 241. DB::Exception: Query memory limit exceeded: would use 1.08 GiB \
             (attempt to allocate chunk of 255.10 MiB), maximum: 1.00 GiB. (MEMORY_LIMIT_EXCEEDED)",
        ));
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.message.contains("CANDOR_STORE_MEMORY_MB"), "{e}");
        let other = ApiError::from(StoreError::from_engine_message(
            "Code: 62. DB::Exception: x",
        ));
        assert_eq!(other.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
