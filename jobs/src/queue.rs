//! The job queue, on apalis: SQLite-backed (embedded default) or Redis.
//!
//! A job carries only the id of an inbox row. The database is the record of the
//! work; the queue only says "look at this row now". Losing the queue loses no
//! work: the reconciler pushes again every row that is due and not leased.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::RedisStorage;
use apalis_sqlite::SqliteStorage;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// How often an idle worker checks the queue.
const PICKUP_INTERVAL: Duration = Duration::from_secs(1);

/// One unit of work: process this inbox row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxJob {
    pub inbox_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue database: {0}")]
    Sqlite(#[from] sqlx::Error),
    #[error("queue migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("redis: {0}")]
    Redis(#[from] apalis_redis::RedisError),
    #[error("queue: {0}")]
    Push(String),
    #[error("queue sweep: {0}")]
    Sweep(String),
}

/// Where the queue lives; enough to open a connection to it anywhere.
#[derive(Debug, Clone)]
pub enum QueueSpec {
    /// The embedded queue: its own SQLite file.
    Sqlite {
        path: std::path::PathBuf,
        namespace: String,
    },
    Redis {
        url: String,
        namespace: String,
    },
}

#[derive(Clone)]
pub enum JobQueue {
    Sqlite {
        storage: SqliteStorage<InboxJob>,
        pool: sqlx::SqlitePool,
        name: String,
    },
    Redis {
        storage: RedisStorage<InboxJob>,
        conn: apalis_redis::ConnectionManager,
        name: String,
    },
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobQueue::Sqlite { .. } => "JobQueue::Sqlite",
            JobQueue::Redis { .. } => "JobQueue::Redis",
        })
    }
}

impl JobQueue {
    pub async fn connect(spec: &QueueSpec) -> Result<Self, QueueError> {
        match spec {
            QueueSpec::Sqlite { path, namespace } => Self::sqlite(path, namespace).await,
            QueueSpec::Redis { url, namespace } => Self::redis(url, namespace).await,
        }
    }

    /// The embedded queue in its own SQLite file (apalis and our app would both
    /// claim `_sqlx_migrations` in a shared file). We open the pool ourselves:
    /// apalis' own `setup` turns `synchronous` off, which a durable queue must not.
    pub async fn sqlite(path: &std::path::Path, namespace: &str) -> Result<Self, QueueError> {
        use sqlx::sqlite::{
            SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
        };
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        SqliteStorage::<()>::migrations().run(&pool).await?;
        // An idle apalis worker looks for new jobs on its heartbeat (pushes from
        // other processes do not wake it), so the heartbeat is the pick-up latency.
        let name = format!("{namespace}:inbox");
        let config = apalis_sqlite::Config::default()
            .queue(&name)
            .heartbeat_interval(PICKUP_INTERVAL);
        let storage = SqliteStorage::new(&pool).with_config(config);
        Ok(JobQueue::Sqlite {
            storage,
            pool,
            name,
        })
    }

    pub async fn redis(url: &str, namespace: &str) -> Result<Self, QueueError> {
        let conn = apalis_redis::connect(url).await?;
        let name = format!("{namespace}:inbox");
        let config = apalis_redis::Config::default()
            .queue(&name)
            .heartbeat_interval(PICKUP_INTERVAL);
        let storage = RedisStorage::new(conn.clone()).with_config(config);
        Ok(JobQueue::Redis {
            storage,
            conn,
            name,
        })
    }

    pub async fn push(&self, inbox_id: &str) -> Result<(), QueueError> {
        let job = InboxJob {
            inbox_id: inbox_id.to_owned(),
        };
        match self.clone() {
            JobQueue::Sqlite { mut storage, .. } => storage
                .push(job)
                .await
                .map(|_| ())
                .map_err(|e| QueueError::Push(e.to_string())),
            JobQueue::Redis { mut storage, .. } => storage
                .push(job)
                .await
                .map(|_| ())
                .map_err(|e| QueueError::Push(e.to_string())),
        }
    }

    /// Drops every queued job of this namespace, as a Redis flush or a lost
    /// queue file would. Nothing is lost by it: the inbox is the record and the
    /// reconciler queues again what is due. For disaster drills and tests.
    /// Gives the number of jobs it dropped (with SQLite, finished ones too).
    pub async fn purge(&self) -> Result<u64, QueueError> {
        match self {
            JobQueue::Sqlite { pool, name, .. } => {
                let done = sqlx::query("DELETE FROM Jobs WHERE job_type = ?")
                    .bind(name)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected())
            }
            JobQueue::Redis { conn, name, .. } => {
                let prefix = format!("{name}:");
                let mut c = conn.clone();
                let held = self.held().await?;
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{prefix}*"))
                    .query_async(&mut c)
                    .await?;
                if !keys.is_empty() {
                    let _: () = redis::cmd("DEL").arg(keys).query_async(&mut c).await?;
                }
                Ok(held)
            }
        }
    }

    /// Drops the jobs apalis has finished. It keeps them otherwise, and
    /// not only does the store grow without end: apalis' SQLite acknowledgement
    /// joins every job this worker ever locked, so each one gets slower as
    /// the finished ones pile up. The inbox keeps the record of the work.
    pub async fn sweep_finished(&self) -> Result<u64, QueueError> {
        match self.clone() {
            JobQueue::Sqlite { pool, name, .. } => {
                let done = sqlx::query(
                    "DELETE FROM Jobs WHERE job_type = ? AND (status IN ('Done', 'Killed') \
                     OR (status = 'Failed' AND attempts >= max_attempts))",
                )
                .bind(name)
                .execute(&pool)
                .await?;
                Ok(done.rows_affected())
            }
            JobQueue::Redis { mut storage, .. } => {
                use apalis_core::backend::Vacuum;
                let swept = storage
                    .vacuum()
                    .await
                    .map_err(|e| QueueError::Sweep(e.to_string()))?;
                Ok(swept as u64)
            }
        }
    }

    /// How many jobs the queue holds, waiting, running or finished and not
    /// yet swept.
    pub async fn held(&self) -> Result<u64, QueueError> {
        match self {
            JobQueue::Sqlite { pool, name, .. } => {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM Jobs WHERE job_type = ?")
                    .bind(name)
                    .fetch_one(pool)
                    .await?;
                Ok(n.max(0) as u64)
            }
            JobQueue::Redis { conn, name, .. } => {
                let mut c = conn.clone();
                Ok(redis::cmd("HLEN")
                    .arg(format!("{name}:data"))
                    .query_async(&mut c)
                    .await?)
            }
        }
    }

    /// How often [`Self::sweep_finished`] is worth running: the SQLite sweep
    /// is one indexed delete; apalis' Redis sweep reads every job it holds.
    pub fn sweep_every(&self) -> Duration {
        match self {
            JobQueue::Sqlite { .. } => Duration::from_secs(1),
            JobQueue::Redis { .. } => Duration::from_secs(60),
        }
    }

    /// Is the queue's store reachable? For `/readyz`.
    pub async fn ping(&self) -> Result<(), QueueError> {
        match self {
            JobQueue::Sqlite { pool, .. } => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            JobQueue::Redis { conn, .. } => {
                let mut c = conn.clone();
                let _: String = redis::cmd("PING").query_async(&mut c).await?;
            }
        }
        Ok(())
    }

    /// Runs `concurrency` jobs at a time until `shutdown` is cancelled, then
    /// lets the jobs in hand finish. The handler owns all outcomes (it records
    /// them in the database), so the queue is told every job succeeded.
    ///
    /// apalis' worker future cannot be proven `Send` for every lifetime (a
    /// rustc limitation with higher-ranked bounds), so it cannot go through
    /// `tokio::spawn`. It is driven on a thread of its own by a current-thread
    /// runtime, with its own queue connection; the jobs themselves run on the
    /// caller's runtime.
    pub fn spawn_workers<H, Fut>(
        spec: QueueSpec,
        name: String,
        concurrency: usize,
        handler: H,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<Result<(), QueueError>>
    where
        H: Fn(InboxJob) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let jobs = tokio::runtime::Handle::current();
        let handler = Arc::new(handler);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        // A plain thread, not `spawn_blocking`: a runtime waits for its blocking
        // tasks when it shuts down, and this one ends only on `shutdown`.
        let thread = std::thread::Builder::new()
            .name("connect-queue".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = done_tx.send(Err(QueueError::Push(format!("worker runtime: {e}"))));
                        return;
                    }
                };
                let result = rt.block_on(async move {
                    let queue = JobQueue::connect(&spec).await?;
                    let run = move |job: InboxJob| {
                        let task = jobs.spawn((*handler)(job));
                        async move { task.await.map_err(|e| -> BoxDynError { Box::new(e) }) }
                    };
                    let signal = async move {
                        shutdown.cancelled().await;
                        Ok::<(), std::io::Error>(())
                    };
                    let result = match queue {
                        JobQueue::Sqlite { storage, .. } => {
                            WorkerBuilder::new(name.as_str())
                                .backend(storage)
                                .concurrency(concurrency)
                                .build(run)
                                .run_until(signal)
                                .await
                        }
                        JobQueue::Redis { storage, .. } => {
                            WorkerBuilder::new(name.as_str())
                                .backend(storage)
                                .concurrency(concurrency)
                                .build(run)
                                .run_until(signal)
                                .await
                        }
                    };
                    result.map_err(|e| QueueError::Push(e.to_string()))
                });
                let _ = done_tx.send(result);
            });
        tokio::spawn(async move {
            if let Err(e) = thread {
                return Err(QueueError::Push(format!("worker thread: {e}")));
            }
            done_rx
                .await
                .unwrap_or_else(|_| Err(QueueError::Push("worker thread ended".into())))
        })
    }
}
