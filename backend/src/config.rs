//! Configuration, read once at start from the environment (see design.md).
//! A bad value stops the process with the variable's name and the reason.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::vault::{KeyRing, KeyRingError};

#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the master key came from: it decides what `keys rotate` may write.
#[derive(Debug, Clone)]
pub enum KeySource {
    Env,
    File(PathBuf),
}

#[derive(Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub keys: KeyRing,
    pub key_source: KeySource,
    /// Set when this start generated the master key (first start of the embedded default).
    pub generated_key: bool,
    pub log_format: LogFormat,
    pub http_timeout: Duration,
    pub worker_concurrency: usize,
    /// Intacct writes of concurrent workers per shared request (1: none shared).
    pub intacct_write_batch: usize,
    /// How long a worker holds an inbox row before another may take it.
    pub lease: Duration,
    /// How often the reconciler looks for work the queue lost.
    pub reconcile_every: Duration,
    /// How often subscriptions roll over and held work is looked at again.
    pub plans_every: Duration,
    /// A row handed to the queue this long ago and still not taken is
    /// presumed lost by the queue and handed again.
    pub requeue_after: Duration,
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt (with jitter).
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Prefix of the queue's keys, so several deployments can share one Redis.
    pub queue_namespace: String,
    /// What one client may hold of the HTTP listener (see [`crate::server`]).
    pub connections: ConnectionLimits,
    /// Accounts one address may sign up in an hour.
    pub signups_per_hour: u32,
    /// Where mail goes (`smtp://` or `smtps://`, credentials inside); without
    /// it, mail is kept in the outbox table for operators (and tests) to read.
    pub smtp_url: Option<secrecy::SecretString>,
    /// The sender of every mail.
    pub mail_from: String,
}

/// Bounds on the HTTP listener's connections, so slow or idle sockets cannot
/// hold it: a client that does not finish a request head within
/// `header_timeout` is dropped, and so is a keep-alive connection that sends
/// no next request within it (hyper runs the same timer while it waits for
/// the next head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    /// Time to send a request's body once its head is in: a body trickled a
    /// byte at a time would otherwise hold a connection and a handler.
    pub body_timeout: Duration,
    pub max_total: usize,
    /// Tests and the benchmark open hundreds of connections from 127.0.0.1,
    /// so the default leaves them room; deployments behind a proxy that
    /// connects from one address should raise it to the total.
    pub max_per_ip: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key ring and URLs with passwords never reach a log line.
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database", &redact_url(&self.database_url))
            .field("redis", &self.redis_url.as_deref().map(redact_url))
            .field("public_url", &self.public_url)
            .field("smtp", &self.smtp_url.is_some())
            .field("data_dir", &self.data_dir)
            .field("master_keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// Lets tests and tools read configuration from a map instead of the process env.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Env for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        self.get(name).cloned().filter(|v| !v.trim().is_empty())
    }
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let bind = match env.get("CONNECT_BIND") {
            Some(v) => v.parse::<SocketAddr>().map_err(|_| {
                ConfigError::new(
                    "CONNECT_BIND",
                    format!(
                        "'{v}' is not a socket address (expected host:port, e.g. 127.0.0.1:8080)"
                    ),
                )
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let data_dir = PathBuf::from(env.get("CONNECT_DATA_DIR").unwrap_or_else(|| "data".into()));
        let database_url = env
            .get("CONNECT_DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}/connect.db", data_dir.display()));
        check_url(
            "CONNECT_DATABASE_URL",
            &database_url,
            &["sqlite", "postgres", "postgresql"],
        )?;
        let redis_url = env.get("CONNECT_REDIS_URL");
        if let Some(u) = &redis_url {
            check_url("CONNECT_REDIS_URL", u, &["redis", "rediss"])?;
        }
        let public_url = env.get("CONNECT_PUBLIC_URL");
        if let Some(u) = &public_url {
            check_url("CONNECT_PUBLIC_URL", u, &["http", "https"])?;
        }
        let smtp_url = env.get("CONNECT_SMTP_URL");
        if let Some(u) = &smtp_url {
            check_url("CONNECT_SMTP_URL", u, &["smtp", "smtps"])?;
        }
        let mail_from = env
            .get("CONNECT_MAIL_FROM")
            .unwrap_or_else(|| "Clarity Connect <no-reply@clarity-connect.invalid>".into());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "CONNECT_MAIL_FROM",
                format!(
                    "'{mail_from}' is not a mail address (e.g. Connect <no-reply@example.com>)"
                ),
            ));
        }
        let (keys, key_source, generated_key) = load_keys(env, &data_dir)?;
        let log_format = match env.get("CONNECT_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "CONNECT_LOG_FORMAT",
                    format!("'{other}' is not a log format (use text or json)"),
                ));
            }
        };
        Ok(Self {
            bind,
            database_url,
            redis_url,
            public_url,
            data_dir,
            keys,
            key_source,
            generated_key,
            log_format,
            http_timeout: millis(env, "CONNECT_HTTP_TIMEOUT_MS", 10_000, 100..=300_000)?,
            worker_concurrency: number(env, "CONNECT_WORKER_CONCURRENCY", 4, 1..=256)? as usize,
            intacct_write_batch: number(env, "CONNECT_INTACCT_WRITE_BATCH", 50, 1..=100)? as usize,
            lease: millis(env, "CONNECT_LEASE_MS", 60_000, 1_000..=3_600_000)?,
            reconcile_every: millis(env, "CONNECT_RECONCILE_MS", 2_000, 100..=3_600_000)?,
            plans_every: millis(env, "CONNECT_PLANS_MS", 30_000, 100..=3_600_000)?,
            requeue_after: millis(env, "CONNECT_REQUEUE_AFTER_MS", 30_000, 500..=3_600_000)?,
            max_attempts: number(env, "CONNECT_MAX_ATTEMPTS", 12, 1..=100)? as u32,
            retry_base: millis(env, "CONNECT_RETRY_BASE_MS", 1_000, 10..=3_600_000)?,
            retry_cap: millis(env, "CONNECT_RETRY_CAP_MS", 600_000, 10..=86_400_000)?,
            queue_namespace: env
                .get("CONNECT_QUEUE_NAMESPACE")
                .unwrap_or_else(|| "connect".into()),
            connections: connection_limits(env)?,
            signups_per_hour: number(env, "CONNECT_SIGNUPS_PER_HOUR", 10, 1..=100_000)? as u32,
            smtp_url: smtp_url.map(secrecy::SecretString::from),
            mail_from,
        })
    }

    /// The URL users and peers reach this process at.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_owned()
    }

    /// Cookies get `Secure` when users reach us over TLS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

fn connection_limits(env: &dyn Env) -> Result<ConnectionLimits, ConfigError> {
    let max_total = number(env, "CONNECT_MAX_CONNECTIONS", 1024, 1..=1_000_000)? as usize;
    let max_per_ip = number(env, "CONNECT_MAX_CONNECTIONS_PER_IP", 256, 1..=1_000_000)? as usize;
    if max_per_ip > max_total {
        return Err(ConfigError::new(
            "CONNECT_MAX_CONNECTIONS_PER_IP",
            format!("{max_per_ip} is more than CONNECT_MAX_CONNECTIONS ({max_total})"),
        ));
    }
    Ok(ConnectionLimits {
        header_timeout: millis(env, "CONNECT_HEADER_TIMEOUT_MS", 10_000, 100..=300_000)?,
        body_timeout: millis(env, "CONNECT_BODY_TIMEOUT_MS", 30_000, 100..=600_000)?,
        max_total,
        max_per_ip,
    })
}

fn check_url(var: &'static str, value: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let parsed = url::Url::parse(value)
        .map_err(|e| ConfigError::new(var, format!("'{}' is not a URL: {e}", redact_url(value))))?;
    if !schemes.contains(&parsed.scheme()) {
        return Err(ConfigError::new(
            var,
            format!(
                "scheme '{}' is not supported (use {})",
                parsed.scheme(),
                schemes.join(" or ")
            ),
        ));
    }
    Ok(())
}

fn number(
    env: &dyn Env,
    var: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = env.get(var) else {
        return Ok(default);
    };
    let n: u64 = raw
        .trim()
        .parse()
        .map_err(|_| ConfigError::new(var, format!("'{raw}' is not a whole number")))?;
    if !range.contains(&n) {
        return Err(ConfigError::new(
            var,
            format!("{n} is out of range ({}..={})", range.start(), range.end()),
        ));
    }
    Ok(n)
}

fn millis(
    env: &dyn Env,
    var: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    number(env, var, default, range).map(Duration::from_millis)
}

fn load_keys(
    env: &dyn Env,
    data_dir: &std::path::Path,
) -> Result<(KeyRing, KeySource, bool), ConfigError> {
    let map_err = |var: &'static str| move |e: KeyRingError| ConfigError::new(var, e.to_string());
    if let Some(v) = env.get("CONNECT_MASTER_KEY") {
        let ring = KeyRing::parse(&v).map_err(map_err("CONNECT_MASTER_KEY"))?;
        return Ok((ring, KeySource::Env, false));
    }
    if let Some(path) = env.get("CONNECT_MASTER_KEY_FILE") {
        let path = PathBuf::from(path);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::new(
                "CONNECT_MASTER_KEY_FILE",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let ring = KeyRing::parse(&text).map_err(map_err("CONNECT_MASTER_KEY_FILE"))?;
        return Ok((ring, KeySource::File(path), false));
    }
    // The embedded default: a key file under the data folder, made on first start.
    let path = data_dir.join("master.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::new(
                "CONNECT_MASTER_KEY_FILE",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let ring = KeyRing::parse(&text).map_err(map_err("CONNECT_MASTER_KEY_FILE"))?;
        return Ok((ring, KeySource::File(path), false));
    }
    let ring = KeyRing::generate();
    std::fs::create_dir_all(data_dir).map_err(|e| {
        ConfigError::new(
            "CONNECT_DATA_DIR",
            format!("cannot create {}: {e}", data_dir.display()),
        )
    })?;
    ring.write_file(&path).map_err(|e| {
        ConfigError::new(
            "CONNECT_MASTER_KEY_FILE",
            format!("cannot write {}: {e}", path.display()),
        )
    })?;
    Ok((ring, KeySource::File(path), true))
}

/// Hides the password of a URL (`postgres://user:secret@host` → `postgres://user:***@host`).
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn with_key(mut e: HashMap<String, String>) -> HashMap<String, String> {
        e.insert(
            "CONNECT_MASTER_KEY".into(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        );
        e
    }

    #[test]
    fn a_bad_bind_address_names_the_variable() {
        let err = Config::from_env(&with_key(env(&[("CONNECT_BIND", "nope")]))).unwrap_err();
        assert_eq!(err.var, "CONNECT_BIND");
        assert!(err.reason.contains("nope"));
    }

    #[test]
    fn a_master_key_of_the_wrong_length_is_refused() {
        let err = Config::from_env(&env(&[("CONNECT_MASTER_KEY", "c2hvcnQ=")])).unwrap_err();
        assert_eq!(err.var, "CONNECT_MASTER_KEY");
        assert!(err.reason.contains("32 bytes"), "{}", err.reason);
    }

    #[test]
    fn an_unparsable_database_url_is_refused() {
        let err = Config::from_env(&with_key(env(&[("CONNECT_DATABASE_URL", "mysql://x/y")])))
            .unwrap_err();
        assert_eq!(err.var, "CONNECT_DATABASE_URL");
        let err =
            Config::from_env(&with_key(env(&[("CONNECT_REDIS_URL", "not a url")]))).unwrap_err();
        assert_eq!(err.var, "CONNECT_REDIS_URL");
    }

    #[test]
    fn debug_output_hides_passwords() {
        let c = Config::from_env(&with_key(env(&[(
            "CONNECT_DATABASE_URL",
            "postgres://app:hunter2@127.0.0.1/db",
        )])))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn connection_limits_default_to_room_for_local_tests_and_refuse_a_per_ip_cap_above_the_total() {
        let c = Config::from_env(&with_key(env(&[]))).unwrap();
        assert_eq!(c.connections.max_total, 1024);
        assert_eq!(c.connections.max_per_ip, 256);
        assert_eq!(c.connections.header_timeout, Duration::from_secs(10));
        let err = Config::from_env(&with_key(env(&[
            ("CONNECT_MAX_CONNECTIONS", "10"),
            ("CONNECT_MAX_CONNECTIONS_PER_IP", "20"),
        ])))
        .unwrap_err();
        assert_eq!(err.var, "CONNECT_MAX_CONNECTIONS_PER_IP");
        let err =
            Config::from_env(&with_key(env(&[("CONNECT_HEADER_TIMEOUT_MS", "5")]))).unwrap_err();
        assert_eq!(err.var, "CONNECT_HEADER_TIMEOUT_MS");
    }

    #[test]
    fn first_start_generates_a_key_file_and_the_next_start_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = env(&[("CONNECT_DATA_DIR", dir.path().to_str().unwrap())]);
        let first = Config::from_env(&e).unwrap();
        assert!(first.generated_key);
        let second = Config::from_env(&e).unwrap();
        assert!(!second.generated_key);
        assert_eq!(first.keys.current_id(), second.keys.current_id());
    }
}
