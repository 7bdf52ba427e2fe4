use asm_host::config::{Cli, Command};
use asm_host::{admin, migrate, server, telemetry};
use clap::Parser;
use std::sync::Arc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(cfg) => serve(cfg).await,
        Command::Migrate(args) => {
            telemetry::init(false);
            migrate::run(args).await
        }
        Command::Admin(args) => admin::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(cfg: asm_host::config::ServeConfig) -> anyhow::Result<()> {
    telemetry::init(cfg.json_logs());
    let runtime = server::build_runtime(&cfg, &[]).await?;
    let server = server::start(&cfg, Arc::new(runtime)).await?;
    server::shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    server.shutdown().await;
    Ok(())
}
