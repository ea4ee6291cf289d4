//! `cobrowse-gateway zoom-test-event`: proves a running gateway takes Zoom
//! deliveries as Zoom sends them. It answers Zoom's URL validation with the
//! same secret, then it stores a signed `cobrowse.session_started` of a new
//! test session (or, with `--end`, a `cobrowse.session_ended` of one).

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::secret::Secret;
use crate::zoom::signature::{encrypt_token, sign};

/// What to send.
pub enum TestEvent {
    /// A new session, started now by a test customer.
    Start,
    /// The end of the session with this id.
    End(String),
}

/// Sends the URL validation and then the event to `url` (a gateway's
/// `/webhooks/zoom`), each signed with `secret`; returns what happened, in
/// lines, or what went wrong.
pub async fn send(url: &str, secret: &Secret, event: TestEvent) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let plain = format!("{:032x}", rand::random::<u128>());
    let validation = json!({
        "event": "endpoint.url_validation",
        "event_ts": Utc::now().timestamp_millis(),
        "payload": { "plainToken": plain },
    });
    let (status, answer) = deliver(&client, url, secret, &validation).await?;
    if status != 200 || answer["encryptedToken"] != encrypt_token(secret, &plain) {
        return Err(format!(
            "{url} answered the URL validation {status} {answer}: the gateway's webhooks.zoom_secret is not this one (or it has none: then it answers 503)"
        ));
    }
    let mut lines = vec![format!(
        "URL validation: answered as Zoom expects (same secret) by {url}"
    )];
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let (name, session, object) = match event {
        TestEvent::Start => {
            let session = format!("zoom-test-{:016x}", rand::random::<u64>());
            let object = json!({ "session_id": session, "start_time": now, "start_url": "https://example.com/zoom-test-event", "user_id": "zoom-test-customer", "user_name": "Test Customer", "role_type": "customer" });
            ("cobrowse.session_started", session, object)
        }
        TestEvent::End(session) => {
            let object = json!({ "session_id": session, "end_time": now, "end_reason": "The session ended" });
            ("cobrowse.session_ended", session, object)
        }
    };
    let body = json!({
        "event": name,
        "event_ts": Utc::now().timestamp_millis(),
        "payload": { "account_id": "zoom-test-event", "object": object },
    });
    let (status, answer) = deliver(&client, url, secret, &body).await?;
    if status != 200 {
        return Err(format!("{url} refused {name}: {status} {answer}"));
    }
    lines.push(format!(
        "{name} of session {session}: {status} {answer} (stored)"
    ));
    if name == "cobrowse.session_started" {
        lines.push(format!(
            "see it: {{ cobrowseSessions(filter: {{ provider: ZOOM, state: ACTIVE }}) {{ nodes {{ providerSessionId }} }} }}\nend it: cobrowse-gateway zoom-test-event --end {session}"
        ));
    }
    Ok(lines.join("\n") + "\n")
}

async fn deliver(
    client: &reqwest::Client,
    url: &str,
    secret: &Secret,
    body: &Value,
) -> Result<(u16, Value), String> {
    let text = body.to_string();
    let timestamp = Utc::now().timestamp().to_string();
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-zm-request-timestamp", &timestamp)
        .header("x-zm-signature", sign(secret, &timestamp, text.as_bytes()))
        .body(text)
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e} (is the gateway running there?)"))?;
    let status = response.status().as_u16();
    let answer = response.json().await.unwrap_or(Value::Null);
    Ok((status, answer))
}
