//! Prometheus metrics, one registry per gateway.
//!
//! Each gateway owns its [`Metrics`] (no global recorder), so several
//! gateways in one process (the tests) never mix their counts. Components
//! get an `Arc<Metrics>` and update the collectors they own.

use std::collections::HashSet;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Every collector of the gateway.
pub(crate) struct Metrics {
    registry: Registry,
    /// GraphQL requests by operation and outcome.
    pub requests: IntCounterVec,
    /// GraphQL request latency by operation.
    pub request_seconds: HistogramVec,
    /// Upstream HTTP attempts by route and status (or `error`).
    pub upstream_calls: IntCounterVec,
    /// Upstream attempt latency by route.
    pub upstream_seconds: HistogramVec,
    /// Upstream HTTP calls in flight now.
    pub upstream_in_flight: IntGauge,
    /// What went wrong on upstream routes, and what was done about it.
    pub(crate) routes: RouteMetrics,
    /// Access tokens fetched.
    pub token_refreshes: IntCounter,
    /// Cache lookups that found a value.
    pub cache_hits: IntCounter,
    /// Cache lookups that did not.
    pub cache_misses: IntCounter,
    /// Entries evicted to stay within the size bound.
    pub cache_evictions: IntCounter,
    /// Requests refused before GraphQL ran, by reason
    /// (`unauthenticated`, `rate_limited`, `upstream`).
    pub refused: IntCounterVec,
    /// Reloads of changed key files, by outcome (`ok`, `failed`).
    pub auth_reloads: IntCounterVec,
    /// Expired entries served because upstream failed (stale-if-error).
    pub cache_stale_served: IntCounter,
    /// Entries held (set when scraped).
    pub cache_entries: IntGauge,
    /// Weighted bytes held (set when scraped).
    pub cache_bytes: IntGauge,
    /// How query documents are found and answered.
    pub(crate) queries: QueryMetrics,
    /// Client connections open now (WebSockets included).
    pub connections_open: IntGauge,
    /// Connections refused because `server.max_connections` were open.
    pub connections_refused: IntCounter,
    /// Zoom sessions taken as ended because no event came for
    /// `webhooks.zoom_idle_after`.
    pub(crate) zoom_idle_ended: IntCounter,
    /// The live index and its notification listener.
    pub live: LiveMetrics,
    /// What several replicas share.
    pub(crate) replicas: ReplicaMetrics,
    /// Operation names that are label values (`server.operation_names`).
    operations: HashSet<String>,
    /// What [`Self::catalogue`] answers.
    catalogue: Vec<String>,
}

/// The collectors of how query documents are found and answered.
pub(crate) struct QueryMetrics {
    /// Automatic persisted queries by outcome.
    pub(crate) persisted: IntCounterVec,
    /// Requests a compiled plan existed for, by outcome.
    pub(crate) compiled: IntCounterVec,
}

impl QueryMetrics {
    fn register(r: Register<'_>) -> Self {
        Self {
            persisted: r.counter_vec(
                "persisted_queries_total",
                "Automatic persisted queries by outcome.",
                &["outcome"],
            ),
            compiled: r.counter_vec(
                "compiled_total",
                "Requests whose document has a compiled plan (server.compiled_queries), by outcome: answered (by the plan), declined (the data it needs was not all cached and fresh, or the caller lacks the read scope: the general engine answered); in verify mode match or mismatch (the plan's bytes against the general engine's) or declined.",
                &["outcome"],
            ),
        }
    }
}

/// The collectors of what went wrong on upstream routes, and what was done
/// about it.
pub(crate) struct RouteMetrics {
    /// Retries by route and reason.
    pub(crate) retries: IntCounterVec,
    /// What a paged listing did that cannot be trusted, by route and
    /// anomaly (`duplicate` rows dropped, a `loop` of pages stopped, a
    /// listing `truncated` at the page limit).
    pub(crate) paging: IntCounterVec,
    /// Circuit breakers opened, by route.
    pub(crate) circuit_opened: IntCounterVec,
    /// Calls refused at once by an open circuit, by route.
    pub(crate) circuit_rejected: IntCounterVec,
}

impl RouteMetrics {
    fn register(r: Register<'_>) -> Self {
        Self {
            retries: r.counter_vec(
                "upstream_retries_total",
                "Upstream retries by route and reason.",
                &["route", "reason"],
            ),
            paging: r.counter_vec(
                "upstream_paging_anomalies_total",
                "Paged upstream listings that could not be trusted, by route and anomaly (duplicate, loop, truncated).",
                &["route", "anomaly"],
            ),
            circuit_opened: r.counter_vec(
                "upstream_circuit_opened_total",
                "Circuit breakers opened after repeated upstream failures, by route.",
                &["route"],
            ),
            circuit_rejected: r.counter_vec(
                "upstream_circuit_rejected_total",
                "Upstream calls refused at once by an open circuit, by route.",
                &["route"],
            ),
        }
    }
}

/// The collectors of what several replicas share ([`crate::soft`]).
pub(crate) struct ReplicaMetrics {
    /// Redis uses that fell back to per-replica state, by use.
    pub(crate) redis_fallbacks: IntCounterVec,
    /// Misses of this replica's cache looked up in the shared one, by
    /// outcome.
    pub(crate) shared_cache: IntCounterVec,
}

impl ReplicaMetrics {
    fn register(r: Register<'_>) -> Self {
        Self {
            redis_fallbacks: r.counter_vec(
                "redis_fallbacks_total",
                "Uses of Redis (redis.url) that failed or timed out and fell back to this replica's own state, by use.",
                &["use"],
            ),
            shared_cache: r.counter_vec(
                "shared_cache_total",
                "Misses of this replica's upstream cache looked up in the replicas' shared cache (redis.url), by outcome: hit (another replica had fetched it), fetched (this one fetched it for all), wait_ran_out, undecodable.",
                &["outcome"],
            ),
        }
    }
}

/// The collectors of the live index ([`crate::live`]).
pub(crate) struct LiveMetrics {
    /// Notification messages heard, by kind (`cobrowse`, `screenshare`,
    /// `heartbeat`, `garbled`).
    pub(crate) notifications_heard: IntCounterVec,
    /// Notification sockets lost or refused, by what happened (`lost`,
    /// `failed`).
    pub(crate) notification_gaps: IntCounterVec,
    /// Back-fills of the live index from analytics, by outcome.
    pub(crate) backfills: IntCounterVec,
    /// Conversations whose membership or sessions a back-fill set right,
    /// by cause (`reconcile`: the periodic one; `gap`: after notifications
    /// were not heard).
    pub(crate) corrections: IntCounterVec,
    /// How the live index is kept now: 1 for the mode it is in
    /// (`listening`, `polling`, `recovering`), 0 for the others.
    pub(crate) mode: prometheus::IntGaugeVec,
    /// Notification channels held.
    pub(crate) channels: IntGauge,
    /// Co-browse for Messenger facts taken, by source (`messages`,
    /// `gateway`, `page`, `conversation`) and whether they were new
    /// (`stored`) or heard before (`known`).
    pub(crate) messenger_facts: IntCounterVec,
    /// Reads of co-browse messages (the bulk messages route), by outcome.
    pub(crate) messenger_reads: IntCounterVec,
}

impl LiveMetrics {
    fn register(r: Register<'_>) -> Self {
        Self {
            notifications_heard: r.counter_vec(
                "notifications_heard_total",
                "Notification messages heard, by kind.",
                &["kind"],
            ),
            notification_gaps: r.counter_vec(
                "notification_gaps_total",
                "Notification sockets lost or refused, by what happened.",
                &["what"],
            ),
            backfills: r.counter_vec(
                "live_backfills_total",
                "Back-fills of the live index from analytics, by outcome.",
                &["outcome"],
            ),
            corrections: r.counter_vec(
                "live_corrections_total",
                "Conversations whose membership or sessions a back-fill set right (what events had not said), by cause.",
                &["cause"],
            ),
            mode: r.add(prometheus::IntGaugeVec::new(
                Opts::new(
                    "live_mode",
                    "How the live index is kept: 1 for the current mode.",
                ),
                &["mode"],
            )),
            channels: r.gauge("notification_channels", "Notification channels held."),
            messenger_facts: r.counter_vec(
                "messenger_facts_total",
                "Co-browse for Messenger facts taken, by source and whether they were new.",
                &["source", "outcome"],
            ),
            messenger_reads: r.counter_vec(
                "messenger_reads_total",
                "Reads of co-browse messages (the bulk messages route), by outcome.",
                &["outcome"],
            ),
        }
    }
}

/// Registers collectors in one registry.
#[derive(Clone, Copy)]
struct Register<'a>(&'a Registry, &'a std::cell::RefCell<Vec<String>>);

impl Register<'_> {
    fn counter_vec(self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.add(IntCounterVec::new(Opts::new(name, help), labels))
    }

    fn histogram_vec(self, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
        let opts = HistogramOpts::new(name, help).buckets(latency());
        self.add(HistogramVec::new(opts, labels))
    }

    fn counter(self, name: &str, help: &str) -> IntCounter {
        self.add(IntCounter::new(name, help))
    }

    fn gauge(self, name: &str, help: &str) -> IntGauge {
        self.add(IntGauge::new(name, help))
    }

    fn add<C: prometheus::core::Collector + Clone + 'static>(
        self,
        made: prometheus::Result<C>,
    ) -> C {
        let collector = made.expect("valid metric");
        for desc in collector.desc() {
            self.1.borrow_mut().push(format!(
                "{} [{}] {}",
                desc.fq_name,
                desc.variable_labels.join(","),
                desc.help
            ));
        }
        self.0
            .register(Box::new(collector.clone()))
            .expect("unique metric");
        collector
    }
}

/// Latency buckets, in seconds.
fn latency() -> Vec<f64> {
    vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every collector registered; no operation name
    /// is a label value.
    pub(crate) fn new() -> Self {
        Self::with_operations(Vec::new())
    }

    /// A fresh registry whose operation label names these operations; any
    /// other name is `other`, so callers cannot grow the label set.
    pub(crate) fn with_operations(operations: Vec<String>) -> Self {
        let registry =
            Registry::new_custom(Some("cobrowse_gateway".into()), None).expect("valid prefix");
        let catalogue = std::cell::RefCell::new(Vec::new());
        let r = Register(&registry, &catalogue);
        Self {
            requests: r.counter_vec(
                "graphql_requests_total",
                "GraphQL requests by operation and outcome.",
                &["operation", "outcome"],
            ),
            request_seconds: r.histogram_vec(
                "graphql_request_duration_seconds",
                "GraphQL request latency.",
                &["operation"],
            ),
            upstream_calls: r.counter_vec(
                "upstream_requests_total",
                "Upstream HTTP attempts by route and status.",
                &["route", "status"],
            ),
            upstream_seconds: r.histogram_vec(
                "upstream_request_duration_seconds",
                "Upstream attempt latency.",
                &["route"],
            ),
            upstream_in_flight: r.gauge("upstream_in_flight", "Upstream HTTP calls in flight."),
            routes: RouteMetrics::register(r),
            token_refreshes: r.counter("upstream_token_refreshes_total", "Access tokens fetched."),
            cache_hits: r.counter("cache_hits_total", "Cache lookups that found a value."),
            cache_misses: r.counter("cache_misses_total", "Cache lookups that did not."),
            cache_evictions: r.counter(
                "cache_evictions_total",
                "Entries evicted to stay within the size bound.",
            ),
            refused: r.counter_vec(
                "requests_refused_total",
                "Requests refused before GraphQL ran, by reason.",
                &["reason"],
            ),
            auth_reloads: r.counter_vec(
                "auth_reloads_total",
                "Reloads of changed key files, by outcome.",
                &["outcome"],
            ),
            cache_stale_served: r.counter(
                "cache_stale_served_total",
                "Expired entries served because upstream failed (stale-if-error).",
            ),
            live: LiveMetrics::register(r),
            replicas: ReplicaMetrics::register(r),
            cache_entries: r.gauge("cache_entries", "Entries in the cache."),
            cache_bytes: r.gauge("cache_weighted_bytes", "Weighted bytes in the cache."),
            queries: QueryMetrics::register(r),
            connections_open: r.gauge("connections_open", "Client connections open now."),
            connections_refused: r.counter(
                "connections_refused_total",
                "Connections refused because server.max_connections were open.",
            ),
            zoom_idle_ended: r.counter(
                "zoom_sessions_idle_ended_total",
                "Zoom sessions taken as ended because no event came for webhooks.zoom_idle_after (their end was never delivered).",
            ),
            operations: operations.into_iter().collect(),
            registry,
            catalogue: catalogue.into_inner(),
        }
    }

    /// Every collector, a line each: name, labels and help, in the order
    /// they were registered.
    pub(crate) fn catalogue(&self) -> &[String] {
        &self.catalogue
    }

    /// The label value for an operation name: the name itself when it is
    /// one of `server.operation_names`, `anonymous` without a name, else
    /// `other`. The label set is fixed at start-up whatever callers send.
    pub(crate) fn operation_label<'a>(&'a self, name: Option<&str>) -> &'a str {
        match name {
            None => "anonymous",
            Some(name) => self.operations.get(name).map_or("other", String::as_str),
        }
    }

    /// The Prometheus text exposition of every collector.
    pub(crate) fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding does not fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_the_configured_names_only() {
        let metrics = Metrics::with_operations(vec!["Dashboard".into()]);
        assert_eq!(metrics.operation_label(Some("Dashboard")), "Dashboard");
        assert_eq!(metrics.operation_label(None), "anonymous");
        assert_eq!(metrics.operation_label(Some("drop table; --")), "other");
        for i in 0..200 {
            assert_eq!(metrics.operation_label(Some(&format!("Op{i}"))), "other");
        }
        assert_eq!(metrics.operation_label(Some("Dashboard")), "Dashboard");
    }

    #[test]
    fn the_exposition_names_every_family() {
        let metrics = Metrics::new();
        metrics
            .requests
            .with_label_values(&["Dashboard", "ok"])
            .inc();
        metrics
            .upstream_calls
            .with_label_values(&["users", "200"])
            .inc();
        let text = metrics.render();
        assert!(
            text.contains(
                "cobrowse_gateway_graphql_requests_total{operation=\"Dashboard\",outcome=\"ok\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("cobrowse_gateway_upstream_in_flight 0"));
    }
}
