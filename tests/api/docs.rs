//! The documentation pages that are generated, checked like
//! `schema.graphql`: `docs/settings.md` from the settings table. Write them
//! again with `COBROWSE_WRITE_DOCS=1 cargo test --test api docs`.

use cobrowse_gateway::settings::SETTINGS;

const SETTINGS_PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/settings.md");

/// The settings page: every setting of the table, by section, with its
/// environment variable, default and meaning.
fn settings_page() -> String {
    let mut page = String::from(
        "# Settings\n\n\
         Generated from the settings table (`src/settings/table.rs`) by \
         `COBROWSE_WRITE_DOCS=1 cargo test --test api docs`; a test fails when \
         this page is stale.\n\n\
         Each setting is given in the settings file (`--config` or \
         `COBROWSE_CONFIG`; TOML, `[section]` then `key = value`), as its \
         environment variable, or on the command line (`--set section.key=value`), \
         each overriding the one before. `cobrowse-gateway check` shows where each \
         value came from. See [configuration](configuration.md) for examples.\n",
    );
    let mut section = "";
    for setting in SETTINGS {
        let (this, key) = setting.path.split_once('.').expect("section.key");
        if this != section {
            section = this;
            page.push_str(&format!(
                "\n## `[{section}]`\n\n| setting | environment variable | default | meaning |\n|---|---|---|---|\n"
            ));
        }
        let default = setting
            .default
            .map_or_else(|| "—".to_owned(), |d| format!("`{d}`"));
        page.push_str(&format!(
            "| `{key}` | `{}` | {default} | {} |\n",
            setting.env,
            setting.help.replace('|', "\\|")
        ));
    }
    page
}

#[test]
fn the_settings_page_is_the_settings_table() {
    let page = settings_page();
    assert_eq!(
        page.matches("\n| `").count(),
        SETTINGS.len(),
        "one row per setting"
    );
    if std::env::var_os("COBROWSE_WRITE_DOCS").is_some() {
        std::fs::write(SETTINGS_PAGE, &page).expect("docs/settings.md is writable");
    }
    let written = std::fs::read_to_string(SETTINGS_PAGE).unwrap_or_default();
    assert!(
        written == page,
        "docs/settings.md is stale: write it again with COBROWSE_WRITE_DOCS=1 cargo test --test api docs"
    );
}
