//! Addresses in settings: the login URL of an API URL, listen addresses,
//! secrets in URLs, PostgreSQL URLs, the store's default place.

use std::net::SocketAddr;
use std::path::Path;

use reqwest::Url;

/// The login URL of a PureCloud API URL: `api.` becomes `login.`.
pub(crate) fn derive_login_url(api_url: &Url) -> Option<Url> {
    let host = api_url.host_str()?;
    let rest = host.strip_prefix("api.")?;
    let mut login = api_url.clone();
    login.set_host(Some(&format!("login.{rest}"))).ok()?;
    login.set_path("/");
    Some(login)
}

/// `url` without the first of `suffixes` its path ends with (a trailing
/// slash aside).
pub(super) fn without_suffix(mut url: Url, suffixes: &[&str]) -> Url {
    let path = url.path().trim_end_matches('/').to_owned();
    if let Some(base) = suffixes.iter().find_map(|s| path.strip_suffix(s)) {
        url.set_path(&format!("{base}/"));
    }
    url
}

/// The address `text` names: `ip:port`, or `host:port` resolved (IPv4
/// first). Mistakes are told with what to write instead.
pub(super) fn listen_address(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    const EXAMPLES: &str = "127.0.0.1:8080 (this machine only) or 0.0.0.0:8080 (every interface)";
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if text.contains("://") {
        return Err(format!(
            "`{text}` is a URL; write the address alone, like {EXAMPLES}"
        ));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "`{text}` needs an address and a port, like {EXAMPLES}"
        ));
    };
    let port: u16 = port.parse().map_err(|_| {
        format!("`{port}` is not a port (0 to 65535); write an address like {EXAMPLES}")
    })?;
    if host.is_empty() {
        return Err(format!("`{text}` has no address: write {EXAMPLES}"));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let resolved: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|_| format!("`{host}` does not resolve to an address of this machine; write an address like {EXAMPLES}"))?
        .collect();
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or(resolved.first())
        .copied()
        .ok_or_else(|| format!("`{host}` resolves to no address; write an address like {EXAMPLES}"))
}

/// Whether `url` is not a Redis URL its client takes.
pub(super) fn redis_url_is_bad(url: &str) -> bool {
    redis::Client::open(url).is_err()
}

/// The passwords inside `url`: the user part's, and the values of query
/// parameters named like a secret, as written and percent-decoded.
pub(super) fn url_secrets(url: &str) -> Vec<String> {
    let Ok(parsed) = Url::parse(url) else {
        return Vec::new();
    };
    let decoded = |text: &str| {
        form_urlencoded::parse(format!("x={text}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let mut found: Vec<String> = Vec::new();
    if let Some(password) = parsed.password() {
        found.push(password.to_owned());
        found.extend(decoded(password));
    }
    if let Some(query) = parsed.query() {
        for pair in query.split('&') {
            if let Some((name, value)) = pair.split_once('=') {
                if crate::secret::is_secret_name(name) && !value.is_empty() {
                    found.push(value.to_owned());
                    found.extend(decoded(value));
                }
            }
        }
    }
    found
}

/// `url` as a PostgreSQL URL, with its passwords hidden (for messages and
/// `check`), or why it is not one.
pub(crate) fn postgres_url(url: &str) -> Result<String, String> {
    let parsed = Url::parse(url).map_err(|_| {
        "expected a PostgreSQL URL like postgres://gateway:password@db.internal:5432/cobrowse"
            .to_owned()
    })?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") || parsed.host_str().is_none() {
        return Err(format!(
            "expected a PostgreSQL URL like postgres://gateway:password@db.internal:5432/cobrowse, got a {}: URL",
            parsed.scheme()
        ));
    }
    Ok(crate::secret::redact_url(parsed.as_str()))
}

/// Where the event store lives when `store.path` is unset, and why there:
/// systemd's `StateDirectory=` (`$STATE_DIRECTORY`), else the XDG data
/// directory. Never the working directory, which is `/` under systemd and
/// in containers.
pub(crate) fn default_store_path(
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<(std::path::PathBuf, &'static str), String> {
    use std::path::PathBuf;
    let absolute = |name: &str| {
        var(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && p != Path::new("/"))
    };
    if let Some(state) = var("STATE_DIRECTORY") {
        // systemd gives a colon-separated list; the first is ours.
        let first = state.to_string_lossy().split(':').next().map(PathBuf::from);
        if let Some(dir) = first.filter(|p| p.is_absolute()) {
            return Ok((dir.join("events.sqlite"), "$STATE_DIRECTORY"));
        }
    }
    if let Some(data) = absolute("XDG_DATA_HOME") {
        return Ok((
            data.join("cobrowse-gateway").join("events.sqlite"),
            "$XDG_DATA_HOME",
        ));
    }
    if let Some(home) = absolute("HOME") {
        return Ok((
            home.join(".local/share/cobrowse-gateway/events.sqlite"),
            "~/.local/share",
        ));
    }
    Err("there is no default place for it (none of STATE_DIRECTORY, XDG_DATA_HOME and HOME is set): set store.path (COBROWSE_STORE_PATH) to a file in a writable folder".to_owned())
}

/// Whether `name` may be an operation's metric label.
pub(crate) fn is_operation_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
