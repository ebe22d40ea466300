//! The API's errors: one JSON shape (`code`, `message`, and the `parameter` at fault), one status
//! per kind. Database errors are logged, not shown.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `not_found`, `bad_parameter`, `unauthorized`, `timeout` or `internal`.
    pub code: &'static str,
    pub message: String,
    /// The query parameter at fault, for `bad_parameter` and `not_found`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

#[derive(Debug)]
pub enum ApiError {
    UnknownInstrument(String),
    BadParameter { parameter: String, message: String },
    Unauthorized,
    Timeout { limit_ms: u64 },
    Internal(String),
}

impl ApiError {
    pub fn bad(parameter: &str, message: impl Into<String>) -> Self {
        ApiError::BadParameter { parameter: parameter.to_owned(), message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::Internal(message.into())
    }
}

impl From<duckdb::Error> for ApiError {
    fn from(error: duckdb::Error) -> Self {
        ApiError::Internal(format!("query failed: {error}"))
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        ApiError::Internal(format!("{error:#}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::UnknownInstrument(id) => (
                StatusCode::NOT_FOUND,
                ErrorBody {
                    code: "not_found",
                    message: format!("unknown instrument {id:?}"),
                    parameter: Some("instrument".into()),
                },
            ),
            ApiError::BadParameter { parameter, message } => (
                StatusCode::BAD_REQUEST,
                ErrorBody {
                    code: "bad_parameter",
                    message: format!("{parameter}: {message}"),
                    parameter: Some(parameter),
                },
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                ErrorBody { code: "unauthorized", message: "a valid bearer token is required".into(), parameter: None },
            ),
            ApiError::Timeout { limit_ms } => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorBody {
                    code: "timeout",
                    message: format!("the query took longer than {limit_ms} ms"),
                    parameter: None,
                },
            ),
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorBody {
                        code: "internal",
                        message: "the query failed; the server log says why".into(),
                        parameter: None,
                    },
                )
            }
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
