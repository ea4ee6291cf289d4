//! The PureCloud simulator: a real HTTP server speaking the upstream protocol.
//!
//! Demo mode, the tests and the benchmarks all use it. It serves the OAuth
//! token endpoint and the API routes of docs/upstream.md over [`data::World`],
//! and has knobs for faults ([`Faults`]: latency, 429s with `Retry-After`,
//! 5xx, token lifetime). It counts the requests it serves per route and
//! exposes the counts under `/__sim/` (a side door that is neither counted,
//! faulted nor authenticated):
//!
//! - `GET /__sim/stats`, `POST /__sim/stats/reset`
//! - `GET /__sim/faults`, `PUT /__sim/faults` (a JSON [`Faults`])
//! - `POST /__sim/tokens/expire`: every issued token stops working now.
//! - `POST /__sim/clients` (`{"divisions": ["div-north"]}`): registers a
//!   partner OAuth client that sees only those divisions' conversations
//!   (others are 404 to it, as upstream's division access control has
//!   them), and answers its `client_id` and `client_secret`.
//! - `PUT /__sim/clients/{id}/withheld` (`["analytics:conversationDetail:view"]`):
//!   the permissions that client lacks from now on (its calls that need one
//!   are answered 403 `missing.permissions`, as upstream's are).
//! - `POST /__sim/tokens` (`{"userId": "..."}`): a user token for that user
//!   (standing in for the authorization-code grant). A client-credentials
//!   token has no user: `GET /api/v2/conversations/cobrowsesessions`
//!   refuses it with 400, and lists only the user's conversations for a
//!   user token.
//! - `POST /__sim/world/conversations`: a customer starts a conversation
//!   (`{"startedSecondsAgo": n}`: one that began that long ago);
//!   `POST /__sim/world/conversations/{id}/step`: it moves to its next
//!   [`Phase`]; `POST /__sim/world/tick`: one step of the demo pace. Each
//!   answers the [`Change`]. [`SimConfig::pace`] ticks on its own.

mod acts;
mod analytics;
mod analytics_jobs;
mod answers;
mod control;
mod conversations;
pub(crate) mod data;
mod directory;
mod events;
mod life;
pub mod messenger;
mod messenger_pace;
mod messenger_wire;
mod notification_topics;
mod notifications;
mod oauth;
mod routes;
mod seeding;
mod world;
pub(crate) mod zoom;
pub mod zoom_api;

pub use acts::Act;
pub use control::ClientCredentials;
pub use data::LifePhase;
pub use life::Stepped;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::secret::Secret;
use crate::upstream::model::ErrorBody;
use crate::upstream::CORRELATION_HEADER;
use data::World;

/// What a route handler of the simulator takes its state as.
type Sim = axum::extract::State<Arc<SimState>>;

/// How the simulator misbehaves. Every field has a harmless default.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every counted request.
    pub latency_ms: u64,
    /// Share of API requests answered 429.
    pub rate_limit_fraction: f64,
    /// The `Retry-After` of those 429s, in seconds.
    pub retry_after_s: u64,
    /// Share of API requests answered with `error_status`.
    pub error_fraction: f64,
    /// The status of injected errors (a 5xx).
    pub error_status: u16,
    /// Lifetime of new tokens, in seconds (`expires_in`).
    pub token_lifetime_s: u64,
    /// The next N API requests are answered 429 (then this counts down).
    pub rate_limit_next: u32,
    /// The next N API requests are answered `error_status`.
    pub error_next: u32,
    /// The token endpoint answers `error_status` (API routes are unaffected).
    pub token_down: bool,
    /// Records of the previous analytics details page that the next page
    /// repeats (upstream may repeat a record across pages).
    pub analytics_page_overlap: u32,
    /// How far analytics lags real time, in milliseconds: a conversation
    /// that changed more recently reads as it was before.
    pub analytics_lag_ms: u64,
    /// How long an asynchronous analytics job takes to be fulfilled.
    pub analytics_job_ms: u64,
    /// Notification sockets: how often a heartbeat is sent (read when a
    /// socket connects).
    pub heartbeat_ms: u64,
    /// Notification sockets go silent: no heartbeats, pongs or events
    /// (a connection that died without closing; what would have been sent
    /// is lost, as upstream queues nothing).
    pub heartbeats_stopped: bool,
    /// How long a notification channel lives after its last subscription.
    pub channel_lifetime_ms: u64,
    /// How long a socket told `v2.system.socket_closing` stays open.
    pub socket_closing_grace_ms: u64,
    /// Topics containing any of these are answered `Rejected`.
    pub reject_topics: Vec<String>,
    /// Notification sockets are refused (503).
    pub refuse_sockets: bool,
    /// When not empty, `latency_ms` is added only to the routes whose path
    /// (`/api/v2/conversations/cobrowsesessions`, as `GET /__sim/stats`
    /// names them) contains one of these.
    pub slow_routes: Vec<String>,
    /// The per-user co-browse listing comes in pages of this many (0: one
    /// page holds all, as upstream answers the SDKs).
    pub listing_page_size: u32,
    /// Each page of that listing after the first begins with the last
    /// rows of the page before (a row seen twice while paging).
    pub listing_overlap: u32,
    /// The last page's `nextUri` names the first page again.
    pub listing_loop: bool,
    /// Every conversation of that listing is listed this many more times,
    /// under derived ids: a listing as long as upstream may make it.
    pub listing_copies: u32,
    /// How long a Co-browse for Messenger offer stands before the
    /// customer's Messenger lets it expire (`dateOfferEnds`).
    pub messenger_offer_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            rate_limit_fraction: 0.0,
            retry_after_s: 1,
            error_fraction: 0.0,
            error_status: 503,
            token_lifetime_s: 86_400,
            rate_limit_next: 0,
            error_next: 0,
            token_down: false,
            analytics_page_overlap: 1,
            analytics_lag_ms: 0,
            analytics_job_ms: 300,
            heartbeat_ms: 30_000,
            heartbeats_stopped: false,
            channel_lifetime_ms: 86_400_000,
            socket_closing_grace_ms: 60_000,
            reject_topics: Vec::new(),
            refuse_sockets: false,
            slow_routes: Vec::new(),
            listing_page_size: 0,
            listing_overlap: 0,
            listing_loop: false,
            listing_copies: 0,
            messenger_offer_ms: 60_000,
        }
    }
}

impl Faults {
    fn check(&self) -> Result<(), String> {
        for (name, f) in [
            ("rate_limit_fraction", self.rate_limit_fraction),
            ("error_fraction", self.error_fraction),
        ] {
            if !(0.0..=1.0).contains(&f) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if !(500..=599).contains(&self.error_status) {
            return Err("error_status must be a 5xx".into());
        }
        if self.token_lifetime_s == 0 {
            return Err("token_lifetime_s must be positive".into());
        }
        if self.analytics_job_ms > 600_000 {
            return Err("analytics_job_ms must be at most ten minutes".into());
        }
        if self.analytics_lag_ms > 3_600_000 {
            return Err("analytics_lag_ms must be at most an hour".into());
        }
        if self.heartbeat_ms < 10 {
            return Err("heartbeat_ms must be at least 10".into());
        }
        if !(100..=3_600_000).contains(&self.messenger_offer_ms) {
            return Err("messenger_offer_ms must be between 100 ms and an hour".into());
        }
        if self.channel_lifetime_ms == 0 {
            return Err("channel_lifetime_ms must be positive".into());
        }
        Ok(())
    }
}

/// Request counts per route, as `GET /__sim/stats` returns them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SimStats {
    pub total: u64,
    pub(crate) routes: BTreeMap<String, u64>,
    /// The most requests that were being served at once.
    pub max_in_flight: u64,
}

impl SimStats {
    /// Requests served for one route template, e.g. `GET /api/v2/users`.
    pub fn route(&self, route: &str) -> u64 {
        self.routes.get(route).copied().unwrap_or(0)
    }

    /// Every route served, with its count.
    pub fn routes(&self) -> impl Iterator<Item = (&str, u64)> {
        self.routes.iter().map(|(route, n)| (route.as_str(), *n))
    }
}

/// What the simulator serves and how.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub conversations: usize,
    pub seed: u64,
    pub client_id: String,
    pub client_secret: Secret,
    pub faults: Faults,
    /// How often the world moves on by itself ([`World::tick`]); none:
    /// only when told to.
    pub pace: Option<Duration>,
    /// Web messaging and voice conversations with Co-browse for Messenger
    /// that the pace keeps going (0: none).
    pub messenger: usize,
    /// Where the demo's customer pages report Messenger sessions starting
    /// and ending (the gateway's base URL); none: no page reports.
    pub page_reports_to: Option<String>,
    /// The Zoom account's Cobrowse SDK API Key and API Secret, which its
    /// API's JWTs are issued by and signed with ([`zoom_api`]).
    pub zoom_api_key: String,
    pub zoom_api_secret: Secret,
}

/// A fresh random secret (demo credentials, demo webhook secret).
pub(crate) fn random_secret() -> Secret {
    let secret: [u8; 24] = rand::rng().random();
    Secret::new(
        secret
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    )
}

impl SimConfig {
    /// A simulator on a free loopback port with fresh random credentials.
    pub fn local(conversations: usize, seed: u64) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            conversations,
            seed,
            client_id: "cobrowse-gateway-demo".into(),
            client_secret: random_secret(),
            faults: Faults::default(),
            pace: None,
            messenger: 0,
            page_reports_to: None,
            zoom_api_key: "cobrowse-gateway-demo-zoom".into(),
            zoom_api_secret: random_secret(),
        }
    }
}

/// The most tokens the simulator remembers; the oldest go first.
const MAX_TOKENS: usize = 10_000;

/// What a token lets its holder see: its client, the divisions it is
/// limited to (`None`: every division), and its user (`None`: a
/// client-credentials token, which has no user).
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub(crate) client: Arc<str>,
    pub(crate) divisions: Option<Arc<[String]>>,
    pub(crate) user: Option<Arc<str>>,
}

impl Grant {
    /// Whether the holder may see a conversation.
    pub(crate) fn sees(&self, conversation: &data::SimConversation) -> bool {
        self.sees_division(conversation.division())
    }

    /// Whether the holder may see what belongs to `division`.
    pub(crate) fn sees_division(&self, division: Option<&str>) -> bool {
        match &self.divisions {
            None => true,
            Some(divisions) => {
                division.is_some_and(|d| divisions.iter().any(|allowed| allowed == d))
            }
        }
    }
}

/// The most partner clients the simulator registers.
const MAX_CLIENTS: usize = 1_000;

pub(crate) struct SimState {
    world: RwLock<World>,
    /// OAuth clients by id: their secret and their grant.
    clients: Mutex<HashMap<String, (Secret, Grant)>>,
    /// Permissions withheld from a client, by client id.
    withheld: RwLock<HashMap<String, Vec<String>>>,
    /// How many conversations the demo pace keeps going on.
    target: usize,
    faults: RwLock<Faults>,
    tokens: Mutex<HashMap<String, (Instant, Grant)>>,
    counts: Mutex<BTreeMap<String, u64>>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    correlation: AtomicU64,
    /// Notification channels and their sockets.
    hub: notifications::Hub,
    /// Where sockets connect (`ws://host:port`).
    ws_base: String,
    /// Asynchronous analytics jobs.
    jobs: analytics_jobs::SimJobs,
    /// Web messaging and voice conversations (Co-browse for Messenger).
    messaging: Mutex<messenger::Messaging>,
    /// The Zoom account whose Cobrowse sessions the demo plays.
    zoom: Arc<zoom_api::ZoomWorld>,
}

/// A running simulator.
pub struct Simulator {
    addr: SocketAddr,
    config: SimConfig,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    zoom: Arc<zoom_api::ZoomWorld>,
    #[cfg(test)]
    state: Arc<SimState>,
}

impl SimState {
    /// A new world, and upstream's state around it, as `config` says,
    /// served at `addr`.
    fn new(config: &SimConfig, addr: SocketAddr) -> Self {
        SimState {
            world: RwLock::new(World::generate(
                config.conversations,
                config.seed,
                chrono::Utc::now(),
            )),
            clients: Mutex::new(HashMap::from([(
                config.client_id.clone(),
                (
                    config.client_secret.clone(),
                    Grant {
                        client: Arc::from(config.client_id.as_str()),
                        divisions: None,
                        user: None,
                    },
                ),
            )])),
            withheld: RwLock::new(HashMap::new()),
            target: config.conversations - config.conversations / 4,
            faults: RwLock::new(config.faults.clone()),
            tokens: Mutex::new(HashMap::new()),
            counts: Mutex::new(BTreeMap::new()),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            correlation: AtomicU64::new(0),
            hub: notifications::Hub::default(),
            ws_base: format!("ws://{addr}"),
            jobs: analytics_jobs::SimJobs::default(),
            messaging: Mutex::new(messenger::Messaging::default()),
            zoom: Arc::new(zoom_api::ZoomWorld::new(
                config.zoom_api_key.clone(),
                config.zoom_api_secret.clone(),
            )),
        }
    }

    /// A demo is in a steady state from its first second: each
    /// conversation moves on once per round of the pace.
    fn warm_up_demo(self: &Arc<Self>, config: &SimConfig, pace: std::time::Duration) {
        let round = |going: usize| {
            chrono::Duration::from_std(pace.saturating_mul(u32::try_from(going).unwrap_or(1)))
                .unwrap_or(chrono::Duration::seconds(60))
        };
        let now = chrono::Utc::now();
        let mut world = self.world.write().expect("world lock");
        world.warm_up(now, self.target, round(self.target));
        drop(world);
        self.messenger_warm_up(config.messenger, round(config.messenger));
    }
}

impl Simulator {
    /// Binds and starts serving in the background.
    pub async fn start(config: SimConfig) -> anyhow::Result<Self> {
        config.faults.check().map_err(anyhow::Error::msg)?;
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState::new(&config, addr));
        let app = router(Arc::clone(&state));
        let zoom = Arc::clone(&state.zoom);
        let (tx, rx) = oneshot::channel();
        let pace = config.pace;
        if let Some(pace) = pace {
            state.warm_up_demo(&config, pace);
        }
        let messenger = Messenger {
            target: config.messenger,
            pages: config.page_reports_to.clone(),
            own: format!("http://{addr}"),
        };
        #[cfg(test)]
        let state_for_tests = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            let ticking = async {
                match pace {
                    Some(pace) => tick_at(&state, pace, &messenger).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                outcome = serve => if let Err(e) = outcome {
                    tracing::error!(error = %e, "simulator stopped");
                },
                () = ticking => {}
            }
        });
        Ok(Self {
            addr,
            config,
            shutdown: Some(tx),
            task,
            zoom,
            #[cfg(test)]
            state: state_for_tests,
        })
    }

    /// Its state (unit tests drive it).
    #[cfg(test)]
    pub(crate) fn state(&self) -> Arc<SimState> {
        Arc::clone(&self.state)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL (both API and login).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The client id it accepts.
    pub fn client_id(&self) -> &str {
        &self.config.client_id
    }

    /// The client secret it accepts.
    pub fn client_secret(&self) -> &Secret {
        &self.config.client_secret
    }

    /// The Zoom account the demo's Zoom sessions are played in (its
    /// webhooks are recorded here before they are sent).
    pub fn zoom(&self) -> Arc<zoom_api::ZoomWorld> {
        Arc::clone(&self.zoom)
    }

    /// What it was started with (to start it again in the same place).
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Stops serving and waits until the port is closed.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        let _ = task.await;
    }

    /// Serves until the process is stopped.
    pub async fn wait(mut self) {
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        let _ = task.await;
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn router(state: Arc<SimState>) -> Router {
    let api = routes::api()
        .route("/oauth/token", post(oauth::token))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), served));
    let control = Router::new()
        .route("/__sim/stats", get(control::stats))
        .route("/__sim/stats/reset", post(control::reset_stats))
        .route(
            "/__sim/faults",
            get(control::get_faults).put(control::put_faults),
        )
        .route("/__sim/tokens/expire", post(control::expire_tokens))
        .route("/__sim/tokens", post(oauth::user_token))
        .route("/__sim/clients", post(control::add_client))
        .route("/__sim/clients/{id}/withheld", put(control::withhold))
        .route(
            "/__sim/world/conversations",
            post(world::start_conversation),
        )
        .route(
            "/__sim/world/conversations/{id}/step",
            post(world::step_conversation),
        )
        .route(
            "/__sim/world/conversations/{id}/act",
            post(world::act_on_conversation),
        )
        .route("/__sim/world/tick", post(world::tick))
        .route("/__sim/world/queues", post(world::add_queues))
        .route("/__sim/notifications", get(notifications::snapshot))
        .route(
            "/__sim/notifications/drop",
            post(notifications::drop_sockets),
        )
        .route("/__sim/notifications/expire", post(notifications::expire))
        .route("/__sim/notifications/garble", post(notifications::garble))
        .route("/__sim/notifications/lose", post(notifications::lose))
        .route(
            "/__sim/notifications/socket_closing",
            post(notifications::socket_closing),
        )
        .route("/channels/{id}", get(notifications::socket))
        .route("/__sim/messenger/conversations", post(messenger::start))
        .route(
            "/__sim/messenger/conversations/{id}/messages",
            post(messenger::write),
        )
        .route(
            "/__sim/messenger/conversations/{id}/end",
            post(messenger::end),
        )
        .route(
            "/__sim/messenger/sessions/{id}/answer",
            post(messenger::answer),
        )
        .route("/__sim/messenger/page", get(messenger::page));
    api.merge(control)
        .merge(zoom_api::routes())
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            correlate,
        ))
        .with_state(state)
}

/// Every answer carries an `ININ-Correlation-Id`, as upstream's do.
async fn correlate(State(sim): State<Arc<SimState>>, request: Request, next: Next) -> Response {
    let n = sim.correlation.fetch_add(1, Ordering::Relaxed);
    let mut response = next.run(request).await;
    let id = format!("sim-{n:08x}");
    response.headers_mut().insert(
        CORRELATION_HEADER,
        HeaderValue::from_str(&id).expect("hex is a valid header"),
    );
    response
}

/// Counts, delays, authenticates and faults every served route, and keeps
/// the high-water mark of requests in flight.
/// Where the routes that need no authentication begin.
const GUEST_ROUTES: &str = "/api/v2/webdeployments/";

async fn served(
    State(sim): State<Arc<SimState>>,
    path: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let now = sim.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    sim.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let response = serve_counted(&sim, path, request, next).await;
    sim.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn serve_counted(
    sim: &SimState,
    path: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let route = format!("{} {}", request.method(), path.as_str());
    *sim.counts
        .lock()
        .expect("counts lock")
        .entry(route)
        .or_default() += 1;
    let faults = sim.faults.read().expect("faults lock").clone();
    faults.slow_down(path.as_str()).await;
    if path.as_str() == "/oauth/token" {
        if faults.token_down {
            let status = StatusCode::from_u16(faults.error_status).expect("checked 5xx");
            return error_body(
                status,
                "service.unavailable",
                "The login service is unavailable.",
            );
        }
        return next.run(request).await;
    }
    // The web deployments' co-browse routes are the customer's: no
    // authentication (their API docs: "Requires no permissions").
    if path.as_str().starts_with(GUEST_ROUTES) {
        return next.run(request).await;
    }
    let Some(grant) = sim.grant(&request) else {
        return error_body(
            StatusCode::UNAUTHORIZED,
            "bad.credentials",
            "Invalid login credentials.",
        );
    };
    let any_of = routes::permission(request.method(), path.as_str());
    if !any_of.is_empty() && any_of.iter().all(|p| sim.withheld(&grant.client, p)) {
        return missing_permission(&any_of.join(", "));
    }
    let mut request = request;
    request.extensions_mut().insert(grant);
    let (limited, failed) = sim.misbehaves(&faults);
    if limited {
        let mut response = error_body(
            StatusCode::TOO_MANY_REQUESTS,
            "too.many.requests.retry.after",
            &format!(
                "Rate limit exceeded the maximum. Retry the request in [{}] seconds",
                faults.retry_after_s
            ),
        );
        response.headers_mut().insert(
            "Retry-After",
            HeaderValue::from_str(&faults.retry_after_s.to_string()).expect("digits"),
        );
        return response;
    }
    if failed {
        let status = StatusCode::from_u16(faults.error_status).expect("checked 5xx");
        return error_body(status, "service.unavailable", "The service is unavailable.");
    }
    next.run(request).await
}

/// Upstream's answer to a call its client lacks a permission for (`permission`
/// names every one that would do).
pub(crate) fn missing_permission(permission: &str) -> Response {
    let body = ErrorBody {
        message: Some(format!(
            "Unable to perform the requested action. You are missing the following permission(s): {permission}"
        )),
        code: Some("missing.permissions".into()),
        status: Some(403),
        message_with_params: Some(
            "Unable to perform the requested action. You are missing the following permission(s): {permissions}".into(),
        ),
        message_params: BTreeMap::from([("permissions".to_owned(), permission.to_owned())]),
        ..ErrorBody::default()
    };
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

/// Moves the world on every `pace`, for as long as the simulator serves.
/// What the pace does of Co-browse for Messenger.
struct Messenger {
    /// Conversations it keeps going (0: none).
    target: usize,
    /// The gateway's base URL the pages report to.
    pages: Option<String>,
    /// The simulator's own origin (the pages').
    own: String,
}

async fn tick_at(state: &Arc<SimState>, pace: Duration, messenger: &Messenger) {
    let mut interval = tokio::time::interval(pace);
    interval.tick().await;
    loop {
        interval.tick().await;
        let change = state.tick();
        tracing::debug!(conversation = %change.conversation_id, phase = ?change.phase, "simulated world moved on");
        if messenger.target > 0 {
            state
                .messenger_step(messenger.target, messenger.pages.as_deref(), &messenger.own)
                .await;
        }
    }
}

impl Faults {
    /// Waits `latency_ms` when `path` is among the slow routes.
    async fn slow_down(&self, path: &str) {
        let slow = self.slow_routes.is_empty()
            || self.slow_routes.iter().any(|r| path.contains(r.as_str()));
        if self.latency_ms > 0 && slow {
            tokio::time::sleep(Duration::from_millis(self.latency_ms)).await;
        }
    }
}

impl SimState {
    /// Whether this request is answered 429, or with an injected error.
    fn misbehaves(&self, faults: &Faults) -> (bool, bool) {
        let mut current = self.faults.write().expect("faults lock");
        let limited = take_one(&mut current.rate_limit_next);
        let failed = !limited && take_one(&mut current.error_next);
        let mut rng = rand::rng();
        (
            limited || rng.random_bool(faults.rate_limit_fraction),
            failed || rng.random_bool(faults.error_fraction),
        )
    }
}

/// Counts a knob down; true when it was above zero.
fn take_one(counter: &mut u32) -> bool {
    let taken = *counter > 0;
    *counter = counter.saturating_sub(1);
    taken
}

impl SimState {
    /// Tells the sockets subscribed to its queues that conversation `id`
    /// changed (called with the world still locked, so that changes go out
    /// in the order they were made).
    pub(crate) fn changed(&self, world: &World, id: &str) {
        if let Some(conversation) = world.conversation(id) {
            self.hub.publish(conversation);
        }
    }

    /// One step of the demo pace, told to the sockets.
    pub(crate) fn tick(&self) -> Stepped {
        let mut world = self.world.write().expect("world lock");
        let change = world.tick(chrono::Utc::now(), self.target);
        self.changed(&world, &change.conversation_id);
        change
    }

    /// Counts a request of a route served outside the counted routes.
    pub(crate) fn count(&self, route: &str) {
        *self
            .counts
            .lock()
            .expect("counts lock")
            .entry(route.to_owned())
            .or_default() += 1;
    }

    /// Whether `client` lacks `permission`.
    pub(crate) fn withheld(&self, client: &str, permission: &str) -> bool {
        self.withheld
            .read()
            .expect("withheld lock")
            .get(client)
            .is_some_and(|w| w.iter().any(|p| p == permission))
    }

    /// The grant of the request's bearer token, if it is valid.
    fn grant(&self, request: &Request) -> Option<Grant> {
        let token = request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))?;
        let tokens = self.tokens.lock().expect("tokens lock");
        tokens
            .get(token)
            .filter(|(expiry, _)| Instant::now() < *expiry)
            .map(|(_, grant)| grant.clone())
    }

    /// The grant of a client whose credentials match.
    fn client_grant(&self, id: &str, secret: &str) -> Option<Grant> {
        let clients = self.clients.lock().expect("clients lock");
        clients
            .get(id)
            .filter(|(expected, _)| expected.expose() == secret)
            .map(|(_, grant)| grant.clone())
    }

    fn issue_token(&self, lifetime: Duration, grant: Grant) -> String {
        let token: [u8; 16] = rand::rng().random();
        let token: String = token.iter().map(|b| format!("{b:02x}")).collect();
        let mut tokens = self.tokens.lock().expect("tokens lock");
        let now = Instant::now();
        tokens.retain(|_, (expiry, _)| *expiry > now);
        if tokens.len() >= MAX_TOKENS {
            if let Some(oldest) = tokens
                .iter()
                .min_by_key(|(_, (e, _))| *e)
                .map(|(t, _)| t.clone())
            {
                tokens.remove(&oldest);
            }
        }
        tokens.insert(token.clone(), (now + lifetime, grant));
        token
    }
}

/// An `ErrorBody` answer, as upstream shapes them.
pub(crate) fn error_body(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody {
        message: Some(message.into()),
        code: Some(code.into()),
        status: Some(i32::from(status.as_u16())),
        ..ErrorBody::default()
    };
    (status, Json(body)).into_response()
}
