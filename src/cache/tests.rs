//! The cache's tests.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::purecloud::{ActiveListing, Listed};
use crate::upstream::model::{CobrowseConversation, User};
use crate::upstream::Fetched;

#[test]
fn both_forms_of_a_conversation_share_one_change_tag_and_users_have_none() {
    let a = Kind::Conversation.tag("a").expect("a tag");
    assert_ne!(Some(a), Kind::Conversation.tag("b"));
    assert_eq!(Kind::CobrowseConversation.tag("a"), Some(a));
    assert_eq!(Kind::User.tag("a"), None);
}

fn settings(max_entries: u64, max_bytes: u64) -> CacheSettings {
    CacheSettings {
        enabled: true,
        max_entries,
        max_bytes,
        live_ttl: Duration::from_secs(60),
        directory_ttl: Duration::from_secs(60),
        stale_grace: Duration::ZERO,
    }
}

/// `n` users, each holding a name of `bytes` bytes.
async fn fill(cache: &Cache, n: usize, bytes: usize) {
    let scope = Scope::of(&["test"]);
    for i in 0..n {
        let user = User {
            name: Some("x".repeat(bytes)),
            ..User::default()
        };
        cache.insert(scope, &i.to_string(), Arc::new(user)).await;
    }
}

#[test]
fn an_entry_weighs_what_it_holds_in_memory_not_its_size_on_the_wire() {
    use crate::upstream::model::Listing;
    // A listing of 2,000 conversations as the simulator writes them.
    let world = crate::sim::data::World::generate(40, 7, chrono::Utc::now());
    let views: Vec<CobrowseConversation> = world
        .conversations
        .iter()
        .map(|c| c.view.clone())
        .cycle()
        .take(2_000)
        .collect();
    let wire = serde_json::to_vec(&serde_json::json!({ "entities": views })).unwrap();
    let before = crate::test_alloc::held();
    let page: Listing<CobrowseConversation> = serde_json::from_slice(&wire).unwrap();
    let listing = Arc::new(ActiveListing {
        entries: page
            .entities
            .into_iter()
            .map(|v| Listed::View(Arc::new(v)))
            .collect(),
        cut: false,
    });
    let held = (crate::test_alloc::held() - before) as f64;
    let weight = Value::ActiveListing(Arc::clone(&listing)).weight() as f64;
    println!(
        "2,000 views: {} bytes on the wire, {held} held in memory, weighed {weight}",
        wire.len()
    );
    assert!(
        weight >= 0.8 * held && weight <= 1.25 * held,
        "weighed {weight} bytes for {held} held"
    );
    assert!(
        held > 2.0 * wire.len() as f64,
        "the wire size ({}) is not what is held ({held})",
        wire.len()
    );
}

#[tokio::test]
async fn entry_count_is_bounded_even_for_tiny_values() {
    let cache = Cache::new(&settings(10, 1_000_000), Arc::default());
    fill(&cache, 100, 1).await;
    let (entries, _) = cache.size().await;
    assert!(entries <= 10, "{entries} entries held");
}

#[tokio::test]
async fn bytes_are_bounded_for_large_values() {
    let cache = Cache::new(&settings(1_000, 100_000), Arc::default());
    fill(&cache, 100, 10_000).await;
    let (entries, bytes) = cache.size().await;
    assert!(bytes <= 100_000, "{bytes} bytes held");
    assert!(entries <= 10, "{entries} entries held");
}

#[tokio::test]
async fn scopes_do_not_share_entries() {
    let cache = Cache::new(&settings(10, 1_000_000), Arc::default());
    let (a, b) = (Scope::of(&["a"]), Scope::of(&["b"]));
    cache.insert(a, "u1", Arc::new(User::default())).await;
    assert!(cache.get::<User>(a, "u1").await.is_some());
    assert!(cache.get::<User>(b, "u1").await.is_none());
}

#[tokio::test]
async fn the_version_changes_with_every_store_invalidation_clear_eviction_and_lease_change() {
    let lease = Arc::new(PushLease::new(Scope::of(&["test"])));
    let cache = Cache::new(&settings(10, 1_000_000), Arc::default()).leased_by(Arc::clone(&lease));
    let scope = Scope::of(&["test"]);
    let mut last = cache.version();
    let mut changed_if = |cache: &Cache, changes: bool, what: &str| {
        let now = cache.version();
        assert_eq!(now != last, changes, "{what}: {now:?} after {last:?}");
        last = now;
    };
    cache.insert(scope, "u1", Arc::new(User::default())).await;
    changed_if(&cache, true, "a store");
    assert!(cache.get::<User>(scope, "u1").await.is_some());
    let mut noted = ReadFreshness::default();
    assert!(cache
        .peek::<User>(scope, &"u1".into(), &mut noted)
        .await
        .is_some());
    assert!(noted.fresh_until.is_some());
    changed_if(&cache, false, "reads");
    cache.invalidate(scope, Kind::User, "u1").await;
    changed_if(&cache, true, "an invalidation");
    cache.clear();
    changed_if(&cache, true, "forgetting everything");
    let fetched = cache
        .get_or_fetch(scope, "u2", || async {
            Ok(Fetched {
                value: User::default(),
                bytes: 10,
            })
        })
        .await;
    assert!(fetched.is_ok());
    changed_if(&cache, true, "a fetch");
    lease.extend(Instant::now() + Duration::from_secs(60));
    lease.cover(HashSet::from([Arc::from("c1")]));
    changed_if(&cache, true, "what the lease covers");
    lease.revoke();
    changed_if(&cache, true, "a revoked lease");
    // 100 stores into room for 10: each eviction counts too.
    let before = cache.version().held;
    fill(&cache, 100, 1).await;
    let (held, _) = cache.size().await;
    let evicted = 100 - held;
    assert!(evicted >= 90, "{held} held");
    assert!(
        cache.version().held - before >= 100 + evicted,
        "{} changes counted for 100 stores and {evicted} evictions",
        cache.version().held - before
    );
}

#[tokio::test]
async fn renoting_notes_what_the_reads_noted_while_it_is_fresh_and_nothing_after() {
    let cache = Cache::new(&settings(10, 1_000_000), Arc::default());
    let scope = Scope::of(&["test"]);
    // Fresh for 150 ms more.
    let age = Duration::from_secs(60) - Duration::from_millis(150);
    let user = Arc::new(User::default());
    cache.insert_aged(scope, "u1", user, Some(age)).await;
    let mut noted = ReadFreshness::default();
    assert!(cache
        .peek::<User>(scope, &"u1".into(), &mut noted)
        .await
        .is_some());
    // What a read of the engine notes, as of the same instant.
    let engine = crate::freshness::Freshness::default();
    let ours = engine.as_of();
    let cache2 = cache.clone();
    engine
        .clone()
        .scope(async move { cache2.get::<User>(scope, "u1").await })
        .await
        .expect("fresh");
    assert!(ours.clone().scope(async { cache.note_again(&noted) }).await);
    assert_eq!(ours.shortest(), engine.shortest());
    assert!(ours.shortest().expect("noted") <= Duration::from_millis(150));
    // Past its TTL, as a read would find it: nothing is noted.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(cache.get::<User>(scope, "u1").await.is_none());
    let late = crate::freshness::Freshness::default();
    assert!(!late.clone().scope(async { cache.note_again(&noted) }).await);
}
