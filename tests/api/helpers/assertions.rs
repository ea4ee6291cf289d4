//! Assertions shared by the suites.

use serde_json::Value;

/// The first error's `extensions.code`.
pub fn first_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body:#}"))
}

/// Waits until `condition` gives a value, asking again every 10 ms: the one
/// way the tests wait on what another task or process will do (a metric, a
/// listing, a log line). `deadline` is generous, ten times what is expected,
/// so that a test fails on a missed event and not on a slow machine; past
/// it, the test fails saying `what` did not happen.
pub async fn eventually<T, F, Fut>(what: &str, deadline: std::time::Duration, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "not within {deadline:?}: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
