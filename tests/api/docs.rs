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

/// Every picture README.md and `docs/*.md` show (`![...](path)`) is in the
/// repository, and is a PNG: the README's live wall is drawn by
/// `scripts/wall-picture`.
#[test]
fn every_picture_the_documentation_shows_is_a_png_in_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut shown = 0;
    for page in pages {
        let text = std::fs::read_to_string(&page).expect("a page");
        for picture in text.split("![").skip(1) {
            let Some(path) = picture
                .split_once("](")
                .and_then(|(_, rest)| rest.split_once(')'))
                .map(|(path, _)| path)
            else {
                panic!("{}: a picture without a path", page.display());
            };
            let file = page.parent().expect("a folder").join(path);
            let bytes = std::fs::read(&file)
                .unwrap_or_else(|e| panic!("{}: {path} is not there: {e}", page.display()));
            assert!(
                bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
                "{}: {path} is not a picture",
                page.display()
            );
            shown += 1;
        }
    }
    assert!(shown >= 1, "the README shows the live wall");
}
