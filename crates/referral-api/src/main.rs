//! `referral-api`: serve (default), worker, migrate, dev-token, openapi.

use clap::Parser;
use referral_api::auth::{Claims, JwtKeys, Role};
use referral_api::config::{AuditCommand, Cli, Command, KeysCommand};
use referral_api::startup::{self, StartupError};
use referral_api::{app, workers};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    init_logging(&cli.serve.log_format);
    // Every command but `serve` (which knows its port once bound) settles it from --bind.
    if !matches!(cli.command, None | Some(Command::Serve)) {
        cli.serve.settle_public_base_url(None);
    }
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.serve),
        Command::Migrate => startup::migrate(&cli.serve),
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&referral_api::openapi::document_json())
                    .unwrap_or_default()
            );
            Ok(())
        }
        Command::DevToken(args) => dev_token(&cli.serve, args),
        Command::Worker => worker(&cli.serve),
        Command::SeedDemo(args) => seed_demo(&cli.serve, &args),
        Command::Audit {
            command: AuditCommand::Verify { witness },
        } => return verify_audit(&cli.serve, witness.as_deref()),
        Command::Keys {
            command: KeysCommand::Generate { id },
        } => keys_generate(&id),
        Command::Keys {
            command: KeysCommand::Rotate { id },
        } => keys_rotate(&cli.serve, &id),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("referral-api: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr: text for a person (colours only at a terminal), or with `--log-format
/// json` one JSON object a line for a log collector.
fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

fn dev_token(
    serve: &referral_api::config::ServeArgs,
    args: referral_api::config::DevTokenArgs,
) -> Result<(), StartupError> {
    let role: Role = args
        .role
        .parse()
        .map_err(|e: String| StartupError::Io(std::io::Error::other(e)))?;
    let (secret, _) = startup::jwt_secret(serve)?;
    let claims = Claims {
        provider_id: args.provider_id,
        email: args.email,
        name: args.name,
        ..Claims::new(
            args.sub,
            role,
            chrono::Utc::now().timestamp(),
            args.ttl.max(1),
        )
    };
    let token = JwtKeys::new(secret.as_bytes())
        .sign(&claims)
        .map_err(|e| StartupError::Io(std::io::Error::other(e.to_string())))?;
    println!("{token}");
    Ok(())
}

fn serve(mut args: referral_api::config::ServeArgs) -> Result<(), StartupError> {
    // Bound first, so that links follow the port really listened on (`--bind
    // 127.0.0.1:0` included) when --public-base-url is not set.
    let listener = std::net::TcpListener::bind(&args.bind)?;
    args.settle_public_base_url(listener.local_addr().ok());
    let interval = args.worker_interval;
    let reminder_days = args.reward_reminder_days;
    let retention = args.retention();
    let (service, delivery) = startup::build(args)?;
    let state = service.state.clone();
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening");
    let demo = if state.demo_sign_in {
        " (sign in as a demo patient or admin)"
    } else {
        ""
    };
    tracing::info!("portals: open http://{address}/ in a browser{demo}");
    actix_web::rt::System::new().block_on(async move {
        if interval > 0 {
            workers::spawn(
                std::sync::Arc::new(workers::Rounds::new(delivery, reminder_days, retention)),
                std::time::Duration::from_secs(interval),
            );
        }
        // actix-web stops gracefully on SIGTERM and SIGINT: in-flight requests finish.
        app::run(service, listener)?.await
    })?;
    // Codes clicked since the last flush are marked before the process goes.
    if let Err(e) = state.clicks.flush(&state.pool) {
        tracing::warn!(error = %e, "the last clicked codes could not be marked");
    }
    // And the last audit rows are linked into the chain.
    let sealed = referral_api::workers::seal_and_witness(&state, chrono::Duration::zero());
    if let Err(e) = sealed {
        tracing::warn!(error = %e, "the last audit rows could not be sealed; the next start seals them");
    }
    tracing::info!("stopped");
    Ok(())
}

fn worker(args: &referral_api::config::ServeArgs) -> Result<(), StartupError> {
    let delivery = startup::build_worker(args)?;
    let interval = std::time::Duration::from_secs(args.worker_interval.max(1));
    tracing::info!(
        interval_s = interval.as_secs(),
        "worker running (outbox, sweeps, reminders)"
    );
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(workers::run_until_stopped(
            std::sync::Arc::new(workers::Rounds::new(
                delivery,
                args.reward_reminder_days,
                args.retention(),
            )),
            interval,
        ))?;
    tracing::info!("worker stopped");
    Ok(())
}

/// `audit verify`: exit 0 when the chain holds, 1 when it is broken, 2 when it cannot be read.
fn verify_audit(
    args: &referral_api::config::ServeArgs,
    witness: Option<&std::path::Path>,
) -> ExitCode {
    let run = || -> Result<referral_store::audit::ChainReport, StartupError> {
        let keyring = startup::data_keyring(args, false)?;
        let pool = startup::open_database(&batch_settings(args))?;
        let mut conn = pool.get().map_err(referral_store::StoreError::from)?;
        let mut report = referral_store::audit::verify_with_progress(&mut conn, &keyring, |n| {
            eprintln!("verified {n} rows...")
        })?;
        if let (None, Some(dir)) = (&report.broken, witness) {
            let heads = referral_api::witness::read(dir, &keyring).map_err(StartupError::Config)?;
            eprintln!(
                "witness: {} signed heads read from {}",
                heads.len(),
                dir.display()
            );
            if let Some(problem) = referral_api::witness::check(&mut conn, &heads)? {
                report.broken = Some(referral_store::audit::BrokenLink {
                    seq: report.verified + 1,
                    id: None,
                    reason: problem,
                });
            }
        }
        Ok(report)
    };
    match run() {
        Ok(report) => match report.broken {
            None => {
                println!(
                    "audit chain intact: {} rows verified{}",
                    report.verified,
                    if report.unchained > 0 {
                        format!(
                            ", {} rows not sealed yet (written in the last seconds, or before the chain began)",
                            report.unchained
                        )
                    } else {
                        String::new()
                    }
                );
                ExitCode::SUCCESS
            }
            Some(link) => {
                println!(
                    "audit chain BROKEN at row {}{}: {} ({} rows before it verified)",
                    link.seq,
                    link.id.map(|id| format!(" (id {id})")).unwrap_or_default(),
                    link.reason,
                    report.verified
                );
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("referral-api: {e}");
            ExitCode::from(2)
        }
    }
}

/// The settings of a one-off batch command: no `statement_timeout`. The request limit
/// (`--db-statement-timeout-ms`) keeps a request from holding a connection when PostgreSQL
/// stalls; seeding a million referrals, or verifying a long chain, is meant to take long.
fn batch_settings(serve: &referral_api::config::ServeArgs) -> referral_api::config::ServeArgs {
    let mut batch = serve.clone();
    batch.db_statement_timeout_ms = 0;
    batch
}

fn seed_demo(
    serve: &referral_api::config::ServeArgs,
    args: &referral_api::config::SeedDemoArgs,
) -> Result<(), StartupError> {
    use referral_store::demo;
    let pool = startup::open_database(&batch_settings(serve))?;
    let mut conn = pool.get().map_err(referral_store::StoreError::from)?;
    let started = std::time::Instant::now();
    let report = demo::seed(
        &mut conn,
        demo::DemoOptions {
            referrals: args.referrals,
            seed: args.seed,
        },
        chrono::Utc::now(),
        |line| eprintln!("seed-demo: {line} ({:.0?})", started.elapsed()),
    )?;
    println!(
        "demo data: {} programs, {} patients, {} referrals, {} interactions, {} rewards, {} orders in {:.1?}",
        report.programs,
        report.patients,
        report.referrals,
        report.interactions,
        report.rewards,
        report.orders,
        started.elapsed()
    );
    println!(
        "sign in as the demo patient ({}): cargo run -- dev-token --role patient --sub {} --email {}",
        demo::DEMO_PATIENT_EMAIL,
        demo::DEMO_PATIENT_ID,
        demo::DEMO_PATIENT_EMAIL
    );
    Ok(())
}

/// `keys generate`: a new keyring of one key, printed.
fn keys_generate(id: &str) -> Result<(), StartupError> {
    let keyring = referral_store::keyring::Keyring::single(id, &startup::random_key()?)
        .map_err(|e| StartupError::Config(e.to_string()))?;
    print!("{}", keyring.to_text());
    Ok(())
}

/// `keys rotate`: the configured keyring with a new signing key first, printed; the old
/// keys stay after it so that everything they made still verifies.
fn keys_rotate(args: &referral_api::config::ServeArgs, id: &str) -> Result<(), StartupError> {
    let keyring = startup::data_keyring(args, false)?
        .rotated(id, &startup::random_key()?)
        .map_err(|e| StartupError::Config(e.to_string()))?;
    print!("{}", keyring.to_text());
    eprintln!(
        "keys: `{id}` signs from now on; {} older keys kept for verification. Store this keyring as REFERRAL_DATA_KEYS or in the --data-keys-file, then restart every instance.",
        keyring.ids().count() - 1
    );
    Ok(())
}
