//! Builds the application (HTTP server, workers, reconciler, simulators' webhook
//! dispatcher) and runs it until a shutdown signal; tests start the same thing
//! on port 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use connect_jobs::connectors::http::client;
use connect_jobs::limits::{Limiter, LocalLimiter, RedisLimiter};
use connect_jobs::queue::{JobQueue, QueueSpec};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::config::{Config, KeySource};
use crate::db::Db;
use crate::sandbox::{FaultRegistry, SandboxState};
use crate::state::{AppState, Inner};
use crate::sync::{self, Engine};
use crate::vault::Vault;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("CONNECT_DATABASE_URL: {0}")]
    Database(#[from] crate::db::DbError),
    #[error("CONNECT_REDIS_URL: {0}")]
    Queue(#[from] connect_jobs::queue::QueueError),
    #[error("CONNECT_REDIS_URL: {0}")]
    Limiter(#[from] connect_jobs::limits::LimiterError),
    #[error("{0}")]
    Mail(#[from] crate::mail::MailError),
    #[error("CONNECT_BIND: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What runs in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Web + API + simulators + workers (the embedded default).
    All,
    /// Web + API + simulators only (`serve --no-workers`).
    Web,
    /// Workers and reconciler only (`connect worker`).
    Worker,
    /// The simulators alone (`connect sandbox`).
    Sandbox,
}

pub struct Application {
    state: AppState,
    listener: Option<TcpListener>,
    addr: SocketAddr,
    role: Role,
}

pub fn queue_spec(config: &Config) -> QueueSpec {
    let namespace = config.queue_namespace.clone();
    match &config.redis_url {
        Some(url) => QueueSpec::Redis {
            url: url.clone(),
            namespace,
        },
        None => QueueSpec::Sqlite {
            path: config.data_dir.join("queue.db"),
            namespace,
        },
    }
}

impl Application {
    pub async fn build(config: Config, role: Role) -> Result<Self, StartError> {
        let db = Db::connect(&config.database_url).await?;
        db.migrate().await?;
        let queue = JobQueue::connect(&queue_spec(&config)).await?;
        // Limits must hold across processes wherever the queue is shared.
        let limiter: Arc<dyn Limiter> = match &config.redis_url {
            Some(url) => Arc::new(
                RedisLimiter::connect(
                    url,
                    &config.queue_namespace,
                    config.http_timeout * 3 + Duration::from_secs(5),
                )
                .await?,
            ),
            None => Arc::new(LocalLimiter::new()),
        };
        let (listener, addr) = if role == Role::Worker {
            (None, config.bind)
        } else {
            let listener =
                TcpListener::bind(config.bind)
                    .await
                    .map_err(|source| StartError::Bind {
                        addr: config.bind,
                        source,
                    })?;
            let addr = listener.local_addr().map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
            (Some(listener), addr)
        };
        // Where this process reaches the built-in simulators: its own
        // listener, or, for a worker process (which serves none), the web
        // processes behind CONNECT_PUBLIC_URL.
        let self_url: Arc<str> = if role == Role::Worker {
            config.public_url(addr).into()
        } else {
            format!("http://{addr}").into()
        };
        let http = client(crate::state::http_timeouts(&config));
        let key_file = match &config.key_source {
            KeySource::File(p) => Some(p.clone()),
            KeySource::Env => None,
        };
        let vault = Vault::new(config.keys.clone(), key_file);
        let sandbox = SandboxState {
            db: db.clone(),
            faults: Arc::new(FaultRegistry::new()),
            http: http.clone(),
            self_url: self_url.clone(),
            memo: Default::default(),
        };
        let mailer =
            crate::mail::Mailer::new(db.clone(), config.smtp_url.as_ref(), &config.mail_from)?;
        tracing::info!(mail = mailer.kind(), "mail");
        let state = AppState::new(Inner {
            mailer,
            billing: Box::new(crate::billing::statement::InvoiceProvider),
            public_url: config.public_url(addr),
            config,
            db,
            vault,
            queue,
            limiter,
            sandbox,
            catalogs: Default::default(),
            metrics: crate::telemetry::metrics(),
            http,
            work_done: tokio::sync::Notify::new(),
            webhook_secrets: crate::revisions::Cached::new(4096),
        });
        Ok(Self {
            state,
            listener,
            addr,
            role,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Runs until `shutdown` is cancelled: stops accepting, lets in-flight
    /// requests and jobs finish (bounded), then returns.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let state = self.state.clone();
        let mut tasks: Vec<(&'static str, JoinHandle<()>)> = Vec::new();
        if matches!(self.role, Role::All | Role::Worker) {
            let worker = Engine::new(state.clone());
            let handler = move |job: connect_jobs::queue::InboxJob| {
                let worker = worker.clone();
                async move { worker.handle(&job.inbox_id).await }
            };
            let spec = queue_spec(&state.config);
            let concurrency = state.config.worker_concurrency;
            let token = shutdown.clone();
            // Each process registers its own worker name with the queue: after a
            // crash, a restarted process must not collide with its dead self.
            let name = format!("connect-worker-{}", crate::ids::new_id("w"));
            tasks.push((
                "workers",
                tokio::spawn(async move {
                    // Supervised: a queue outage stops the worker; start it again.
                    loop {
                        let run = JobQueue::spawn_workers(
                            spec.clone(),
                            name.clone(),
                            concurrency,
                            handler.clone(),
                            token.clone(),
                        );
                        match run.await {
                            Ok(Ok(())) if token.is_cancelled() => break,
                            Ok(Ok(())) => tracing::warn!("workers stopped; starting them again"),
                            Ok(Err(e)) => tracing::error!(error = %e, "workers stopped with an error; starting them again"),
                            Err(e) => tracing::error!(error = %e, "worker thread failed; starting it again"),
                        }
                        tokio::select! {
                            _ = token.cancelled() => break,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }),
            ));
            tasks.push((
                "reconciler",
                tokio::spawn(sync::reconciler::run(state.clone(), shutdown.clone())),
            ));
        }
        if matches!(self.role, Role::All | Role::Web | Role::Sandbox) {
            tasks.push((
                "webhook dispatcher",
                crate::sandbox::clarity::spawn_dispatcher(state.sandbox.clone(), shutdown.clone()),
            ));
        }
        if let Some(listener) = self.listener {
            let app = router(state.clone(), self.role);
            tasks.push((
                "http",
                tokio::spawn(crate::server::serve(
                    listener,
                    app,
                    state.config.connections,
                    shutdown.clone(),
                )),
            ));
        }
        shutdown.cancelled().await;
        tracing::info!("shutting down: finishing in-flight work");
        for (name, task) in tasks {
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(_) => tracing::debug!(task = name, "stopped"),
                Err(_) => tracing::warn!(
                    task = name,
                    "did not stop within 30 s; its leases will expire"
                ),
            }
        }
        state.db.close().await;
        Ok(())
    }
}

pub use crate::server::BODY_LIMIT;

pub fn router(state: AppState, role: Role) -> Router {
    let mut app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if role != Role::Sandbox {
        app = app
            .route("/hooks/clarity/{pair_id}", post(crate::hooks::clarity))
            .merge(crate::api::router())
            .merge(crate::web::router());
    }
    app = app.nest_service("/sandbox", crate::sandbox::router(state.sandbox.clone()));
    let tls = state.config.secure_cookies();
    let body_timeout = state.config.connections.body_timeout;
    let app = app
        .fallback(not_found)
        .layer(axum::middleware::from_fn(move |req, next| {
            crate::server::body_deadline(body_timeout, req, next)
        }))
        .layer(axum::middleware::from_fn(crate::telemetry::track_http))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::new());
    crate::web::hygiene::apply(app, tls, BODY_LIMIT).with_state(state)
}

async fn not_found() -> impl IntoResponse {
    crate::error::ApiError::NotFound("route")
}

async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    let db = state.db.ping().await;
    let queue = state.queue.ping().await;
    let body = serde_json::json!({
        "database": if db.is_ok() { "ok" } else { "unreachable" },
        "queue": if queue.is_ok() { "ok" } else { "unreachable" },
    });
    let status = if db.is_ok() && queue.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}

async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
