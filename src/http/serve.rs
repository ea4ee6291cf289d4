//! Accepting connections: a bounded number, each held to a header-read
//! timeout, all stopped gracefully.
//!
//! `axum::serve` keeps every connection for as long as its client likes: a
//! client that never finishes its headers (slowloris), or an idle keep-alive
//! connection, holds a task and its buffers forever. This loop serves HTTP/1.1
//! with hyper directly, so that
//!
//! - at most `server.max_connections` are open at once for dashboards and
//!   GraphQL callers, and `server.reserved_connections` more that only
//!   webhook deliveries and probes (`/webhooks/*`, `/healthz`, `/readyz`,
//!   `/metrics`) may use: a busy wall cannot make Zoom's deliveries fail
//!   (Zoom retries a few times, then drops the event). A connection beyond
//!   both is answered `503` with `Retry-After` and closed at once, without
//!   a task; a request for anything else on a connection that finds no
//!   place under `server.max_connections` is answered the same (both
//!   counted in `connections_refused_total`);
//! - a request's headers must arrive within `server.header_read_timeout`,
//!   which is also how long an idle keep-alive connection is kept;
//! - a WebSocket keeps its connection's [`ConnectionSlot`] (the upgrade
//!   handler moves it into the socket's task), so sockets count too;
//! - on shutdown the listener closes, every connection finishes its request
//!   in flight and closes, and [`serve`] returns once all have.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::Service as _;

use crate::metrics::Metrics;

/// How connections are accepted.
#[derive(Clone, Debug)]
pub(crate) struct ServeOptions {
    /// Connections for anything (`server.max_connections`).
    pub max_connections: usize,
    /// Connections beyond those, for webhooks and probes only
    /// (`server.reserved_connections`).
    pub reserved_connections: usize,
    pub header_read_timeout: Duration,
}

/// A connection's place, held by its task (and by a WebSocket's task after
/// an upgrade). The place is free again when the last holder is gone.
#[derive(Clone)]
pub(crate) struct ConnectionSlot(Arc<Held>);

/// A held place: a permit among all connections, once the connection asked
/// for anything but a webhook or a probe a permit under
/// `server.max_connections` too, and the open-connection gauge.
struct Held {
    _permit: OwnedSemaphorePermit,
    general: std::sync::OnceLock<OwnedSemaphorePermit>,
    general_places: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl ConnectionSlot {
    /// Whether a request for `path` may go on on this connection: webhooks
    /// and probes always; anything else once the connection holds a place
    /// under `server.max_connections` (taken now if it has none).
    fn admits(&self, path: &str) -> bool {
        let held = &self.0;
        if is_reserved(path) || held.general.get().is_some() {
            return true;
        }
        match Arc::clone(&held.general_places).try_acquire_owned() {
            Ok(permit) => {
                // Requests on one connection come one at a time.
                let _ = held.general.set(permit);
                true
            }
            Err(_) => false,
        }
    }
}

/// The paths the reserved connections serve: webhook deliveries and
/// probes.
fn is_reserved(path: &str) -> bool {
    path.starts_with("/webhooks/") || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

impl Drop for Held {
    fn drop(&mut self) {
        self.metrics.connections_open.dec();
    }
}

/// [`BUSY`] as a response, for a request on a connection that found no
/// place under `server.max_connections`; the connection is closed after it.
fn busy() -> axum::response::Response {
    let text = std::str::from_utf8(BUSY).expect("ASCII");
    let (_, body) = text.split_once("\r\n\r\n").expect("head and body");
    let mut response = axum::response::Response::new(axum::body::Body::from(body));
    *response.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    for (name, value) in [
        (hyper::header::CONTENT_TYPE, "application/json"),
        (hyper::header::RETRY_AFTER, "1"),
        (hyper::header::CONNECTION, "close"),
    ] {
        headers.insert(name, hyper::header::HeaderValue::from_static(value));
    }
    response
}

/// What a refused connection is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 113\r\n\r\n{\"errors\":[{\"message\":\"the gateway has too many open connections\",\"extensions\":{\"code\":\"TOO_MANY_CONNECTIONS\"}}]}";

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and returns once every connection has closed.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let places = Arc::new(Semaphore::new(
        options.max_connections + options.reserved_connections,
    ));
    let general_places = Arc::new(Semaphore::new(options.max_connections));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Each connection task holds a sender; all are gone once every
    // connection has closed.
    let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, as
                    // axum::serve does, instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = stream;
        let Ok(permit) = Arc::clone(&places).try_acquire_owned() else {
            metrics.connections_refused.inc();
            // The answer fits the socket's send buffer; nothing waits on it.
            let _ = stream.try_write(BUSY);
            continue;
        };
        metrics.connections_open.inc();
        let slot = ConnectionSlot(Arc::new(Held {
            _permit: permit,
            general: std::sync::OnceLock::new(),
            general_places: Arc::clone(&general_places),
            metrics: Arc::clone(&metrics),
        }));
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            app.clone(),
            slot,
            options.header_read_timeout,
            stop_rx.clone(),
            alive_tx.clone(),
        ));
    }
    drop(listener);
    stop_tx.send_replace(true);
    drop(alive_tx);
    while alive_rx.recv().await.is_some() {}
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    app: Router,
    slot: ConnectionSlot,
    header_read_timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    _alive: tokio::sync::mpsc::Sender<()>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let admitted = slot.admits(request.uri().path());
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        // Only an upgrade (a WebSocket) outlives its connection's task and
        // needs to carry the place with it.
        if admitted && request.headers().contains_key(hyper::header::UPGRADE) {
            request.extensions_mut().insert(slot.clone());
        }
        let call = admitted.then(|| app.clone().call(request));
        let metrics = Arc::clone(&slot.0.metrics);
        async move {
            match call {
                Some(call) => call.await,
                None => {
                    metrics.connections_refused.inc();
                    Ok(busy())
                }
            }
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        outcome = connection.as_mut() => {
            if let Err(e) = outcome {
                tracing::debug!(error = %e, "a connection ended with an error");
            }
            return;
        }
        _ = stop.wait_for(|stop| *stop) => {}
    }
    connection.as_mut().graceful_shutdown();
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "a connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_busy_answer_is_a_complete_http_response() {
        let text = std::str::from_utf8(super::BUSY).expect("text");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .expect("a length")
            .parse()
            .expect("a number");
        assert_eq!(length, body.len());
        serde_json::from_str::<serde_json::Value>(body).expect("JSON");
    }
}
