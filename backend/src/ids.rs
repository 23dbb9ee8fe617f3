//! Prefixed, time-ordered ids (`tnt_…`, `pair_…`, `run_…`) that say what they
//! are in logs and URLs, and a type for each, so that a pair id cannot be
//! passed where a tenant id is meant. An id from outside (a URL, a form) is
//! parsed at the edge ([`PairId::parse`] and the others, or through serde
//! in a `Path`); an id read back from our own tables is taken as stored.

use std::fmt;

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Any, Database, Decode, Encode, Type};

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// The longest id accepted from outside; ours are about 40 characters.
pub const MAX_ID_LEN: usize = 100;

/// An id from outside that cannot be one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} not found: `{shown}` cannot be a {what} id (they look like {prefix}_0193…)")]
pub struct IdError {
    pub what: &'static str,
    prefix: &'static str,
    shown: String,
}

fn check(raw: &str, prefixes: &[&'static str], what: &'static str) -> Result<(), IdError> {
    let well_formed = raw.len() <= MAX_ID_LEN
        && prefixes.iter().any(|p| {
            raw.strip_prefix(p)
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|rest| !rest.is_empty())
        })
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if well_formed {
        return Ok(());
    }
    Err(IdError {
        what,
        prefix: prefixes[0],
        shown: raw.chars().take(40).filter(|c| !c.is_control()).collect(),
    })
}

/// A URL's path parameters with ids among them: an id that cannot be one
/// of ours answers 404 (nothing by that name exists), not 400; any other
/// bad parameter is refused as [`Path`] refuses it. The error layer gives
/// the 404 the API's JSON shape or a page, as it does every rejection.
pub struct IdPath<T>(pub T);

impl<S, T> FromRequestParts<S> for IdPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let message = match e.kind() {
                    ErrorKind::Message(m) | ErrorKind::DeserializeError { message: m, .. } => {
                        Some(m.clone())
                    }
                    _ => None,
                };
                match message.filter(|m| m.contains(" not found: `")) {
                    Some(m) => Err((StatusCode::NOT_FOUND, m).into_response()),
                    None => Err(PathRejection::FailedToDeserializePathParams(e).into_response()),
                }
            }
            Err(other) => Err(other.into_response()),
        }
    }
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, [$($prefix:literal),+]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            const PREFIXES: &'static [&'static str] = &[$($prefix),+];

            /// A new id of this kind.
            pub fn generate() -> Self {
                Self(new_id(Self::PREFIXES[0]))
            }

            /// An id from outside: refused unless it could be one of ours.
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                check(raw, Self::PREFIXES, $what).map(|()| Self(raw.to_owned()))
            }

            /// An id read back from our own storage.
            pub fn stored(raw: String) -> Self {
                Self(raw)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                check(&raw, Self::PREFIXES, $what).map(|()| Self(raw))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl Type<Any> for $name {
            fn type_info() -> <Any as Database>::TypeInfo {
                <String as Type<Any>>::type_info()
            }
        }

        impl Encode<'_, Any> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <Any as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                <String as Encode<'_, Any>>::encode_by_ref(&self.0, buf)
            }
        }

        /// Read back from our own tables: taken as stored.
        impl<'r> Decode<'r, Any> for $name {
            fn decode(value: <Any as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                <String as Decode<'r, Any>>::decode(value).map(Self)
            }
        }
    };
}

typed_id!(
    /// A tenant. `ten_` is the standalone sandbox's (`connect sandbox`).
    TenantId, "tenant", ["tnt", "ten"]
);
typed_id!(
    /// A user of a tenant.
    UserId, "user", ["usr"]
);
typed_id!(
    /// A pair: one Clarity store and one ERP.
    PairId, "pair", ["pair"]
);
typed_id!(
    /// An inbox row: one event to sync.
    InboxId, "inbox", ["evt"]
);
typed_id!(
    /// One run of a flow for an inbox row.
    RunId, "run", ["run"]
);
typed_id!(
    /// A dead letter.
    DeadLetterId, "dead letter", ["dl"]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_outside_must_look_like_ours() {
        let made = PairId::generate();
        assert!(made.starts_with("pair_"));
        assert_eq!(PairId::parse(&made).unwrap(), made);
        assert!(PairId::parse("pair_standalone_sandbox").is_ok());
        assert!(TenantId::parse("ten_standalone_sandbox").is_ok());
        for bad in [
            "",
            "pair_",
            "pair",
            "tnt_0193abc",
            "pair_../x",
            "pair_a b",
            "pair_a\u{0}",
        ] {
            let e = PairId::parse(bad).unwrap_err();
            assert!(e.to_string().starts_with("pair not found: `"), "{e}");
        }
        assert!(PairId::parse(&format!("pair_{}", "a".repeat(MAX_ID_LEN))).is_err());
        // A pair id is not a tenant id.
        assert!(TenantId::parse(&made).is_err());
    }

    #[test]
    fn serde_parses_and_writes_the_plain_string() {
        let id: PairId = serde_json::from_str("\"pair_01\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"pair_01\"");
        let e = serde_json::from_str::<PairId>("\"run_01\"").unwrap_err();
        assert!(e.to_string().starts_with("pair not found: `"), "{e}");
    }
}
