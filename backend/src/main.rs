//! The `connect` binary: reads configuration once, then runs one command.
//! Configuration and start-up errors exit with code 2 and name the variable.

use std::io::Read;
use std::process::ExitCode;

use clap::Parser;
use connect::cli::{AdminCommand, Cli, Command, KeysCommand};
use connect::config::{Config, KeySource, ProcessEnv};
use connect::startup::{Application, Role};
use tokio_util::sync::CancellationToken;

// Mapping allocates and frees many small strings and maps per record; the
// benchmarks in docs/benchmarks.md run with this same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env(&ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    connect::telemetry::init_logging(config.log_format);
    // Workers map records on the runtime's threads: giving them the stack
    // tenant programs need spares a thread hop per record (see
    // `connect_jobs::mapping::on_roomy_stack`). Reserved, not committed.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(connect_jobs::mapping::EVAL_STACK_BYTES)
        .on_thread_start(connect_jobs::mapping::assume_roomy_stack)
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve { no_workers: false }) {
        Command::Serve { no_workers } => {
            serve(config, if no_workers { Role::Web } else { Role::All }).await
        }
        Command::Worker => serve(config, Role::Worker).await,
        Command::Sandbox => serve(config, Role::Sandbox).await,
        Command::Migrate => {
            let db = connect::db::Db::connect(&config.database_url).await?;
            db.migrate().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => rotate_keys(config).await,
        Command::Admin {
            command: AdminCommand::CreateOperator { email },
        } => {
            let password = match std::env::var("CONNECT_OPERATOR_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    let mut p = String::new();
                    std::io::stdin().read_to_string(&mut p)?;
                    p.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let db = connect::db::Db::connect(&config.database_url).await?;
            db.migrate().await?;
            let id = connect::tenants::create_operator(&db, &email, &password).await?;
            println!("operator {email} created ({id})");
            Ok(())
        }
    }
}

async fn serve(config: Config, role: Role) -> anyhow::Result<()> {
    let generated = config.generated_key.then(|| config.key_source.clone());
    let app = Application::build(config, role).await?;
    if let Some(KeySource::File(path)) = generated {
        eprintln!(
            "WARNING: generated a new master key into {} — back it up: without it the saved credentials cannot be decrypted. \
             In production set CONNECT_MASTER_KEY or CONNECT_MASTER_KEY_FILE.",
            path.display()
        );
    }
    let url = app.state().public_url.clone();
    match role {
        Role::Worker => println!("Clarity Connect workers running"),
        Role::Sandbox => {
            let creds = connect::sandbox_standalone::ensure(&app.state().db).await?;
            println!("Clarity Connect simulators listening on {url}");
            println!("{}", connect::sandbox_standalone::describe(&creds, &url));
        }
        _ => println!("Clarity Connect listening on {url}"),
    }
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signal.cancel();
    });
    app.run_until_stopped(shutdown).await
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn rotate_keys(config: Config) -> anyhow::Result<()> {
    let KeySource::File(path) = &config.key_source else {
        anyhow::bail!(
            "CONNECT_MASTER_KEY: the key comes from the environment; to rotate, use a key file \
             (CONNECT_MASTER_KEY_FILE) or put a new key in front: CONNECT_MASTER_KEY=new,old, then run this again"
        );
    };
    let db = connect::db::Db::connect(&config.database_url).await?;
    db.migrate().await?;
    let next = config.keys.with_new_key();
    // The file first: processes that meet the new key id re-read it.
    next.write_file(path)?;
    let vault = connect::vault::Vault::new(next.clone(), Some(path.clone()));
    let n = vault.rewrap_all(&db, &next).await?;
    println!(
        "new master key {} in {}; re-wrapped {n} data keys",
        next.current_id(),
        path.display()
    );
    Ok(())
}
