//! Secrets that never show themselves: [`Secret`], a string that prints
//! as `[redacted]`; [`redact_url`] and [`redact_text`], which hide the
//! passwords inside URLs and text; and [`Scrub`], the last line before
//! anything is written, which replaces every secret the user set wherever
//! it appears (a library that logs a URL's parameters, a driver's error
//! message).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

/// A secret value (a client secret, a webhook token). `Debug` and `Display`
/// print `[redacted]`; only [`Secret::expose`] reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// What a hidden value is shown as.
const HIDDEN: &str = "***";

/// Whether a URL query parameter or a `name=value` pair carries a secret
/// by its name (`password`, `sslpassword`, `api_key`, `access_token`, ...).
pub(crate) fn is_secret_name(name: &str) -> bool {
    const WORDS: [&str; 7] = [
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "credential",
        "auth",
    ];
    let name = name.to_ascii_lowercase();
    WORDS.iter().any(|w| name.contains(w))
}

/// `url` with its password hidden: the user part's (`user:***@host`) and
/// the value of every query parameter named like a secret
/// (`?password=***`). Works on text that does not parse as a URL too, so
/// that a mistyped URL can be shown in its error message.
pub fn redact_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len());
    match head.find("://") {
        Some(scheme) => {
            let rest = &head[scheme + 3..];
            let authority_end = rest.find(['/', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            out.push_str(&head[..scheme + 3]);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    match userinfo.split_once(':') {
                        Some((user, _)) => {
                            out.push_str(user);
                            out.push(':');
                            out.push_str(HIDDEN);
                        }
                        None => out.push_str(userinfo),
                    }
                    out.push('@');
                    out.push_str(host);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(head),
    }
    if let Some(query) = query {
        out.push('?');
        let (query, fragment) = match query.split_once('#') {
            Some((query, fragment)) => (query, Some(fragment)),
            None => (query, None),
        };
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret_name(name) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(HIDDEN);
                }
                _ => out.push_str(pair),
            }
        }
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
    }
    out
}

/// `text` (an error message, a line of a settings file) with the passwords
/// of every URL in it hidden ([`redact_url`] on each word that holds
/// `://`), for messages written before the settings are known.
pub fn redact_text(text: &str) -> String {
    if !text.contains("://") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>'))
            .map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        out.push_str(&redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The shortest secret [`Scrub`] looks for: a shorter one would blank out
/// ordinary words of every line (it is still hidden where it stands in a
/// URL or a setting).
const SHORTEST: usize = 4;

/// Every secret the user set (passwords in URLs, client and webhook
/// secrets, ...), replaced by `***` in whatever passes through: every log
/// line (as the log's writer) and every error written at start-up.
#[derive(Clone, Default)]
pub struct Scrub {
    secrets: Arc<[String]>,
}

impl Scrub {
    /// Looks for these secrets (those shorter than four characters are
    /// left out: see [`SHORTEST`]).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= SHORTEST)
            .collect();
        // The longest first: one secret may hold another.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self {
            secrets: secrets.into(),
        }
    }

    /// `text` with every secret replaced.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Whole secrets (UTF-8 strings) were replaced by ASCII.
            Cow::Owned(bytes) => Cow::Owned(String::from_utf8(bytes).expect("still UTF-8")),
        }
    }

    /// `bytes` with every secret replaced.
    fn bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let mut bytes = Cow::Borrowed(bytes);
        for secret in self.secrets.iter() {
            let finder = memchr::memmem::Finder::new(secret.as_bytes());
            if finder.find(&bytes).is_none() {
                continue;
            }
            let mut out = Vec::with_capacity(bytes.len());
            let mut last = 0;
            for at in finder.find_iter(&bytes) {
                out.extend_from_slice(&bytes[last..at]);
                out.extend_from_slice(HIDDEN.as_bytes());
                last = at + secret.len();
            }
            out.extend_from_slice(&bytes[last..]);
            bytes = Cow::Owned(out);
        }
        bytes
    }
}

/// A writer that scrubs what it writes to stderr (a log line is written
/// whole, in one call).
pub struct ScrubbedStderr(Scrub);

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().write_all(&self.0.bytes(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Scrub {
    type Writer = ScrubbedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedStderr(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_hidden_wherever_they_stand() {
        for (url, shown) in [
            (
                "postgres://gw:hunter22@db:5432/cobrowse",
                "postgres://gw:***@db:5432/cobrowse",
            ),
            (
                "postgres://gw@db/cobrowse?password=hunter22&sslmode=require",
                "postgres://gw@db/cobrowse?password=***&sslmode=require",
            ),
            (
                "postgres://gw@db/c?sslmode=require&sslpassword=hunter22&application_name=x",
                "postgres://gw@db/c?sslmode=require&sslpassword=***&application_name=x",
            ),
            ("redis://:hunter22@cache:6379", "redis://:***@cache:6379"),
            (
                "https://api.example.com/?access_token=hunter22#x",
                "https://api.example.com/?access_token=***#x",
            ),
            ("https://api.example.com/", "https://api.example.com/"),
            ("redis://user@cache", "redis://user@cache"),
            // Not a URL: still hidden.
            (
                "postgres//gw:x@db?password=hunter22",
                "postgres//gw:x@db?password=***",
            ),
            ("postgres://gw:pa@ss@db", "postgres://gw:***@db"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn every_url_in_a_text_is_redacted() {
        let text = "cannot open `postgres://gw:hunter22@db/x` (nor redis://:hunter22@cache) now";
        assert_eq!(
            redact_text(text),
            "cannot open `postgres://gw:***@db/x` (nor redis://:***@cache) now"
        );
        assert_eq!(redact_text("no URL here"), "no URL here");
    }

    #[test]
    fn a_scrub_replaces_every_secret_it_knows() {
        let scrub = Scrub::new(["hunter22".to_owned(), "abc".to_owned()]);
        assert_eq!(
            scrub.text("ignoring sslpassword=hunter22 and hunter22, abc"),
            "ignoring sslpassword=*** and ***, abc"
        );
        assert_eq!(
            &*scrub.bytes(b"x hunter22 y hunter22"),
            b"x *** y ***".as_slice()
        );
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
        assert_eq!(secret.expose(), "hunter2");
    }
}
