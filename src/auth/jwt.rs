//! Bearer JWTs in service mode.
//!
//! Accepted algorithms are HS256 (a shared secret, `auth.jwt_secret`) and
//! RS256 / ES256 (public keys in a JWKS file, `auth.jwks_file`, chosen by
//! the token's `kid`). A token must carry `exp`, `iss` and `aud`, and they
//! must match `auth.jwt_issuer` and `auth.jwt_audience`; `nbf` is honoured
//! when present; `auth.jwt_leeway` allows for clock skew. The caller's id is
//! `jwt:<sub>`; its permissions come from the `scope` claim (a
//! space-separated string, as RFC 8693 has it) or `scp` (a list).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::{AuthError, Permissions};
use crate::settings::AuthSettings;

/// Whether a bearer token has a JWT's shape (three dot-separated parts);
/// anything else is taken for an API key.
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// Verifies JWTs against the configured keys and claims.
pub(crate) struct JwtVerifier {
    hs256: Option<DecodingKey>,
    /// JWKS keys by `kid`, each with the one algorithm it may verify.
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    /// The key of a JWKS with exactly one key, for tokens without `kid`.
    only_key: Option<(Algorithm, DecodingKey)>,
    validation: Validation,
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<u64>,
    scope: Option<Scopes>,
    scp: Option<Scopes>,
}

/// Scopes as a space-separated string or as a list; IdPs do both.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scopes {
    Spaced(String),
    List(Vec<String>),
}

impl Scopes {
    fn permissions(&self) -> Permissions {
        match self {
            Scopes::Spaced(s) => Permissions::from_scopes(s.split_whitespace()),
            Scopes::List(list) => Permissions::from_scopes(list.iter().map(String::as_str)),
        }
    }
}

impl JwtVerifier {
    /// The verifier the settings ask for, or `None` when no JWT key is
    /// configured.
    pub(crate) fn from_settings(settings: &AuthSettings) -> anyhow::Result<Option<Self>> {
        let hs256 = settings
            .jwt_secret
            .as_ref()
            .map(|s| DecodingKey::from_secret(s.expose().as_bytes()));
        let (keys, only_key) = match &settings.jwks_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read auth.jwks_file {}", path.display()))?;
                let set: JwkSet = serde_json::from_str(&text).with_context(|| {
                    format!("auth.jwks_file {} is not a JWK set", path.display())
                })?;
                load_jwks(&set).with_context(|| format!("auth.jwks_file {}", path.display()))?
            }
            None => (HashMap::new(), None),
        };
        if hs256.is_none() && keys.is_empty() && only_key.is_none() {
            return Ok(None);
        }
        let (Some(issuer), Some(audience)) = (&settings.jwt_issuer, &settings.jwt_audience) else {
            anyhow::bail!(
                "auth.jwt_issuer and auth.jwt_audience are required when JWTs are accepted \
                 (COBROWSE_AUTH_JWT_ISSUER, COBROWSE_AUTH_JWT_AUDIENCE)"
            );
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.validate_nbf = true;
        validation.leeway = settings.jwt_leeway.as_secs();
        Ok(Some(Self {
            hs256,
            keys,
            only_key,
            validation,
        }))
    }

    /// Verifies a token: the caller's id and permissions, and when the token
    /// stops being accepted (`exp` plus the leeway).
    pub(crate) fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        let invalid = |why: &str| AuthError::Invalid(why.to_owned());
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("the bearer token is not a well-formed JWT"))?;
        if names_critical_extensions(token) {
            // RFC 7515 §4.1.11: a recipient that does not understand every
            // extension `crit` names must refuse the token; this gateway
            // understands none.
            return Err(invalid(
                "the token's header names critical extensions (`crit`) this gateway does not understand",
            ));
        }
        let key = match header.alg {
            Algorithm::HS256 => self
                .hs256
                .as_ref()
                .ok_or_else(|| invalid("HS256 tokens are not accepted here"))?,
            Algorithm::RS256 | Algorithm::ES256 => {
                let (alg, key) = match &header.kid {
                    Some(kid) => self
                        .keys
                        .get(kid)
                        .ok_or_else(|| invalid("the token's `kid` names no known key"))?,
                    None => self.only_key.as_ref().ok_or_else(|| {
                        invalid("the token has no `kid` and several keys could sign it")
                    })?,
                };
                if *alg != header.alg {
                    return Err(invalid("the token's algorithm does not match its key"));
                }
                key
            }
            other => {
                return Err(AuthError::Invalid(format!(
                    "{other:?} tokens are not accepted; use HS256, RS256 or ES256"
                )))
            }
        };
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
            invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
                ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                ErrorKind::InvalidAudience => "the token is not meant for this gateway (aud)",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks exp, iss or aud",
                ErrorKind::InvalidSignature => "the token's signature does not verify",
                _ => "the token is malformed",
            })
        })?;
        let claims = data.claims;
        let permissions = claims
            .scope
            .or(claims.scp)
            .map_or(Permissions::none(), |s| s.permissions());
        let id = format!("jwt:{}", claims.sub.as_deref().unwrap_or("-"));
        let expires = claims.exp.map(|exp| {
            std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(exp.saturating_add(self.validation.leeway))
        });
        Ok((Arc::from(id), permissions, expires))
    }
}

/// A verified token: the caller's id, its permissions, and when the token
/// stops being accepted.
pub(crate) type Verified = (Arc<str>, Permissions, Option<std::time::SystemTime>);

/// Whether a JWT's header has a `crit` member.
fn names_critical_extensions(token: &str) -> bool {
    use base64::Engine as _;
    #[derive(Deserialize)]
    struct Header {
        crit: Option<serde::de::IgnoredAny>,
    }
    let Some(encoded) = token.split('.').next() else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Header>(&bytes).ok())
        .is_some_and(|header| header.crit.is_some())
}

type Keys = (
    HashMap<String, (Algorithm, DecodingKey)>,
    Option<(Algorithm, DecodingKey)>,
);

fn load_jwks(set: &JwkSet) -> anyhow::Result<Keys> {
    let mut keys = HashMap::new();
    let mut loaded = Vec::new();
    for (index, jwk) in set.keys.iter().enumerate() {
        let alg = algorithm_of(jwk).with_context(|| format!("key {index}"))?;
        let key = DecodingKey::from_jwk(jwk).with_context(|| format!("key {index}"))?;
        match &jwk.common.key_id {
            Some(kid) if keys.insert(kid.clone(), (alg, key.clone())).is_some() => {
                anyhow::bail!("key id {kid:?} appears twice")
            }
            None if set.keys.len() > 1 => {
                anyhow::bail!("key {index} has no `kid`; a set of several keys needs them")
            }
            _ => {}
        }
        loaded.push((alg, key));
    }
    if loaded.is_empty() {
        anyhow::bail!("the set holds no keys");
    }
    let only_key = (loaded.len() == 1).then(|| loaded.remove(0));
    Ok((keys, only_key))
}

/// The one algorithm a key may verify: its `alg`, or the one its type
/// implies. Only RS256 and ES256 (P-256) are accepted.
fn algorithm_of(jwk: &Jwk) -> anyhow::Result<Algorithm> {
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        _ => anyhow::bail!("only RSA and P-256 keys are accepted"),
    };
    match jwk.common.key_algorithm {
        None => Ok(implied),
        Some(KeyAlgorithm::RS256) if implied == Algorithm::RS256 => Ok(implied),
        Some(KeyAlgorithm::ES256) if implied == Algorithm::ES256 => Ok(implied),
        Some(other) => anyhow::bail!("algorithm {other:?} is not accepted; use RS256 or ES256"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(json: &str) -> String {
        let set: JwkSet = serde_json::from_str(json).expect("a JWK set");
        format!("{:#}", load_jwks(&set).err().expect("refused"))
    }

    #[test]
    fn a_jwks_with_keys_it_cannot_use_is_refused_with_the_reason() {
        let hmac = r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}"#;
        assert!(
            load(hmac).contains("only RSA and P-256 keys"),
            "{}",
            load(hmac)
        );
        let ec = r#"{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let two_without_kid = format!(r#"{{"keys": [{ec}, {ec}]}}"#);
        assert!(
            load(&two_without_kid).contains("no `kid`"),
            "{}",
            load(&two_without_kid)
        );
        assert!(load(r#"{"keys": []}"#).contains("no keys"));
        let hs_alg = format!(
            r#"{{"keys": [{}]}}"#,
            ec.replace("\"kty\"", "\"alg\": \"HS256\", \"kty\"")
        );
        assert!(load(&hs_alg).contains("not accepted"), "{}", load(&hs_alg));
    }
}
