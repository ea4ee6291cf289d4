//! Building and running the gateway from settings.
//!
//! [`Gateway::build`] binds the listener (port 0 works: tests read the real
//! port from [`Gateway::local_addr`]), starts the in-process simulator in
//! demo mode, proves the upstream credentials, and assembles the schema.
//! [`Gateway::run_until_stopped`] serves until the shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::cache::{Cache, Scope};
use crate::graph;
use crate::http::apq::PersistedQueries;
use crate::http::graphql::HttpLimits;
use crate::http::{self, graphiql, AppState};
use crate::metrics::Metrics;
use crate::settings::{Settings, UpstreamMode};
use crate::sim::{SimConfig, Simulator};
use crate::source::Source;
use crate::upstream::{ClientConfig, PureCloud, RetryPolicy, UpstreamError};

/// A gateway ready to serve.
pub struct Gateway {
    listener: TcpListener,
    state: AppState,
    simulator: Option<Simulator>,
}

impl Gateway {
    /// Builds the gateway. Fails when a setting cannot be honoured or when
    /// upstream refuses the gateway's credentials.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let (simulator, api_url, login_url, client_id, client_secret) = match settings
            .upstream_mode()
        {
            UpstreamMode::Demo => {
                let sim = Simulator::start(SimConfig::local(
                    settings.demo.conversations,
                    settings.demo.seed,
                ))
                .await
                .context("cannot start the demo simulator")?;
                let url: reqwest::Url = sim.url().parse().expect("the simulator's URL is valid");
                let (id, secret) = (sim.client_id().to_owned(), sim.client_secret().clone());
                (Some(sim), url.clone(), url, id, secret)
            }
            UpstreamMode::Remote {
                api_url,
                login_url,
                client_id,
                client_secret,
            } => (None, api_url, login_url, client_id, client_secret),
        };
        let up = &settings.upstream;
        let metrics = Arc::new(Metrics::new());
        let scope = Scope::of(&[api_url.as_str(), &client_id]);
        let client = PureCloud::new(
            ClientConfig {
                api_url,
                login_url,
                client_id,
                client_secret,
                timeout: up.timeout,
                connect_timeout: up.connect_timeout,
                max_in_flight: up.max_in_flight,
                retry: RetryPolicy {
                    max_attempts: up.max_attempts,
                    base_backoff: up.base_backoff,
                    max_backoff: up.max_backoff,
                    max_retry_after: up.max_retry_after,
                },
                token_refresh_margin: up.token_refresh_margin,
            },
            Arc::clone(&metrics),
        )?;
        match client.check_credentials().await {
            Ok(()) => {}
            Err(e @ UpstreamError::AuthFailed { .. }) => {
                anyhow::bail!(
                    "{e}. Check upstream.client_id and upstream.client_secret (COBROWSE_CLIENT_ID, COBROWSE_CLIENT_SECRET)"
                );
            }
            Err(e) => {
                warn!(error = %e, code = e.code(), "cannot fetch an upstream token yet; will retry on demand")
            }
        }
        let cache = Cache::new(&settings.cache, Arc::clone(&metrics));
        let source = Arc::new(Source::new(client, cache, scope));
        let schema = graph::schema(Arc::clone(&source), &settings.limits);
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        Ok(Self {
            listener,
            state: AppState {
                schema,
                source,
                persisted: Arc::new(PersistedQueries::new(
                    settings.server.persisted_queries_max_bytes,
                    Arc::clone(&metrics),
                )),
                metrics,
                limits: HttpLimits {
                    max_body_bytes: settings.server.max_body_bytes,
                    request_timeout: settings.server.request_timeout,
                    schema_max_age: settings.cache.directory_ttl,
                },
                graphiql: settings.server.graphiql,
            },
            simulator,
        })
    }

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The in-process simulator, in demo mode.
    pub fn simulator(&self) -> Option<&Simulator> {
        self.simulator.as_ref()
    }

    /// The data source (for counters in tests and benchmarks).
    pub fn source(&self) -> &Arc<Source> {
        &self.state.source
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        info!(%addr, demo = self.simulator.is_some(), "gateway listening");
        if self.state.graphiql && !graphiql::assets_are_embedded() {
            warn!("GraphiQL assets were not installed at build time (npm ci --prefix web): /graphiql loads them from a CDN");
        }
        let app = http::router(self.state);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("the HTTP server failed")?;
        drop(self.simulator);
        Ok(())
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
