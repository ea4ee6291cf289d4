//! The documentation a reader has: README.md, then every page of `docs/`
//! in name order, as one text. The tests and the benchmark run what it
//! shows (queries, snippets, commands) from here, wherever a page moves;
//! both include this file (`#[path]`), so it is written once.

/// README.md and every `docs/*.md`, in name order, one text.
pub fn documentation() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let mut pages: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    for page in pages {
        text.push('\n');
        text.push_str(&std::fs::read_to_string(&page).expect("a docs page"));
    }
    text
}
