//! Where upstream is and whether it answers, at start-up: the target (the
//! in-process simulator in demo mode, Genesys Cloud otherwise), the client's
//! configuration, and the credentials and permissions proven before serving.

use anyhow::Context as _;
use tokio::net::TcpListener;
use tracing::warn;

use crate::settings::{Settings, UpstreamMode};
use crate::sim::{SimConfig, Simulator};
use crate::upstream::{ClientConfig, Credential, PureCloud, RetryPolicy, UpstreamError};

/// Where upstream is, and whose credentials the gateway calls it with.
pub(super) struct Target {
    pub(super) api_url: reqwest::Url,
    pub(super) login_url: reqwest::Url,
    pub(super) client_id: String,
    pub(super) client_secret: crate::secret::Secret,
}

/// Upstream as the settings say: a simulator started here (demo mode), or
/// a real organisation.
pub(super) async fn upstream_target(
    settings: &Settings,
    listener: &TcpListener,
) -> anyhow::Result<(Option<Simulator>, Target)> {
    Ok(match settings.upstream_mode() {
        UpstreamMode::Demo => {
            let mut config = SimConfig::local(settings.demo.conversations, settings.demo.seed);
            config.pace = (!settings.demo.pace.is_zero()).then_some(settings.demo.pace);
            // Legacy co-browse, Co-browse for Messenger and (below) Zoom
            // sessions together; the customers' pages report to this gateway.
            config.messenger = settings.demo.messenger_conversations;
            config.page_reports_to = Some(format!("http://{}", listener.local_addr()?));
            // As Genesys's analytics does, the demo's lags real time.
            config.faults.analytics_lag_ms = 2_000;
            let sim = Simulator::start(config)
                .await
                .context("cannot start the demo simulator")?;
            let url: reqwest::Url = sim.url().parse().expect("the simulator's URL is valid");
            let target = Target {
                api_url: url.clone(),
                login_url: url,
                client_id: sim.client_id().to_owned(),
                client_secret: sim.client_secret().clone(),
            };
            (Some(sim), target)
        }
        UpstreamMode::Remote {
            api_url,
            login_url,
            client_id,
            client_secret,
        } => (
            None,
            Target {
                api_url,
                login_url,
                client_id,
                client_secret,
            },
        ),
    })
}

pub(super) fn client_config(settings: &Settings, target: Target) -> ClientConfig {
    let up = &settings.upstream;
    ClientConfig {
        api_url: target.api_url,
        login_url: target.login_url,
        client_id: target.client_id,
        client_secret: target.client_secret,
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
        breaker_threshold: up.breaker_threshold,
        breaker_cooldown: up.breaker_cooldown,
        max_page_bytes: up.max_page_bytes,
        max_list_items: up.max_list_items,
    }
}

/// Refuses to start with credentials upstream refuses; an upstream that
/// cannot answer yet is only a warning (tokens are fetched on demand).
/// Proves the gateway's credentials, and (in service mode, where upstream
/// is read with them) says which features their permissions leave out.
pub(super) async fn check_upstream(client: &PureCloud, settings: &Settings) -> anyhow::Result<()> {
    check_credentials(client).await?;
    if settings.auth.mode == crate::settings::AuthMode::Service {
        check_permissions(client).await;
    }
    Ok(())
}

pub(super) async fn check_credentials(client: &PureCloud) -> anyhow::Result<()> {
    match client.check_credentials().await {
        Ok(()) => Ok(()),
        Err(e @ UpstreamError::AuthFailed { .. }) => anyhow::bail!(
            "{e}. Check upstream.client_id and upstream.client_secret (COBROWSE_CLIENT_ID, COBROWSE_CLIENT_SECRET)"
        ),
        Err(e) => {
            warn!(error = %e, code = e.code(), "cannot fetch an upstream token yet; will retry on demand");
            Ok(())
        }
    }
}

/// The features that need an upstream permission of the gateway's own
/// OAuth client, as Genesys names them (any one of each list will do;
/// docs/upstream.md, "Permissions").
pub(super) const PERMISSIONS: [(&str, &[&str]); 4] = [
    (
        "conversations by id, their participants and sessions (conversation read)",
        &["conversation:communication:view"],
    ),
    (
        "activeCobrowseConversations, cobrowseSessions and cobrowseHistory (analytics details)",
        &[
            "analytics:conversationDetail:view",
            "analytics:agentConversationDetail:view",
        ],
    ),
    (
        "cobrowseStatistics (analytics aggregates)",
        &["analytics:conversationAggregate:view"],
    ),
    ("queue names (routing queues)", &["routing:queue:view"]),
];

/// A conversation id no organisation has: reading it proves the read
/// permission (a 404) without reading anything.
pub(super) const NO_CONVERSATION: &str = "00000000-0000-0000-0000-000000000000";

/// Tries each feature that needs a permission once, with the least upstream
/// can answer, and says which are unavailable. Never fails start-up: a
/// permission granted later works at once.
#[tracing::instrument(name = "startup.check_permissions", skip_all)]
pub(super) async fn check_permissions(client: &PureCloud) {
    use crate::upstream::analytics::{self, AggregatesQuery, DetailsQuery, Paging};
    let now = chrono::Utc::now();
    let interval = analytics::interval(now - chrono::Duration::minutes(1), now);
    let cred = Credential::Service;
    let details = DetailsQuery {
        interval: interval.clone(),
        paging: Some(Paging {
            page_size: 1,
            page_number: 1,
        }),
        ..DetailsQuery::default()
    };
    let aggregates = AggregatesQuery {
        interval,
        metrics: vec!["nConnected".into()],
        ..AggregatesQuery::default()
    };
    let (conversation, details, aggregates, queues) = tokio::join!(
        client.conversation(&cred, NO_CONVERSATION),
        client.details_page(&cred, &details),
        client.aggregates(&cred, &aggregates),
        client.entities::<crate::upstream::model::Queue>(&cred, &[]),
    );
    let conversation = match conversation {
        Err(UpstreamError::NotFound { .. }) => Ok(()),
        other => other.map(drop),
    };
    let outcomes = [
        conversation,
        details.map(drop),
        aggregates.map(drop),
        queues.map(drop),
    ];
    for ((feature, any_of), outcome) in PERMISSIONS.iter().zip(outcomes) {
        let permission = any_of.join(" or ");
        match outcome {
            Ok(()) => {}
            Err(UpstreamError::Forbidden { .. }) => warn!(
                feature,
                permission,
                "unavailable: the gateway's upstream OAuth client lacks {permission}; {feature} will answer UPSTREAM_FORBIDDEN until it is granted"
            ),
            Err(e) => warn!(feature, code = e.code(), error = %e, "cannot check an upstream permission now"),
        }
    }
}
