//! Zoom webhook signatures: `v0=hex(HMAC_SHA256(secret, "v0:{ts}:{body}"))`
//! over the raw body, compared in constant time, with a freshness window.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SignatureError {
    #[error("x-zm-request-timestamp is missing")]
    MissingTimestamp,
    #[error("x-zm-request-timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("the request timestamp is outside the accepted window of {0} s")]
    Stale(u64),
    #[error("x-zm-signature is missing")]
    MissingSignature,
    #[error("x-zm-signature does not match the body")]
    Mismatch,
}

/// Checks a delivery's signature. `now` is epoch seconds.
pub(crate) fn verify(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
    window: Duration,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?.trim();
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if now.abs_diff(seconds) > window.as_secs() {
        return Err(SignatureError::Stale(window.as_secs()));
    }
    let signature = signature.ok_or(SignatureError::MissingSignature)?.trim();
    let hex_part = signature
        .strip_prefix("v0=")
        .ok_or(SignatureError::Mismatch)?;
    let claimed = hex::decode(hex_part).map_err(|_| SignatureError::Mismatch)?;
    let mut mac = mac(secret);
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&claimed)
        .map_err(|_| SignatureError::Mismatch)
}

/// The signature header value Zoom would send (for tests and the demo).
pub fn sign(secret: &Secret, timestamp: &str, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// The answer to Zoom's URL validation challenge.
pub fn encrypt_token(secret: &Secret, plain_token: &str) -> String {
    let mut mac = mac(secret);
    mac.update(plain_token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn mac(secret: &Secret) -> HmacSha256 {
    HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(300);

    #[test]
    fn a_signature_made_with_the_secret_verifies_and_any_change_fails() {
        let secret = Secret::new("shh");
        let body = br#"{"event":"x"}"#;
        let signature = sign(&secret, "1000", body);
        assert_eq!(
            verify(&secret, Some("1000"), Some(&signature), body, 1000, WINDOW),
            Ok(())
        );
        assert_eq!(
            verify(&secret, Some("1000"), Some(&signature), b"{}", 1000, WINDOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                &Secret::new("other"),
                Some("1000"),
                Some(&signature),
                body,
                1000,
                WINDOW
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secret, Some("1000"), Some(&signature), body, 1400, WINDOW),
            Err(SignatureError::Stale(300))
        );
        assert_eq!(
            verify(&secret, None, Some(&signature), body, 1000, WINDOW),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            verify(&secret, Some("1000"), None, body, 1000, WINDOW),
            Err(SignatureError::MissingSignature)
        );
    }
}
