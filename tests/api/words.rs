//! Words that explain themselves: a reader who greps a type's name finds
//! one definition, and the private words retired by issue 28 stay gone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Names retired because they needed their doc comment to be understood,
/// each with what it is now.
const RETIRED: &[(&str, &str)] = &[
    ("Soft", "RedisState (the replicas' state shared in Redis)"),
    (
        "Vouch",
        "PushLease (the lease pushed data holds on freshness)",
    ),
    (
        "Stamp",
        "CacheVersion (the cache's version, with named counts)",
    ),
    (
        "Noted",
        "ReadFreshness (what reads would note in a response)",
    ),
    (
        "Gathered",
        "LastListingRead (a plan's last read of a listing)",
    ),
    (
        "Kept",
        "CachedResponse, or ObjectBytes (a written object's bytes)",
    ),
    ("KeptActiveSet", "LiveActiveSet (the live active set)"),
];

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs")
            // A folder's `tests.rs` is its tests, as a file's end is.
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            found.push(path);
        }
    }
}

/// Every type the crate defines outside tests (structs, enums, traits and
/// unions at any depth; type aliases at the top of a file, not the
/// associated types of impls), with where.
fn defined_types() -> BTreeMap<String, Vec<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut types: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("source");
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        for (number, line) in code.lines().enumerate() {
            let indented = line.starts_with(char::is_whitespace);
            let mut rest = line.trim_start();
            for visibility in ["pub(crate) ", "pub(super) ", "pub "] {
                rest = rest.strip_prefix(visibility).unwrap_or(rest);
            }
            let kinds: &[&str] = if indented {
                &["struct ", "enum ", "trait ", "union "]
            } else {
                &["struct ", "enum ", "trait ", "union ", "type "]
            };
            for kind in kinds {
                let Some(named) = rest.strip_prefix(kind) else {
                    continue;
                };
                let name: String = named
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name.starts_with(char::is_uppercase) {
                    let place = path.strip_prefix(&src).expect("under src");
                    types.entry(name).or_default().push(format!(
                        "src/{}:{}",
                        place.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    types
}

#[test]
fn no_two_types_share_a_name() {
    let types = defined_types();
    assert!(types.len() > 300, "the types are found: {}", types.len());
    let shared: Vec<String> = types
        .iter()
        .filter(|(_, places)| places.len() > 1)
        .map(|(name, places)| format!("{name}: {}", places.join(", ")))
        .collect();
    assert!(
        shared.is_empty(),
        "types that share a name (give each a name that says which it is):\n{}",
        shared.join("\n")
    );
}

#[test]
fn the_retired_words_stay_gone() {
    let types = defined_types();
    for (old, now) in RETIRED {
        assert!(
            !types.contains_key(*old),
            "`{old}` is back ({:?}); it is {now}",
            types[*old]
        );
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(
        !files
            .iter()
            .any(|f| f.file_name().is_some_and(|n| n == "soft.rs")),
        "soft.rs is back; the replicas' Redis state is redis_state.rs"
    );
    // Nor used in code under another definition's name (an import `as
    // Kept`); comments may say the English words.
    for path in files {
        let source = std::fs::read_to_string(&path).expect("source");
        let text: String = source
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for (old, now) in RETIRED {
            let used = text.match_indices(old).any(|(at, _)| {
                let before = text[..at].chars().next_back();
                let after = text[at + old.len()..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !word(before) && !word(after)
            });
            assert!(!used, "{} says `{old}`; it is {now}", path.display());
        }
    }
}
