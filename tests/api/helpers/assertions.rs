//! Assertions shared by the suites.

use serde_json::Value;

/// The first error's `extensions.code`.
pub fn first_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body:#}"))
}
