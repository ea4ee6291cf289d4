//! The `cobrowse-gateway` binary: parses the command line, loads settings,
//! and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cobrowse_gateway::graph;
use cobrowse_gateway::secret::{redact_text, Secret};
use cobrowse_gateway::settings::{LogFormat, Settings, CONFIG_ENV, SETTINGS};
use cobrowse_gateway::sim::{Faults, SimConfig, Simulator};
use cobrowse_gateway::startup::{shutdown_signal, Gateway};

/// A GraphQL gateway over co-browse conversations.
///
/// With no configuration it runs in demo mode: a PureCloud simulator starts
/// in-process and the gateway reads from it over real HTTP.
#[derive(Parser)]
#[command(name = "cobrowse-gateway", version, after_long_help = settings_help())]
struct Cli {
    /// A TOML settings file (also COBROWSE_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The address to listen on (server.listen).
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<String>,
    /// The PureCloud API base URL (upstream.url); unset means demo mode.
    #[arg(long, global = true, value_name = "URL")]
    upstream_url: Option<String>,
    /// Log format: text or json (log.format).
    #[arg(long, global = true, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Any setting, as section.key=value (repeatable); see the list below.
    #[arg(long = "set", global = true, value_name = "PATH=VALUE")]
    set: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the GraphQL gateway (the default).
    Serve,
    /// Run the PureCloud simulator alone, to point other tools at it. It
    /// prints its URL and the client credentials it accepts.
    Simulate(SimulateArgs),
    /// Print the GraphQL schema (SDL) and exit.
    Schema,
    /// Copy the event store (store.path, or its default place) into a new
    /// file, consistently, while the gateway runs.
    Backup(BackupArgs),
    /// Ask a running gateway whether it is up (GET /healthz), or with
    /// --ready whether it is ready (GET /readyz); exits 0 if so, 1 if not.
    /// For container health checks, where there is no curl.
    Health(HealthArgs),
    /// Send a running gateway a signed Zoom test delivery, as Zoom would:
    /// the URL validation (proving both hold the same webhooks.zoom_secret),
    /// then a `cobrowse.session_started` of a new test session, or with
    /// --end, the `cobrowse.session_ended` of one.
    ZoomTestEvent(ZoomTestEventArgs),
    /// Check the settings without starting anything or calling upstream,
    /// and print each one's value in effect and where it came from
    /// (secrets are not shown). Exits 2 when they are not valid.
    Check,
    /// Make a new API key: prints the key (give it to the caller; it is
    /// shown once) and the entry for auth.api_keys_file (which holds only
    /// its SHA-256).
    ApiKey(ApiKeyArgs),
}

#[derive(clap::Args)]
struct BackupArgs {
    /// The new file to write (it must not exist).
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
}

#[derive(clap::Args)]
struct HealthArgs {
    /// The gateway's base URL, or its probe's URL, or its address
    /// (http:// is assumed) [default: http:// and server.listen].
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Ask /readyz (upstream and the store answer) instead of /healthz.
    #[arg(long)]
    ready: bool,
}

#[derive(clap::Args)]
struct ZoomTestEventArgs {
    /// The gateway's webhook URL [default: /webhooks/zoom of server.listen].
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// End this test session instead of starting one.
    #[arg(long, value_name = "SESSION_ID")]
    end: Option<String>,
}

#[derive(clap::Args)]
struct ApiKeyArgs {
    /// The key's id (callers are known by it in logs and rate limits).
    #[arg(long)]
    id: String,
    /// Scopes: read, write, webhooks:admin (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "read")]
    scopes: Vec<String>,
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// Conversations to seed.
    #[arg(long, default_value_t = 24)]
    conversations: usize,
    /// Seed of the data.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Client id to accept.
    #[arg(long, default_value = "cobrowse-gateway-demo")]
    client_id: String,
    /// Client secret to accept (random when not given).
    #[arg(long, env = "COBROWSE_SIM_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of API requests answered 429 (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    rate_limit_fraction: f64,
    /// Share of API requests answered 503 (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    error_fraction: f64,
    /// Lifetime of issued tokens, in seconds.
    #[arg(long, default_value_t = 86_400)]
    token_lifetime_s: u64,
    /// Seconds between steps of the world (conversations start, agents
    /// join, sessions end, ...); 0 keeps it still (POST /__sim/world/tick
    /// moves it).
    #[arg(long, default_value_t = 0)]
    pace_s: u64,
}

fn settings_help() -> String {
    let mut help = format!(
        "Settings (defaults < settings file (--config or {CONFIG_ENV}) < environment < flags):\n"
    );
    for s in SETTINGS {
        help.push_str(&format!(
            "  {:<30} {:<40} {}{}\n",
            s.path,
            s.env,
            s.help,
            s.default
                .map(|d| format!(" [default: {d}]"))
                .unwrap_or_default()
        ));
    }
    help
}

fn overrides(cli: &Cli) -> Result<Vec<(String, String)>, String> {
    let mut overrides = Vec::new();
    for (path, value) in [
        ("server.listen", &cli.listen),
        ("upstream.url", &cli.upstream_url),
        ("log.format", &cli.log_format),
    ] {
        if let Some(value) = value {
            overrides.push((path.to_owned(), value.clone()));
        }
    }
    for pair in &cli.set {
        let (path, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--set takes section.key=value, got `{pair}`"))?;
        overrides.push((path.trim().to_owned(), value.to_owned()));
    }
    Ok(overrides)
}

/// Writes to stdout; a closed stdout (a pipe nobody reads) must not stop
/// the server, so write errors are ignored.
fn say(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The log filter in effect: the setting's, with PostgreSQL's notices at
/// start-up (a migration's "relation already exists, skipping", which sqlx
/// logs at `info`) left out unless the setting names sqlx itself.
fn log_filter(setting: &str) -> String {
    if setting.contains("sqlx") {
        setting.to_owned()
    } else {
        format!("{setting},sqlx::postgres::notice=warn")
    }
}

fn init_logs(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::new(log_filter(&settings.log.filter));
    // Logs go to stderr; stdout carries only the start-up banner.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(settings.scrub())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match settings.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Each line of `errors` (every setting that is wrong) as an error.
fn say_errors(errors: &str) {
    for line in errors.lines() {
        eprintln!("error: {line}");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        print!("{}", graph::sdl());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::ApiKey(args)) = &cli.command {
        return api_key(args);
    }
    if let Some(Command::Check) = cli.command {
        return match overrides(&cli)
            .and_then(|o| cobrowse_gateway::check::report(cli.config.as_deref(), &o))
        {
            Ok(report) => {
                say(&report);
                ExitCode::SUCCESS
            }
            Err(e) => {
                say_errors(&redact_text(&e));
                ExitCode::from(2)
            }
        };
    }
    let settings = match overrides(&cli)
        .and_then(|o| Settings::load(cli.config.as_deref(), &o).map_err(|e| e.to_string()))
    {
        Ok(settings) => settings,
        Err(e) => {
            say_errors(&redact_text(&e));
            return ExitCode::from(2);
        }
    };
    // Whatever is written from here on passes through it.
    let scrub = settings.scrub();
    let result = match cli.command {
        Some(Command::Backup(args)) => return backup(&settings, &args.to).await,
        Some(Command::Health(args)) => return health(&settings, &args).await,
        Some(Command::ZoomTestEvent(args)) => return zoom_test_event(&settings, &args).await,
        Some(Command::Simulate(args)) => {
            init_logs(&settings);
            simulate(cli.listen.as_deref(), args).await
        }
        _ => {
            init_logs(&settings);
            serve(settings).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", scrub.text(&redact_text(&format!("{e:#}"))));
            ExitCode::FAILURE
        }
    }
}

fn api_key(args: &ApiKeyArgs) -> ExitCode {
    use cobrowse_gateway::auth::{api_keys, Permissions};
    if args.id.trim().is_empty() {
        eprintln!("error: --id must not be empty");
        return ExitCode::from(2);
    }
    if let Some(bad) = args
        .scopes
        .iter()
        .find(|s| Permissions::parse_scope(s).is_none())
    {
        eprintln!("error: unknown scope {bad:?}; use read, write or webhooks:admin");
        return ExitCode::from(2);
    }
    let key = api_keys::generate();
    let scopes: Vec<&str> = args.scopes.iter().map(String::as_str).collect();
    say(&format!(
        "API key (shown once; send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`):\n  {key}\n\nAdd this to auth.api_keys_file:\n\n{}",
        api_keys::entry(&args.id, &key, &scopes)
    ));
    ExitCode::SUCCESS
}

async fn backup(settings: &Settings, to: &std::path::Path) -> ExitCode {
    if settings.store_is_postgres() {
        eprintln!("error: the event store is PostgreSQL (store.url): back it up with pg_dump or the database's own backups");
        return ExitCode::from(2);
    }
    if settings.demo_store_is_temporary() {
        eprintln!("error: demo mode keeps its events in a temporary file of its own, emptied each run: set store.path (COBROWSE_STORE_PATH) to keep them, and back that file up");
        return ExitCode::from(2);
    }
    let result = match settings.store_location() {
        Ok((from, _)) => cobrowse_gateway::store::sqlite::SqliteStore::backup(&from, to)
            .await
            .map(|()| from)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(from) => {
            say(&format!(
                "backed up {} to {}\n",
                from.display(),
                to.display()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn health(settings: &Settings, args: &HealthArgs) -> ExitCode {
    let base = args
        .url
        .clone()
        .unwrap_or_else(|| settings.local_base_url());
    let url = probe_url(&base, args.ready);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build();
    let answer = match client {
        Ok(client) => client.get(&url).send().await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(response) if response.status().is_success() => {
            say(&format!("{url}: {}\n", response.status()));
            ExitCode::SUCCESS
        }
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            eprintln!("{url}: {status} {body}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{url}: no answer: {}", no_answer(&e));
            ExitCode::FAILURE
        }
    }
}

/// The probe to ask: `given` is the gateway's base URL, a probe's URL
/// (kept), or an address without a scheme (`http://` assumed).
fn probe_url(given: &str, ready: bool) -> String {
    let given = given.trim().trim_end_matches('/');
    let url = if given.contains("://") {
        given.to_owned()
    } else {
        format!("http://{given}")
    };
    if url.ends_with("/healthz") || url.ends_with("/readyz") {
        return url;
    }
    format!("{url}/{}", if ready { "readyz" } else { "healthz" })
}

/// Why a request got no answer, in words: `connection refused at
/// host:port`, a timeout, or a name that does not resolve.
fn no_answer(e: &reqwest::Error) -> String {
    let at = e
        .url()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        .unwrap_or_default();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    format!("connection refused at {at}: is the gateway running, on that port?")
                }
                _ => format!("{io} (at {at})"),
            };
        }
        source = inner.source();
    }
    if e.is_timeout() {
        return format!("no answer within 3 s from {at}");
    }
    format!("{e}")
}

async fn zoom_test_event(settings: &Settings, args: &ZoomTestEventArgs) -> ExitCode {
    use cobrowse_gateway::zoom::test_event::{send, TestEvent};
    let Some(secret) = settings.zoom_secret() else {
        eprintln!("error: webhooks.zoom_secret is not set: give the secret of the gateway's Zoom app (COBROWSE_ZOOM_WEBHOOK_SECRET), as the gateway has it");
        return ExitCode::from(2);
    };
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| format!("{}/webhooks/zoom", settings.local_base_url()));
    let event = args.end.clone().map_or(TestEvent::Start, TestEvent::End);
    match send(&url, secret, event).await {
        Ok(report) => {
            say(&report);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let gateway = Gateway::build(settings).await?;
    let base = format!("http://{}", gateway.local_addr());
    let mut banner = String::new();
    if let Some(sim) = gateway.simulator() {
        banner += &format!(
            "demo mode: reading from the built-in PureCloud simulator at {}\n",
            sim.url()
        );
    }
    if gateway.plays_demo_zoom() {
        banner +=
            "demo mode: playing Zoom Cobrowse sessions into /webhooks/zoom (one event every 3 s)\n";
    }
    if let Some(secret) = gateway.generated_zoom_secret() {
        // Made for this run (a secret the user set is never printed): it
        // signs their own test deliveries, as the README's examples do.
        banner += &format!(
            "demo mode: Zoom webhook secret for this run (sign test deliveries with it; set COBROWSE_ZOOM_WEBHOOK_SECRET to choose one): {}\n",
            secret.expose()
        );
    }
    if gateway.is_open() {
        banner += "WARNING: authentication is off (demo mode without auth settings): anyone who can reach this port may read and change everything\n";
    }
    let home = if gateway.simulator().is_some() {
        "the live co-browse wall"
    } else {
        "what this is, where to go"
    };
    banner += &format!("cobrowse-gateway listening on {base}\n  Home:     {base}/ ({home})\n  GraphQL:  {base}/graphql\n  GraphiQL: {base}/graphiql\n");
    say(&banner);
    gateway.run_until_stopped(shutdown_signal()).await
}

async fn simulate(listen: Option<&str>, args: SimulateArgs) -> anyhow::Result<()> {
    let mut config = SimConfig::local(args.conversations, args.seed);
    config.pace = (args.pace_s > 0).then(|| std::time::Duration::from_secs(args.pace_s));
    config.listen = listen.unwrap_or("127.0.0.1:8090").parse()?;
    config.client_id = args.client_id;
    // A secret the simulator made for itself is shown; one given never is.
    let shown_secret = match args.client_secret {
        Some(secret) => {
            config.client_secret = Secret::new(secret);
            "(the one given with --client-secret)".to_owned()
        }
        None => config.client_secret.expose().to_owned(),
    };
    config.faults = Faults {
        latency_ms: args.latency_ms,
        rate_limit_fraction: args.rate_limit_fraction,
        error_fraction: args.error_fraction,
        token_lifetime_s: args.token_lifetime_s,
        ..Faults::default()
    };
    let sim = Simulator::start(config).await?;
    let url = sim.url();
    say(&format!(
        "PureCloud simulator listening on {url}\n  client id:     {}\n  client secret: {}\n  counts: GET {url}/__sim/stats, faults: PUT {url}/__sim/faults\n",
        sim.client_id(),
        shown_secret
    ));
    tokio::select! {
        () = sim.wait() => {},
        () = shutdown_signal() => {},
    }
    Ok(())
}
