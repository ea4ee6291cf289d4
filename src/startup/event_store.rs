//! The event store at start-up: where it is (a temporary folder in demo
//! mode with none named), opened (SQLite, or PostgreSQL for replicas), its
//! Co-browse for Messenger sessions loaded, and its chores (retention, Zoom
//! sessions gone idle).

use std::sync::Arc;

use anyhow::Context as _;
use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::source::Source;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::EventStore;

/// Demo mode with no store named: the folder of its temporary store.
pub(super) fn demo_store_dir(settings: &Settings) -> anyhow::Result<Option<tempfile::TempDir>> {
    if !settings.demo_store_is_temporary() {
        return Ok(None);
    }
    let dir = tempfile::Builder::new()
        .prefix("cobrowse-gateway-demo-")
        .tempdir()
        .context("cannot make the demo's temporary event store (set store.path)")?;
    Ok(Some(dir))
}

/// The store's chores, in one task: retention, and the Zoom sessions that
/// went idle.
pub(super) fn chores(
    settings: &Settings,
    store: &Arc<dyn EventStore>,
    updates: &tokio::sync::broadcast::Sender<crate::updates::SessionUpdate>,
    metrics: &Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    let idle = crate::http::webhooks::end_idle_sessions(
        Arc::clone(store),
        updates.clone(),
        Arc::clone(metrics),
        settings.webhooks.zoom_idle_after,
    );
    let purge = purge_periodically(Arc::clone(store), settings.store.retention);
    tokio::spawn(async move {
        tokio::join!(purge, idle);
    })
}

/// Deletes ended Zoom sessions older than `retention`, at start-up and then
/// every hour (or every `retention`, when that is shorter).
pub(super) async fn purge_periodically(store: Arc<dyn EventStore>, retention: std::time::Duration) {
    let period = retention.min(std::time::Duration::from_secs(3600));
    let mut ticks = tokio::time::interval(period);
    loop {
        ticks.tick().await;
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        match store.purge_ended_before(cutoff).await {
            Ok(0) => {}
            Ok(purged) => info!(purged, "deleted ended Zoom sessions past their retention"),
            Err(e) => warn!(error = %e, "could not purge old sessions"),
        }
    }
}

/// The event store as opened.
pub(super) struct Opened {
    pub(super) store: Arc<dyn EventStore>,
    /// A shared (PostgreSQL) store, and the task that follows its change
    /// feed.
    pub(super) shared: Option<Arc<PgStore>>,
    pub(super) feed_task: Option<tokio::task::JoinHandle<()>>,
    /// The demo's temporary store's folder, removed with it.
    pub(super) demo_store: Option<tempfile::TempDir>,
}

/// The event store, and with a shared (PostgreSQL) one the task that
/// follows its change feed into `updates`.
pub(super) async fn open_store(
    settings: &Settings,
    updates: &tokio::sync::broadcast::Sender<crate::updates::SessionUpdate>,
    source: &Arc<Source>,
    live: Option<Arc<crate::live::Live>>,
) -> anyhow::Result<Opened> {
    let probe = settings.webhooks.max_body_bytes;
    if let Some(url) = &settings.store.url {
        let shown = crate::settings::postgres_url(url.expose()).unwrap_or_default();
        let store = PgStore::open(url.expose(), settings.store.max_connections)
            .await
            .with_context(|| {
                format!("cannot open the event store at {shown} (store.url, COBROWSE_STORE_URL)")
            })?;
        info!(url = %shown, "event store open (PostgreSQL)");
        let store = Arc::new(store.probe_bytes(probe));
        let catch_up = settings.store.catch_up_interval;
        let follower = crate::replicas::follow(&store, source, live, updates, catch_up)
            .await
            .context("cannot read the change feed of the event store")?;
        source.share_changes(Arc::clone(&store) as Arc<dyn crate::changes::SharedChanges>);
        return Ok(Opened {
            store: store.clone(),
            shared: Some(Arc::clone(&store)),
            feed_task: Some(follower),
            demo_store: None,
        });
    }
    let demo_store = demo_store_dir(settings)?;
    let (path, why) = match &demo_store {
        Some(dir) => (
            dir.path().join("events.sqlite"),
            "demo mode: a temporary file, emptied each run; set store.path to keep it",
        ),
        None => settings.store_location()?,
    };
    let store = SqliteStore::open(&path)
        .await
        .map(|store| store.probe_bytes(probe))
        .with_context(|| {
            format!(
                "cannot open the event store at {} (store.path, COBROWSE_STORE_PATH)",
                path.display()
            )
        })?;
    info!(path = %path.display(), from = why, "event store open");
    Ok(Opened {
        store: Arc::new(store),
        shared: None,
        feed_task: None,
        demo_store,
    })
}

/// Fills the active set of Co-browse for Messenger conversations from the
/// store (what went on before a restart, or on other replicas).
pub(super) async fn load_messenger_active(store: &dyn EventStore, source: &Source) {
    let going_on = crate::store::StoredSessionFilter {
        ended: Some(false),
        offered: Some(false),
        ..crate::store::StoredSessionFilter::default()
    };
    let window = crate::store::Window {
        limit: 50_000,
        ..crate::store::Window::default()
    };
    match store.messenger_sessions(&going_on, &window).await {
        Ok(sessions) => sessions.iter().for_each(|s| source.note_messenger(s)),
        Err(e) => {
            warn!(error = %e, "cannot read the Co-browse for Messenger sessions going on; they are listed as their next change is heard")
        }
    }
}
