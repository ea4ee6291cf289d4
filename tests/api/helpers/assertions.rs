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
/// it, the test fails saying `what` did not happen, and what the condition
/// last saw when it says so (`Err(seen)`).
pub async fn eventually<F, Fut>(
    what: &str,
    deadline: std::time::Duration,
    mut condition: F,
) -> <Fut::Output as Verdict>::Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future,
    Fut::Output: Verdict,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let seen = match condition().await.verdict() {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        assert!(
            tokio::time::Instant::now() < until,
            "not within {deadline:?}: {what}{}{seen}",
            if seen.is_empty() { "" } else { "; last seen: " }
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// What a condition of [`eventually`] says: done, with a value, or not yet.
pub trait Verdict {
    type Value;
    fn verdict(self) -> Result<Self::Value, String>;
}

/// `None`: not yet, with nothing more to say.
impl<T> Verdict for Option<T> {
    type Value = T;
    fn verdict(self) -> Result<T, String> {
        self.ok_or_else(String::new)
    }
}

/// `Err(seen)`: not yet, and what was seen instead.
impl<T> Verdict for Result<T, String> {
    type Value = T;
    fn verdict(self) -> Result<T, String> {
        self
    }
}
