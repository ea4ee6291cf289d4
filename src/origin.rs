//! Web origins as browsers send them (`scheme://host[:port]`): the check
//! of a configured one, and whether one is on loopback. A leaf that the
//! settings (checking `server.cors_origins` and `server.public_origins`) and
//! the HTTP layer (CORS and WebSocket upgrades) both use.

/// `http(s)://` and a loopback host, with any port.
pub(crate) fn is_loopback(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        rest.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks one entry of `server.cors_origins` or `server.public_origins`:
/// `*` (where `any` allows it), or an origin as a browser sends it
/// (`scheme://host[:port]`, no path, no trailing slash).
pub(crate) fn check(entry: &str, any: bool) -> Result<(), String> {
    if entry == "*" {
        return if any {
            Ok(())
        } else {
            Err("`*` is not an origin: name the gateway's own origins, like https://gateway.example.com".into())
        };
    }
    let url = reqwest::Url::parse(entry).map_err(|_| {
        format!("`{entry}` is not an origin like https://dashboard.example.com or http://localhost:3000")
    })?;
    let as_origin = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || as_origin != entry.to_ascii_lowercase() {
        return Err(format!(
            "`{entry}` is not an origin: write it as the browser sends it, `{as_origin}` (scheme, host and port only, no path or trailing slash)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_origins_must_be_written_as_browsers_send_them() {
        assert!(check("https://wall.example.com", true).is_ok());
        assert!(check("http://localhost:3000", true).is_ok());
        assert!(check("*", true).is_ok());
        assert!(check("*", false).is_err());
        let slash = check("https://wall.example.com/", true).unwrap_err();
        assert!(slash.contains("`https://wall.example.com`"), "{slash}");
        assert!(check("wall.example.com", true).is_err());
        assert!(check("https://wall.example.com/app", false).is_err());
    }
}
