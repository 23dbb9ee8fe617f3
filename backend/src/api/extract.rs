//! Body and query extractors for the API whose errors name the field and the
//! reason in the one JSON error shape (`{"error": {"code", "message", "field"}}`),
//! where axum's own rejections would answer plain text.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
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
        require_json(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse(&bytes).map(ApiJson)
    }
}

/// A JSON body must say so: a form or text body read as JSON is how a
/// cross-site form post would slip past the browser's CORS preflight.
pub fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::BadRequest {
            code: "unsupported_media_type",
            message: if value.is_empty() {
                "is missing; send application/json".to_owned()
            } else {
                format!("must be application/json, not '{essence}'")
            },
            field: Some("content-type".into()),
        })
    }
}

/// The query string, deserialized; a bad parameter is a 400 naming it.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // "missing field `since`" names the parameter only in its text.
        let field = match message.split('`').nth(1) {
            Some(name) if message.starts_with("missing field") => name.to_owned(),
            _ => path,
        };
        ApiError::BadRequest {
            code: "malformed",
            message,
            field: Some(field).filter(|f| f != "."),
        }
    })
}

/// A request body that could not be read: too large, or cut off.
pub fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::BadRequest {
            code: "too_large",
            message: format!("is larger than {} bytes", crate::server::BODY_LIMIT),
            field: Some("body".into()),
        }
    } else if let Some(late) = late_body(&e) {
        ApiError::BadRequest {
            code: "body_timeout",
            message: late.to_string(),
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

/// The deadline of [`crate::server::body_deadline`], if that is why the read failed.
fn late_body(e: &BytesRejection) -> Option<&crate::server::BodyTimeout> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = cause {
        if let Some(late) = err.downcast_ref::<crate::server::BodyTimeout>() {
            return Some(late);
        }
        cause = err.source();
    }
    None
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
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
    })?;
    // One JSON value and nothing after it: `{..}{..}` or `{..}garbage` would
    // otherwise be read as its first value and the rest silently dropped.
    de.end().map_err(|e| ApiError::BadRequest {
        code: "malformed",
        message: format!(
            "has characters after the JSON value ({})",
            e.to_string().split(" at line ").next().unwrap_or_default()
        ),
        field: Some("body".into()),
    })?;
    Ok(value)
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
    fn trailing_garbage_is_a_400_naming_the_body() {
        let e = parse::<Body>(br#"{"email": "a@b.co", "count": 1} x"#).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(e.field(), Some("body"));
        assert!(parse::<Body>(b"{\"email\": \"a@b.co\", \"count\": 1}\n ").is_ok());
    }

    #[test]
    fn a_bad_query_parameter_is_named() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Q {
            limit: Option<i64>,
        }
        let e = parse_query::<Q>("limit=abc").unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(e.field(), Some("limit"));
        assert!(parse_query::<Q>("limit=5").is_ok_and(|q| q.limit == Some(5)));
    }

    #[test]
    fn the_content_type_must_be_json() {
        let mut h = axum::http::HeaderMap::new();
        let e = require_json(&h).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(e.field(), Some("content-type"));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(require_json(&h).is_err());
        h.insert(
            header::CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().unwrap(),
        );
        assert!(require_json(&h).is_ok());
    }

    #[test]
    fn broken_json_is_a_400() {
        let e = parse::<Body>(b"{nope").unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
    }
}
