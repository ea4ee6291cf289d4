//! Building and running the gateway from settings.
//!
//! [`Gateway::build`] binds the listener (port 0 works: tests read the real
//! port from [`Gateway::local_addr`]), starts the in-process simulator in
//! demo mode, proves the upstream credentials, and assembles the schema.
//! [`Gateway::run_until_stopped`] serves until the shutdown future resolves.

mod event_store;
mod upstream_checks;

use event_store::{chores, load_messenger_active, open_store};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use upstream_checks::{check_upstream, client_config, upstream_target, Target};

use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::cache::{Cache, Scope};
use crate::graph;
use crate::http::apq::PersistedQueries;
use crate::http::graphql::HttpLimits;
use crate::http::{self, AppState, WebhookConfig};
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::sim::Simulator;
use crate::source::Source;
use crate::store::postgres::PgStore;
use crate::store::EventStore;
use crate::updates::UPDATE_BUFFER;
use crate::upstream::PureCloud;

/// A gateway ready to serve.
pub struct Gateway {
    listener: TcpListener,
    serve: http::serve::ServeOptions,
    state: AppState,
    lifecycle: crate::http::LifecycleControl,
    shutdown_grace: std::time::Duration,
    introspection: bool,
    /// `server.public_origins`, for the start-up advice.
    public_origins: Vec<String>,
    simulator: Option<Simulator>,
    retention: tokio::task::JoinHandle<()>,
    /// Reads changed key files again.
    key_watcher: Option<tokio::task::JoinHandle<()>>,
    /// Demo mode: the task playing Zoom webhooks into this gateway.
    demo_zoom: Option<tokio::task::JoinHandle<()>>,
    /// Demo mode without a configured webhook secret: the one it made.
    generated_zoom_secret: Option<crate::secret::Secret>,
    /// Service mode: the task listening to Genesys notifications.
    live_task: Option<tokio::task::JoinHandle<()>>,
    /// A shared (PostgreSQL) store: the task following its change feed.
    feed_task: Option<tokio::task::JoinHandle<()>>,
    /// A shared store, whose listener lease is given up on the way out.
    shared: Option<Arc<PgStore>>,
    /// Demo mode with no store named: the folder of its temporary store,
    /// removed when the gateway stops.
    demo_store: Option<tempfile::TempDir>,
}

impl Gateway {
    /// Builds the gateway. Fails when a setting cannot be honoured or when
    /// upstream refuses the gateway's credentials.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // First, so that a port in use stops start-up at once.
        let listener = listen(settings.server.listen).await?;
        let (simulator, target) = upstream_target(&settings, &listener).await?;
        let operations = settings.server.operation_names.clone();
        let metrics = Arc::new(Metrics::with_operations(operations));
        let scope = Scope::of(&[target.api_url.as_str(), &target.client_id]);
        let redis = shared_redis(&settings, &metrics);
        let shared = shared_cache(redis.as_ref(), &target, scope);
        let api_url = target.api_url.to_string();
        let client = PureCloud::new(client_config(&settings, target), Arc::clone(&metrics))?;
        check_upstream(&client, &settings).await?;
        let (source, lease) = source(&settings, client, scope, &metrics, shared);
        let auth = Arc::new(crate::auth::Authenticator::new(
            &settings.auth,
            simulator.is_some(),
            source.access().clone(),
            &api_url,
        )?);
        let (updates, _) = tokio::sync::broadcast::channel(UPDATE_BUFFER);
        let live = wants_live(&settings).then(|| Arc::new(crate::live::Live::new(lease)));
        let opened = open_store(&settings, &updates, &source, live.clone()).await?;
        let (store, shared) = (opened.store, opened.shared);
        load_messenger_active(&*store, &source).await;
        let live_task = live.as_ref().map(|live| {
            start_live(
                &settings,
                (&source, &store),
                Arc::clone(live),
                &updates,
                &metrics,
                shared.clone(),
            )
        });
        let schema = schema(&settings, &store, &updates);
        let key_watcher = (!settings.auth.reload_interval.is_zero()).then(|| {
            let every = settings.auth.reload_interval;
            tokio::spawn(watch_key_files(
                Arc::clone(&auth),
                every,
                Arc::clone(&metrics),
            ))
        });
        let retention = chores(&settings, &store, &updates, &metrics);
        let (zoom_secret, demo_zoom, generated) = demo_zoom(
            &settings,
            simulator.as_ref().map(Simulator::zoom),
            &listener,
        )?;
        let (lifecycle, lifecycle_control) = crate::http::Lifecycle::new();
        let parts = Parts {
            live,
            lifecycle,
            schema,
            source,
            metrics,
            store,
            updates,
            auth,
            zoom_secret,
            redis,
            demo: simulator.is_some(),
            listening: listener.local_addr()?,
        };
        Ok(Self {
            listener,
            serve: serve_options(&settings),
            lifecycle: lifecycle_control,
            shutdown_grace: settings.server.shutdown_grace,
            introspection: settings.server.introspection,
            public_origins: settings.server.public_origins.clone(),
            state: app_state(&settings, parts),
            retention,
            key_watcher,
            demo_zoom,
            generated_zoom_secret: generated,
            live_task,
            feed_task: opened.feed_task,
            shared,
            simulator,
            demo_store: opened.demo_store,
        })
    }

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Whether demo Zoom webhooks are being played into this gateway.
    pub fn plays_demo_zoom(&self) -> bool {
        self.demo_zoom.is_some()
    }

    /// The Zoom webhook secret demo mode made for itself, to show at start
    /// so that a user can sign their own test deliveries (never a secret
    /// the user set).
    pub fn generated_zoom_secret(&self) -> Option<&crate::secret::Secret> {
        self.generated_zoom_secret.as_ref()
    }

    /// Whether everyone gets in (demo mode without authentication).
    pub fn is_open(&self) -> bool {
        self.state.auth.is_open()
    }

    /// The in-process simulator, in demo mode.
    pub fn simulator(&self) -> Option<&Simulator> {
        self.simulator.as_ref()
    }

    /// Empties the data cache when called (the benchmark's cold runs).
    pub fn cache_clearer(&self) -> impl Fn() + Send + Sync + 'static {
        let source = Arc::clone(&self.state.source);
        move || source.cache().clear()
    }

    /// A function that counts a change of the data cache, as every store
    /// into it does, so that the compiled path reads the cache afresh for
    /// its next response instead of writing from its last reads (the
    /// benchmark's measure of that path while the cache keeps changing).
    pub fn cache_changer(&self) -> impl Fn() + Send + Sync + 'static {
        let source = Arc::clone(&self.state.source);
        move || source.cache().changed()
    }

    /// Serves until `shutdown` resolves, then stops gracefully: the
    /// listener closes (new connections are refused), requests in flight
    /// get up to `server.shutdown_grace` to finish, every subscription is
    /// closed with 1001, and background tasks stop. A webhook is answered
    /// only after its event is committed, so none that was acknowledged
    /// can be lost, whatever is in flight when the signal comes.
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        info!(%addr, demo = self.simulator.is_some(), auth = self.state.auth.mode_name(), "gateway listening");
        if self.state.auth.is_open() {
            warn!("AUTHENTICATION IS OFF: demo mode without auth settings lets anyone read and change everything. Configure auth.api_keys_file, auth.jwt_secret or auth.jwks_file before exposing this gateway.");
        }
        if let Some(advice) =
            http::origins::public_origins_advice(&self.public_origins, self.local_addr())
        {
            warn!("{advice}");
        }
        if self.state.graphiql && !self.introspection {
            warn!("server.graphiql is on but server.introspection is off: GraphiQL cannot load the schema");
        }
        let metrics = Arc::clone(&self.state.metrics);
        let app = http::router(self.state);
        let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
        let server = http::serve::serve(self.listener, app, self.serve, metrics, async move {
            shutdown.await;
            let _ = signalled_tx.send(());
        });
        let mut server = std::pin::pin!(server);
        let stopped = tokio::select! {
            () = &mut server => true,
            _ = signalled_rx => false,
        };
        // Long-lived connections are told to stop however the server
        // ended: it may finish draining before the signal's own branch runs.
        self.lifecycle.stop();
        if !stopped {
            info!(
                grace_ms = self.shutdown_grace.as_millis() as u64,
                "stopping: no new connections; finishing requests in flight"
            );
            if tokio::time::timeout(self.shutdown_grace, &mut server)
                .await
                .is_err()
            {
                warn!("requests were still in flight after server.shutdown_grace; stopping anyway");
            }
        }
        // Subscriptions were told to close; give them a moment to say so.
        if tokio::time::timeout(self.shutdown_grace, self.lifecycle.all_closed())
            .await
            .is_err()
        {
            warn!("some subscriptions did not close in time");
        }
        info!("stopped");
        self.retention.abort();
        if let Some(watcher) = self.key_watcher {
            watcher.abort();
        }
        if let Some(player) = self.demo_zoom {
            player.abort();
        }
        if let Some(listener) = self.live_task {
            listener.abort();
        }
        if let Some(follower) = self.feed_task {
            follower.abort();
        }
        if let Some(store) = self.shared {
            // Another replica may listen at once instead of after the TTL.
            if let Err(e) = store.release(crate::replicas::LISTENER_LEASE).await {
                warn!(error = %e, "could not give up the notification lease; another replica takes it when it expires");
            }
        }
        drop(self.simulator);
        // The demo's temporary store goes with it.
        drop(self.demo_store);
        Ok(())
    }
}

/// The GraphQL schema over `store` and `updates`, with the settings'
/// limits.
fn schema(
    settings: &Settings,
    store: &Arc<dyn EventStore>,
    updates: &tokio::sync::broadcast::Sender<crate::updates::SessionUpdate>,
) -> graph::GatewaySchema {
    graph::schema(
        graph::SchemaData {
            store: Arc::clone(store),
            updates: updates.clone(),
            agent_sessions_limit: graph::engage::AgentSessionsLimit {
                limit: settings.engage.agent_sessions_limit,
                look_back: settings.engage.max_session_length,
            },
        },
        &settings.limits,
        settings.server.introspection,
    )
}

/// Binds the gateway's address; a failure says what to do about it.
async fn listen(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use std::io::ErrorKind;
    let error = match TcpListener::bind(addr).await {
        Ok(listener) => return Ok(listener),
        Err(e) => e,
    };
    let port = addr.port();
    let advice = match error.kind() {
        ErrorKind::AddrInUse => format!(
            "the port is in use (another gateway? `ss -ltnp 'sport = :{port}'` shows what has it): choose another with --listen {}:{} (server.listen, COBROWSE_LISTEN)",
            addr.ip(),
            port.wrapping_add(1).max(1024)
        ),
        ErrorKind::PermissionDenied => format!(
            "ports below 1024 need privileges: listen on a port such as 8080 with --listen {}:8080 (server.listen) and put a proxy in front",
            addr.ip()
        ),
        ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this machine: use --listen 127.0.0.1:{port} (this machine only) or 0.0.0.0:{port} (every interface)",
            addr.ip()
        ),
        _ => "check --listen (server.listen, COBROWSE_LISTEN)".to_owned(),
    };
    Err(anyhow::anyhow!(
        "cannot listen on {addr}: {advice} ({error})"
    ))
}

/// Reads the key files again whenever they change, so keys are added and
/// revoked without a restart.
async fn watch_key_files(
    auth: Arc<crate::auth::Authenticator>,
    every: std::time::Duration,
    metrics: Arc<Metrics>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match auth.reload_if_changed() {
            crate::auth::Reload::Unchanged => {}
            crate::auth::Reload::Reloaded => {
                metrics.auth_reloads.with_label_values(&["ok"]).inc();
                info!("key files changed: the new keys are in force");
            }
            crate::auth::Reload::Failed(e) => {
                metrics.auth_reloads.with_label_values(&["failed"]).inc();
                tracing::error!(
                    error = format!("{e:#}"),
                    "a key file changed but does not load; the previous keys stay in force"
                );
            }
        }
    }
}

/// The source of upstream data, and the lease by which pushed events keep
/// its cached conversations fresh.
fn source(
    settings: &Settings,
    client: PureCloud,
    scope: Scope,
    metrics: &Arc<Metrics>,
    shared: Option<crate::cache::Shared>,
) -> (Arc<Source>, Arc<crate::cache::PushLease>) {
    let lease = Arc::new(crate::cache::PushLease::new(scope));
    let mut cache = Cache::new(&settings.cache, Arc::clone(metrics)).leased_by(Arc::clone(&lease));
    if let Some(shared) = shared {
        cache = cache.shared_by(shared);
    }
    let jobs = crate::jobs::JobSettings {
        after: settings.upstream.history_job_after,
        poll: settings.upstream.history_job_poll,
    };
    let source = Source::new(
        client,
        cache,
        scope,
        settings.upstream.active_lookback,
        jobs,
    );
    (Arc::new(source), lease)
}

/// Whether the organisation's active set is kept live: in service mode
/// with `notifications.enabled`.
fn wants_live(settings: &Settings) -> bool {
    settings.auth.mode == crate::settings::AuthMode::Service && settings.notifications.enabled
}

/// The task that keeps the live index by listening to Genesys's
/// notifications (several replicas: the task that listens while this
/// replica holds the lease, and copies the listener's index while not).
fn start_live(
    settings: &Settings,
    (source, store): (&Arc<Source>, &Arc<dyn crate::store::EventStore>),
    live: Arc<crate::live::Live>,
    updates: &tokio::sync::broadcast::Sender<crate::updates::SessionUpdate>,
    metrics: &Arc<Metrics>,
    shared: Option<Arc<PgStore>>,
) -> tokio::task::JoinHandle<()> {
    source.keep_active_set(Arc::clone(&live) as Arc<dyn crate::source::LiveActiveSet>);
    let n = &settings.notifications;
    let config = crate::live::LiveSettings {
        heartbeat_timeout: n.heartbeat_timeout,
        poll_interval: n.poll_interval,
        relist_interval: n.relist_interval,
        reconcile_interval: n.reconcile_interval,
        analytics_lag: n.analytics_lag,
        lookback: settings.upstream.active_lookback,
        connect_timeout: settings
            .upstream
            .connect_timeout
            .max(settings.upstream.timeout),
        shares_index: shared.is_some(),
        // What is read further back would be purged at once.
        messenger_history: settings.messenger.history.min(settings.store.retention),
    };
    let (source, metrics) = ((**source).clone(), Arc::clone(metrics));
    let listening = Arc::clone(&live);
    let copying = (source.clone(), Arc::clone(&live));
    let store = Arc::clone(store);
    let listen = move |publish| {
        crate::live::spawn(
            source.clone(),
            Arc::clone(&store),
            Arc::clone(&listening),
            config,
            publish,
            Arc::clone(&metrics),
        )
    };
    // Several replicas: one listens at a time, and what it hears goes
    // through the feed to every replica's subscribers and indexes.
    if let Some(store) = shared {
        let ttl = settings.notifications.lease_ttl;
        let backfill = move || {
            let (source, live) = (copying.0.clone(), Arc::clone(&copying.1));
            tokio::spawn(crate::live::backfill_copy(source, live, config))
        };
        return crate::replicas::lead(store, live, ttl, listen, backfill);
    }
    let updates = updates.clone();
    let publish: crate::live::Publish = Arc::new(move |notice| {
        if let Some(update) = crate::updates::SessionUpdate::purecloud(notice) {
            // No subscriber is not an error.
            let _ = updates.send(update);
        }
    });
    listen(publish)
}

/// How connections are accepted.
fn serve_options(settings: &Settings) -> http::serve::ServeOptions {
    http::serve::ServeOptions {
        max_connections: settings.server.max_connections,
        reserved_connections: settings.server.reserved_connections,
        header_read_timeout: settings.server.header_read_timeout,
    }
}

/// The webhook secret and, in demo mode, a task playing Zoom Cobrowse
/// sessions into this gateway with it: the configured secret, or one of
/// its own (also answered, to be shown).
type DemoZoom = (
    Option<crate::secret::Secret>,
    Option<tokio::task::JoinHandle<()>>,
    Option<crate::secret::Secret>,
);

fn demo_zoom(
    settings: &Settings,
    zoom: Option<Arc<crate::sim::zoom_api::ZoomWorld>>,
    listener: &TcpListener,
) -> anyhow::Result<DemoZoom> {
    let configured = settings.webhooks.zoom_secret.clone();
    let Some(zoom) = zoom else {
        return Ok((configured, None, None));
    };
    let generated = configured.is_none().then(crate::sim::random_secret);
    let secret = configured
        .or_else(|| generated.clone())
        .expect("one or the other");
    let url = format!("http://{}/webhooks/zoom", listener.local_addr()?);
    let player = tokio::spawn(crate::sim::zoom::play(
        url,
        secret.clone(),
        std::time::Duration::from_secs(3),
        zoom,
    ));
    Ok((Some(secret), Some(player), generated))
}

/// What [`app_state`] assembles besides the settings.
struct Parts {
    live: Option<Arc<crate::live::Live>>,
    lifecycle: crate::http::Lifecycle,
    schema: graph::GatewaySchema,
    source: Arc<Source>,
    metrics: Arc<Metrics>,
    store: Arc<dyn EventStore>,
    updates: tokio::sync::broadcast::Sender<crate::updates::SessionUpdate>,
    auth: Arc<crate::auth::Authenticator>,
    zoom_secret: Option<crate::secret::Secret>,
    /// Redis (`redis.url`), when set.
    redis: Option<Arc<crate::redis_state::RedisState>>,
    /// Demo mode: the simulator is upstream.
    demo: bool,
    /// The address the gateway listens on (its port bound).
    listening: std::net::SocketAddr,
}

/// Redis, when `redis.url` is set (checked when the settings were read).
fn shared_redis(
    settings: &Settings,
    metrics: &Arc<Metrics>,
) -> Option<Arc<crate::redis_state::RedisState>> {
    let url = settings.redis.url.as_ref()?;
    crate::redis_state::RedisState::new(url.expose(), settings.redis.timeout, Arc::clone(metrics))
        .map(Arc::new)
        .ok()
}

/// With Redis, the replicas' shared cache of the gateway's own values,
/// under a name every replica of the same upstream and client derives.
fn shared_cache(
    redis: Option<&Arc<crate::redis_state::RedisState>>,
    target: &Target,
    scope: Scope,
) -> Option<crate::cache::Shared> {
    use sha2::Digest as _;
    let redis = Arc::clone(redis?);
    let named = sha2::Sha256::digest(format!("{}\n{}", target.api_url, target.client_id));
    let name = hex::encode(&named[..8]);
    Some(crate::cache::Shared::new(redis, scope, name))
}

/// The state every handler shares.
/// The compiled path `server.compiled_queries` asks for.
fn compiled_path(settings: &Settings) -> Option<Arc<http::graphql::compiled::CompiledPath>> {
    use crate::settings::CompiledQueries;
    let verify = match settings.server.compiled_queries {
        CompiledQueries::Off => return None,
        CompiledQueries::On => false,
        CompiledQueries::Verify => true,
    };
    Some(Arc::new(http::graphql::compiled::CompiledPath {
        plans: crate::graph::compiled::Plans::new(settings.limits.max_page_size),
        verify,
    }))
}

fn app_state(settings: &Settings, parts: Parts) -> AppState {
    let server = &settings.server;
    let shared_redis = parts.redis;
    AppState {
        lifecycle: parts.lifecycle,
        schema: parts.schema,
        persisted: Arc::new(PersistedQueries::new(
            server.persisted_queries_max_bytes,
            Arc::clone(&parts.metrics),
            shared_redis.clone(),
        )),
        responses: server.response_cache.then(|| {
            Arc::new(http::response_cache::ResponseCache::new(
                server.response_cache_max_bytes,
                Arc::clone(parts.source.changes()),
            ))
        }),
        compiled: compiled_path(settings),
        source: parts.source,
        live: parts.live,
        metrics: parts.metrics,
        limits: HttpLimits {
            max_body_bytes: server.max_body_bytes,
            max_document_bytes: settings.limits.max_document_bytes,
            max_nesting: settings.limits.max_nesting,
            request_timeout: server.request_timeout,
            schema_max_age: settings.cache.directory_ttl,
        },
        graphiql: server.graphiql,
        demo: parts.demo,
        background_agent: parts.demo.then_some(crate::sim::zoom::PLAYER_AGENT),
        origins: http::origins::Origins::new(
            &server.cors_origins,
            parts.demo,
            http::origins::own_origins(&server.public_origins, parts.listening),
        ),
        proxies: http::client_addr::TrustedProxies::new(&server.trusted_proxies),
        page_reports: http::page_reports::PageReports::new(
            &settings.messenger.page_origins,
            parts.demo,
            settings.messenger.page_reports_per_minute,
            settings.messenger.page_reports_per_session,
        ),
        store: parts.store,
        updates: parts.updates,
        auth: parts.auth,
        rate_limiter: crate::http::rate_limit::RateLimiter::new(
            settings.limits.requests_per_second,
            settings.limits.request_burst,
            shared_redis,
        )
        .map(Arc::new),
        sockets: http::subscriptions::SocketLimits {
            init_timeout: server.websocket_init_timeout,
            max_subscriptions: server.max_subscriptions_per_socket,
            max_message_bytes: server.max_body_bytes,
        },
        readiness: Arc::new(http::Readiness::new(server.readiness_interval)),
        webhooks: WebhookConfig {
            secret: parts.zoom_secret,
            max_skew: settings.webhooks.max_skew,
            max_body_bytes: settings.webhooks.max_body_bytes,
        },
    }
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    info!("shutting down");
}
