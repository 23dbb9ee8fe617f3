//! The `connect` command line.

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "connect",
    version,
    about = "Clarity Connect: Clarity eCommerce ⇄ Sage Intacct / Sage Pro integration platform"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Web UI, API, simulators and workers (the default).
    Serve {
        /// Web and API only; run workers with `connect worker`.
        #[arg(long)]
        no_workers: bool,
    },
    /// Workers and the reconciler only.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// The sandbox simulators alone.
    Sandbox,
    /// Master key management.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Platform administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Generate a new master key and re-wrap every tenant data key with it.
    /// Credential ciphertexts are not touched; running processes keep working.
    Rotate,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a platform operator (admin portal). Reads the password from
    /// CONNECT_OPERATOR_PASSWORD or standard input.
    CreateOperator {
        #[arg(long)]
        email: String,
    },
}
