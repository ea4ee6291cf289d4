//! Accepting connections: a bounded number, each held to a header-read
//! timeout, all stopped gracefully.
//!
//! `axum::serve` keeps every connection for as long as its client likes: a
//! client that never finishes its headers (slowloris), or an idle keep-alive
//! connection, holds a task and its buffers forever. This loop serves HTTP/1.1
//! with hyper directly, so that
//!
//! - at most `server.max_connections` are open at once: one more is answered
//!   `503` with `Retry-After` and closed at once (counted in
//!   `connections_refused_total`), without a task;
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
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// A connection's place under `server.max_connections`, held by its task
/// (and by a WebSocket's task after an upgrade). The place is free again
/// when the last holder is gone.
#[derive(Clone)]
pub(crate) struct ConnectionSlot(#[allow(dead_code)] Arc<Held>);

/// A held place: a permit, and the open-connection gauge.
struct Held {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.metrics.connections_open.dec();
    }
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
    let places = Arc::new(Semaphore::new(options.max_connections));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Each connection task holds a sender; all are gone once every
    // connection has closed.
    let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
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
        let Ok(permit) = Arc::clone(&places).try_acquire_owned() else {
            metrics.connections_refused.inc();
            // The answer fits the socket's send buffer; nothing waits on it.
            let _ = stream.try_write(BUSY);
            continue;
        };
        metrics.connections_open.inc();
        let slot = ConnectionSlot(Arc::new(Held {
            _permit: permit,
            metrics: Arc::clone(&metrics),
        }));
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
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
    app: Router,
    slot: ConnectionSlot,
    header_read_timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    _alive: tokio::sync::mpsc::Sender<()>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // Only an upgrade (a WebSocket) outlives its connection's task and
        // needs to carry the place with it.
        if request.headers().contains_key(hyper::header::UPGRADE) {
            request.extensions_mut().insert(slot.clone());
        }
        app.clone().call(request)
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
