//! `reekolect-proxy`: see `reekolect-proxy --help`.

use clap::Parser;
use reekolect_proxy::app::{start, token_from_env};
use reekolect_proxy::cli::{Cli, Command, HealthcheckArgs, LeadsArgs, LogFormat, MockArgs, ServeArgs};
use reekolect_proxy::{mock, Secret};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// mimalloc: the proxy allocates small buffers per request; glibc's malloc cost ~15% of
/// CPU under load (perf), mimalloc about half of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    // `serve` runs one single-threaded runtime per worker thread (this one accepts and
    // hands connections out, see `server::spawn_proxy_on`); the others a work-stealing one.
    let runtime = match &cli.command {
        Command::Serve(_) => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("reekolect-proxy: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::MockApi(args) => mock_api(args).await,
            Command::Leads(args) => leads(args).await,
            Command::Healthcheck(args) => healthcheck(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("reekolect-proxy: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Logs on stderr, as text or JSON lines; `RUST_LOG` overrides the levels.
fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,reekolect_proxy=info"));
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).init(),
    }
}

async fn leads(args: LeadsArgs) -> Result<(), String> {
    use reekolect_proxy::leads;
    let token = leads::token_from_env().map_err(|err| err.to_string())?;
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stdout = std::io::BufWriter::new(std::io::stdout().lock());
    leads::run(&args, &token, stdout, progress).await.map(|_| ()).map_err(|err| err.to_string())
}

async fn healthcheck(args: HealthcheckArgs) -> Result<(), String> {
    let url = args.url.unwrap_or_else(|| reekolect_proxy::healthcheck::default_url(args.listen));
    reekolect_proxy::healthcheck::check(&url, args.timeout).await
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let token = reekolect_proxy::credentials::api_token()?;
    let serving = start(args, token).await.map_err(|err| err.to_string())?;
    println!("{}", serving.listening_line());
    stopped().await;
    serving.shutdown().await.map_err(|err| err.to_string())
}

/// The token `mock-api` accepts without REEKOLECT_API_TOKEN (as long as a real one must be).
const MOCK_TOKEN: &str = "mock-token-not-a-secret";

async fn mock_api(args: MockArgs) -> Result<(), String> {
    let token = match token_from_env() {
        Some(token) => {
            Secret::check_length(&token, reekolect_proxy::TOKEN_ENV)?;
            Secret::new(token)
        }
        None => {
            eprintln!(
                "reekolect-mock-api: {} is not set; the mock accepts the token \"{MOCK_TOKEN}\"",
                reekolect_proxy::TOKEN_ENV
            );
            Secret::new(MOCK_TOKEN)
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", args.listen))?;
    let chaos = std::sync::Arc::new(reekolect_proxy::chaos::Chaos::new(args.chaos.settings()?));
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let config = reekolect_proxy::tls::server_config_from_files(cert, key)?;
        let server =
            reekolect_proxy::tls::spawn_mock_tls(listener, token, chaos, config).map_err(|err| err.to_string())?;
        println!("reekolect-mock-api listening on {}", server.url());
        stopped().await;
        return server.shutdown().await.map_err(|err| err.to_string());
    }
    let server = mock::spawn_with_chaos(listener, token, chaos).map_err(|err| err.to_string())?;
    println!("reekolect-mock-api listening on {}", server.url());
    stopped().await;
    server.shutdown().await.map_err(|err| err.to_string())
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn stopped() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
