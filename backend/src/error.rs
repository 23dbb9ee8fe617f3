//! The API's error type, mapped to HTTP once: `{"error": {"code", "message", "field"}}`.
//! Internal causes go to the log; the client gets an opaque message for them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why a name or an address was refused: they are shown in pages, logs and
/// e-mails, where a NUL or another control character is never meant and may
/// truncate or forge a line.
pub const CONTROL_CHARACTERS: &str = "must not contain control characters";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("authentication required")]
    Unauthorized,
    /// A real token past its expiry: 401, saying so, so its owner knows to
    /// make a new one rather than hunt for a typo.
    #[error("{0}")]
    TokenExpired(String),
    #[error("{0}")]
    Forbidden(String),
    /// Over a limit of the tenant's plan: 403 `plan_limit`, naming the
    /// field and the plan that lifts the limit.
    #[error(transparent)]
    PlanLimit(#[from] crate::billing::PlanLimit),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict {
        message: String,
        field: Option<String>,
    },
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    /// A 422 naming the field and the reason.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: "invalid",
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { code, .. } if *code == "malformed" => StatusCode::BAD_REQUEST,
            ApiError::BadRequest { code, .. } if *code == "too_large" => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::BadRequest { code, .. } if *code == "unsupported_media_type" => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::BadRequest { code, .. } if *code == "body_timeout" => {
                StatusCode::REQUEST_TIMEOUT
            }
            ApiError::BadRequest { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized | ApiError::TokenExpired(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::PlanLimit(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::TokenExpired(_) => "token_expired",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::PlanLimit(_) => "plan_limit",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict { .. } => "conflict",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::BadRequest { field, .. } | ApiError::Conflict { field, .. } => {
                field.as_deref()
            }
            ApiError::PlanLimit(p) => Some(p.field),
            _ => None,
        }
    }

    /// What a user may read: internal causes stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal error; it has been logged".to_owned(),
            other => other.to_string(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<crate::vault::VaultError> for ApiError {
    fn from(e: crate::vault::VaultError) -> Self {
        ApiError::Internal(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = ?e, "internal error");
        }
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.public_message(),
                field: self.field().map(str::to_owned),
            },
        };
        let mut resp = (status, Json(body)).into_response();
        if let ApiError::TooManyRequests { retry_after, .. } = self {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                retry_after
                    .to_string()
                    .parse()
                    .expect("digits are a valid header"),
            );
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
