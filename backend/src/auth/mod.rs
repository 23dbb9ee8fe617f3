//! Who is calling: passwords (argon2id), browser sessions, API tokens, and the
//! extractors that turn a request into a [`Principal`] scoped to one tenant.

pub mod extract;
pub mod password;
pub mod quota;
pub mod ratelimit;
pub mod session;
pub mod tokens;

use sha2::{Digest, Sha256};

pub use extract::{Operator, Principal};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, and the only one who changes the plan or hands ownership on.
    Owner,
    /// Everything but the plan and ownership: connections, templates, team.
    Admin,
    /// Sees and operates pairs (pause, resume, replay, run, backfill); does
    /// not change connections, templates or billing.
    Member,
    /// Only sees.
    ReadOnly,
    /// A platform operator: no tenant, sees the admin portal.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::ReadOnly => "read_only",
            Role::Operator => "operator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            "read_only" => Some(Role::ReadOnly),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }

    /// Owners and admins change configuration.
    pub fn can_manage(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Everyone but read-only users operates pairs.
    pub fn can_operate(self) -> bool {
        matches!(self, Role::Owner | Role::Admin | Role::Member)
    }

    /// The roles a tenant's user can be given.
    pub const TEAM: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::ReadOnly];
}

/// Tokens and session ids are stored as their SHA-256: a database dump does
/// not let anyone sign in. (They are random 192-bit values, so a fast hash is right.)
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A random 192-bit secret, URL-safe, after a readable prefix (`s_`, `cct_`):
/// session ids, CSRF tokens and API tokens.
pub fn random_token(prefix: &str) -> String {
    use base64::Engine;
    let bytes: [u8; 24] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}
