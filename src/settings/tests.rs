//! The settings' tests: layering, every check, the table's promises.

use std::time::Duration;

use super::*;
use crate::settings::addresses::listen_address;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn contradictory_auth_settings_are_refused_by_name() {
    let passthrough_with_keys = Layers::defaults()
        .set("auth.mode", "passthrough")
        .unwrap()
        .set("auth.api_keys_file", "keys.toml")
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        passthrough_with_keys.contains("`auth.mode`")
            && passthrough_with_keys.contains("for service mode"),
        "{passthrough_with_keys}"
    );
    let issuer_without_key = Layers::defaults()
        .set("auth.jwt_issuer", "https://idp.example.com")
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        issuer_without_key.contains("auth.jwt_secret or auth.jwks_file"),
        "{issuer_without_key}"
    );
    let bad_mode = Layers::defaults()
        .set("auth.mode", "open")
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        bad_mode.contains("COBROWSE_AUTH_MODE") && bad_mode.contains("`service` or `passthrough`"),
        "{bad_mode}"
    );
}

#[test]
fn trusted_proxies_are_addresses_or_networks() {
    for ok in ["10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "0.0.0.0/0"] {
        assert!(ok.parse::<Network>().is_ok(), "{ok}");
    }
    for bad in ["10.0.0.0/33", "proxy.internal", "10.0.0.1/x", ""] {
        assert!(bad.parse::<Network>().is_err(), "{bad}");
    }
    let error = Layers::defaults()
        .set("server.trusted_proxies", "10.0.0.0/8, proxy.internal")
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("server.trusted_proxies") && error.contains("`proxy.internal`"),
        "{error}"
    );
    let net: Network = "10.0.0.0/8".parse().unwrap();
    assert!(net.contains("10.9.9.9".parse().unwrap()));
    assert!(net.contains("::ffff:10.9.9.9".parse().unwrap()));
    assert!(!net.contains("11.0.0.1".parse().unwrap()));
}

#[test]
fn defaults_are_demo_mode_on_8080() {
    let settings = Settings::defaults();
    assert_eq!(settings.server.listen.to_string(), "127.0.0.1:8080");
    assert!(matches!(settings.upstream_mode(), UpstreamMode::Demo));
}

#[test]
fn later_sources_override_earlier_ones() {
    let settings = Layers::defaults()
        .env(env(&[
            ("COBROWSE_CACHE_LIVE_TTL", "2s"),
            ("COBROWSE_LISTEN", "127.0.0.1:9000"),
        ]))
        .and_then(|l| l.set("server.listen", "127.0.0.1:9001"))
        .and_then(Layers::build)
        .expect("valid settings");
    assert_eq!(settings.cache.live_ttl, Duration::from_secs(2));
    assert_eq!(settings.server.listen.to_string(), "127.0.0.1:9001");
}

#[test]
fn a_bad_value_names_the_setting_and_its_source() {
    let error = Layers::defaults()
        .env(env(&[("COBROWSE_CACHE_MAX_ENTRIES", "lots")]))
        .and_then(Layers::build)
        .expect_err("not a number");
    let message = error.to_string();
    assert!(message.contains("cache.max_entries"), "{message}");
    assert!(message.contains("COBROWSE_CACHE_MAX_ENTRIES"), "{message}");
    assert!(message.contains("environment"), "{message}");
}

#[test]
fn unknown_environment_variables_and_keys_are_errors() {
    let error = Layers::defaults()
        .env(env(&[("COBROWSE_CACHE_TTL", "5s")]))
        .err()
        .expect("unknown variable");
    assert!(error.to_string().contains("COBROWSE_CACHE_TTL"));
    assert!(Layers::defaults().set("cache.nope", "1").is_err());
}

#[test]
fn remote_mode_derives_the_login_url_and_requires_credentials() {
    let settings = Layers::defaults()
        .env(env(&[
            ("COBROWSE_UPSTREAM_URL", "https://api.mypurecloud.ie"),
            ("COBROWSE_CLIENT_ID", "id"),
            ("COBROWSE_CLIENT_SECRET", "s3cr3t"),
        ]))
        .and_then(Layers::build)
        .expect("valid settings");
    let UpstreamMode::Remote { login_url, .. } = settings.upstream_mode() else {
        panic!("expected remote mode");
    };
    assert_eq!(login_url.as_str(), "https://login.mypurecloud.ie/");
    assert!(!format!("{settings:?}").contains("s3cr3t"));

    let error = Layers::defaults()
        .env(env(&[(
            "COBROWSE_UPSTREAM_URL",
            "https://api.mypurecloud.ie",
        )]))
        .and_then(Layers::build)
        .expect_err("missing credentials");
    assert!(error.to_string().contains("upstream.client_id"));
}

#[test]
fn a_settings_file_is_read_and_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, "[cache]\nmax_entries = 10\nlive_ttl = \"1s\"\n").expect("write");
    let settings = Layers::defaults()
        .file(&path)
        .and_then(Layers::build)
        .expect("valid");
    assert_eq!(settings.cache.max_entries, 10);
    std::fs::write(&path, "[cache]\nmax_entrys = 10\n").expect("write");
    let error = Layers::defaults().file(&path).err().expect("typo");
    assert!(error.to_string().contains("cache.max_entrys"));
}

#[test]
fn a_mistyped_name_suggests_the_nearest_known_one() {
    let message = |r: Result<Layers, SettingsError>| r.err().expect("an error").to_string();
    let typo = message(Layers::defaults().set("cache.livettl", "3s"));
    assert!(typo.contains("did you mean cache.live_ttl?"), "{typo}");
    let section = message(Layers::defaults().set("server.live_ttl", "3s"));
    assert!(
        section.contains("did you mean cache.live_ttl?"),
        "{section}"
    );
    let env = message(Layers::defaults().env(env(&[("COBROWSE_CACHE_LIVETTL", "3s")])));
    assert!(
        env.contains("did you mean COBROWSE_CACHE_LIVE_TTL?"),
        "{env}"
    );
    let nothing_near = message(Layers::defaults().set("frobnicate.everything", "1"));
    assert!(nothing_near.contains("--help"), "{nothing_near}");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, "[upstream]\nclient_ID = \"x\"\n").expect("write");
    let file = message(Layers::defaults().file(&path));
    assert!(file.contains("did you mean upstream.client_id?"), "{file}");
}

#[test]
fn numbers_and_durations_say_what_is_expected() {
    let error = |path: &str, value: &str| {
        Layers::defaults()
            .set(path, value)
            .and_then(Layers::build)
            .expect_err("a bad value")
            .to_string()
    };
    let count = error("cache.max_entries", "10k");
    assert!(
        count.contains("expected a whole number")
            && count.contains("`10k`")
            && !count.contains("invalid digit"),
        "{count}"
    );
    let unitless = error("cache.live_ttl", "5");
    assert!(unitless.contains("`5` has no unit: write 5s"), "{unitless}");
    let words = error("cache.live_ttl", "five seconds");
    assert!(
        words.contains("expected a duration like 500ms, 5s"),
        "{words}"
    );
    let flag = error("server.graphiql", "yes");
    assert!(flag.contains("expected true or false"), "{flag}");
    assert!(!flag.contains('\n'), "{flag}");
}

#[test]
fn the_listen_address_may_name_a_host_and_mistakes_say_what_to_write() {
    assert_eq!(
        listen_address("localhost:8080").unwrap().to_string(),
        "127.0.0.1:8080"
    );
    assert_eq!(
        listen_address("[::1]:8080").unwrap().to_string(),
        "[::1]:8080"
    );
    for (bad, says) in [
        ("8080", "needs an address and a port"),
        (":8080", "has no address"),
        ("http://127.0.0.1:8080", "is a URL"),
        ("localhost:http", "is not a port"),
        ("no-such-host.invalid:8080", "does not resolve"),
    ] {
        let message = listen_address(bad).expect_err(bad);
        assert!(
            message.contains(says) && message.contains("0.0.0.0:8080"),
            "{bad}: {message}"
        );
    }
}

#[test]
fn every_region_of_the_sdk_is_a_valid_upstream_and_its_web_app_host_is_named() {
    let fixture: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/genesys-sdk.json"
    )))
    .expect("the fixture");
    let hosts = fixture["regionHosts"].as_object().expect("region hosts");
    assert!(hosts.len() >= 18, "{hosts:?}");
    let with_url = |url: &str| {
        Layers::defaults()
            .set("upstream.url", url)
            .and_then(|l| l.set("upstream.client_id", "id"))
            .and_then(|l| l.set("upstream.client_secret", "s3cr3t"))
            .and_then(|l| l.set("auth.mode", "passthrough"))
            .and_then(Layers::build)
    };
    for api in hosts.values().filter_map(|url| url.as_str()) {
        let region = api.strip_prefix("https://api.").expect("an api. host");
        let UpstreamMode::Remote { login_url, .. } = with_url(api).expect(api).upstream_mode()
        else {
            panic!("remote");
        };
        assert_eq!(login_url.as_str(), format!("https://login.{region}/"));
        let refused = with_url(&format!("https://apps.{region}"))
            .expect_err("the web app is not the API")
            .to_string();
        assert!(refused.contains(api), "{refused}");
    }
}

#[test]
fn an_api_url_with_the_version_path_is_taken_as_its_base() {
    let settings = Layers::defaults()
        .set("upstream.url", "https://api.mypurecloud.ie/api/v2/")
        .and_then(|l| {
            l.set(
                "upstream.login_url",
                "https://login.mypurecloud.ie/oauth/token",
            )
        })
        .and_then(|l| l.set("upstream.client_id", "id"))
        .and_then(|l| l.set("upstream.client_secret", "s3cr3t"))
        .and_then(|l| l.set("auth.mode", "passthrough"))
        .and_then(Layers::build)
        .expect("valid");
    let UpstreamMode::Remote {
        api_url, login_url, ..
    } = settings.upstream_mode()
    else {
        panic!("remote");
    };
    assert_eq!(api_url.as_str(), "https://api.mypurecloud.ie/");
    assert_eq!(login_url.as_str(), "https://login.mypurecloud.ie/");
    let web_app = Layers::defaults()
        .set("upstream.url", "https://apps.mypurecloud.de")
        .and_then(|l| l.set("upstream.client_id", "id"))
        .and_then(|l| l.set("upstream.client_secret", "s3cr3t"))
        .and_then(Layers::build)
        .expect_err("the web app is not the API")
        .to_string();
    assert!(web_app.contains("https://api.mypurecloud.de"), "{web_app}");
}

#[test]
fn the_default_store_is_in_the_state_or_data_directory_never_the_working_one() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| std::ffi::OsString::from(v))
        }
    };
    let all = vars(&[
        (
            "STATE_DIRECTORY",
            "/var/lib/cobrowse-gateway:/var/lib/other",
        ),
        ("XDG_DATA_HOME", "/home/ann/.data"),
        ("HOME", "/home/ann"),
    ]);
    assert_eq!(
        default_store_path(all).unwrap().0,
        Path::new("/var/lib/cobrowse-gateway/events.sqlite")
    );
    let xdg = vars(&[("XDG_DATA_HOME", "/home/ann/.data"), ("HOME", "/home/ann")]);
    assert_eq!(
        default_store_path(xdg).unwrap().0,
        Path::new("/home/ann/.data/cobrowse-gateway/events.sqlite")
    );
    let home = vars(&[("XDG_DATA_HOME", "relative"), ("HOME", "/home/ann")]);
    assert_eq!(
        default_store_path(home).unwrap().0,
        Path::new("/home/ann/.local/share/cobrowse-gateway/events.sqlite")
    );
    let none = default_store_path(vars(&[("HOME", "/")])).unwrap_err();
    assert!(none.contains("store.path"), "{none}");
}
