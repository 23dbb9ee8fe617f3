//! A JSON body extractor whose errors name the field and the reason.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse(&bytes).map(ApiJson)
    }
}

/// A request body that could not be read: too large, or cut off.
pub fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::BadRequest {
            code: "too_large",
            message: format!("is larger than {} bytes", crate::startup::BODY_LIMIT),
            field: Some("body".into()),
        }
    } else {
        ApiError::BadRequest {
            code: "malformed",
            message: format!("could not read the body: {e}"),
            field: Some("body".into()),
        }
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::BadRequest {
                code: "malformed",
                message: format!("is not valid JSON: {message}"),
                field: Some("body".into()),
            };
        }
        // "missing field `email`" names the field itself, one level below
        // `path` (an unknown field is already the last step of `path`).
        let field = match message.split('`').nth(1) {
            Some(name) if message.starts_with("missing field") => {
                if path == "." {
                    name.to_owned()
                } else {
                    format!("{path}.{name}")
                }
            }
            _ => path,
        };
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        ApiError::BadRequest {
            code: "invalid",
            message,
            field: Some(field).filter(|f| f != "."),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        count: u32,
    }

    #[test]
    fn a_missing_field_is_named() {
        let e = parse::<Body>(br#"{"count": 1}"#).unwrap_err();
        assert_eq!(e.field(), Some("email"));
    }

    #[test]
    fn a_wrong_type_is_named() {
        let e = parse::<Body>(br#"{"email": "a@b.co", "count": "many"}"#).unwrap_err();
        assert_eq!(e.field(), Some("count"));
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        records: Vec<u32>,
    }

    #[test]
    fn an_unknown_field_is_named() {
        let e = parse::<Strict>(br#"{"recods": [1]}"#).unwrap_err();
        assert_eq!(e.field(), Some("recods"));
        assert!(e.to_string().contains("expected"), "{e}");
    }

    #[test]
    fn broken_json_is_a_400() {
        let e = parse::<Body>(b"{nope").unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
    }
}
