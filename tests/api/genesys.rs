//! The simulator answers as Genesys Cloud does: the per-user listing needs
//! a user, the world changes step by step and every route answers from it,
//! analytics honours its query and repeats records across pages, queues
//! are paged, and a client may lack a permission.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use cobrowse_gateway::sim::Faults;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_with, withhold, Options, TestApp};

const LISTING: &str = "/api/v2/conversations/cobrowsesessions";
const DETAILS: &str = "/api/v2/analytics/conversations/details/query";
const AGGREGATES: &str = "/api/v2/analytics/conversations/aggregates/query";

async fn sim(conversations: usize) -> TestApp {
    spawn_with(Options {
        conversations,
        ..Options::default()
    })
    .await
}

/// The interval of the last day, as analytics takes it.
fn last_day() -> String {
    let now = Utc::now();
    format!(
        "{}/{}",
        (now - Duration::days(1)).to_rfc3339(),
        (now + Duration::minutes(1)).to_rfc3339()
    )
}

/// Every record the details query answers, page after page, as analytics
/// pages them (duplicates kept), and the `totalHits` of the first page.
async fn all_pages(app: &TestApp, token: &str, query: &Value, size: u64) -> (Vec<Value>, u64) {
    let mut records = Vec::new();
    let mut total = None;
    for page in 1.. {
        let mut query = query.clone();
        query["paging"] = json!({ "pageSize": size, "pageNumber": page });
        let (status, body) = app.sim_post(Some(token), DETAILS, &query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        total.get_or_insert(body["totalHits"].as_u64().expect("totalHits"));
        let got = body["conversations"].as_array().expect("conversations");
        records.extend(got.iter().cloned());
        if (got.len() as u64) < size {
            break;
        }
    }
    (records, total.expect("a page"))
}

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["conversationId"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn the_per_user_listing_refuses_a_client_credentials_token_and_lists_only_the_users_own() {
    let app = sim(30).await;
    let service = app.sim_token().await;

    let (status, body) = app.sim_get(&service, LISTING).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["status"], 400);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("requires a user context")),
        "{body}"
    );

    // Each agent lists only conversations it is a participant of, and
    // together they list every conversation with co-browse going on.
    let mut listed = BTreeSet::new();
    for (user, token, mine) in app.agents().await {
        for id in &mine {
            let (_, conversation) = app
                .sim_get(&service, &format!("/api/v2/conversations/{id}"))
                .await;
            assert!(
                conversation["participants"]
                    .as_array()
                    .expect("participants")
                    .iter()
                    .any(|p| p["userId"] == user.as_str()),
                "{user} is in {id}"
            );
            assert!(listed.insert(id.clone()), "{id} listed for two agents");
        }
        let (_, listing) = app.sim_get(&token, LISTING).await;
        for field in ["pageSize", "pageNumber", "total", "pageCount", "selfUri"] {
            assert!(listing.get(field).is_some(), "listing has {field}");
        }
    }
    let (_, going_on) = app
        .sim_post(
            Some(&service),
            DETAILS,
            &json!({
                "interval": last_day(),
                "paging": { "pageSize": 100, "pageNumber": 1 },
                "conversationFilters": [{ "type": "and", "predicates": [
                    { "type": "dimension", "dimension": "conversationEnd", "operator": "notExists" }
                ]}],
            }),
        )
        .await;
    let going_on: BTreeSet<String> = ids(going_on["conversations"].as_array().expect("records"))
        .into_iter()
        .collect();
    assert_eq!(listed, going_on);

    let (status, _) = app
        .sim_post(None, "/__sim/tokens", &json!({ "userId": "nobody" }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only known users get tokens");
}

#[tokio::test]
async fn a_conversation_lives_step_by_step_and_every_route_answers_from_the_same_world() {
    let app = sim(6).await;
    let service = app.sim_token().await;
    let (status, change) = app
        .sim_post(None, "/__sim/world/conversations", &json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(change["phase"], "started");
    let id = change["conversationId"].as_str().expect("an id").to_owned();
    let going_on = json!({
        "interval": last_day(),
        "conversationFilters": [{ "type": "and", "predicates": [
            { "dimension": "conversationEnd", "operator": "notExists" }
        ]}],
        "segmentFilters": [{ "type": "or", "predicates": [
            { "dimension": "mediaType", "value": "cobrowse" },
            { "dimension": "mediaType", "value": "screenshare" }
        ]}],
    });
    let mut phases = vec!["started".to_owned()];
    loop {
        let (_, conversation) = app
            .sim_get(&service, &format!("/api/v2/conversations/{id}"))
            .await;
        let phase = phases.last().expect("a phase").as_str();
        let participants = conversation["participants"]
            .as_array()
            .expect("participants");
        let agent = participants.iter().find(|p| p["purpose"] == "agent");
        let comms = |p: &Value, kind: &str| p[kind].as_array().map_or(0, Vec::len);
        // What each phase shows, on every route.
        let expected_participants = match phase {
            "started" => 1,
            "routed" => 2,
            _ => 3,
        };
        assert_eq!(participants.len(), expected_participants, "{phase}");
        let cobrowse = !matches!(phase, "started" | "routed" | "agent_joined");
        assert_eq!(
            agent.map_or(0, |a| comms(a, "cobrowsesessions")),
            usize::from(cobrowse),
            "{phase}"
        );
        let screenshare = matches!(
            phase,
            "screenshare_started" | "disconnected" | "wrapped_up" | "ended"
        );
        assert_eq!(
            agent.map_or(0, |a| comms(a, "screenshares")),
            usize::from(screenshare),
            "{phase}"
        );
        let controlled = agent
            .and_then(|a| a["cobrowsesessions"][0]["controlling"].as_array())
            .is_some_and(|c| !c.is_empty());
        assert_eq!(
            controlled,
            cobrowse && phase != "cobrowse_started",
            "{phase}"
        );
        let live = matches!(
            phase,
            "cobrowse_started" | "control_granted" | "screenshare_started"
        );
        // The agent's own listing shows it while co-browse goes on.
        if let Some(user) = agent.and_then(|a| a["userId"].as_str()) {
            let token = app.user_token(user).await;
            let (_, mine) = app.sim_get(&token, LISTING).await;
            let listed = mine["entities"]
                .as_array()
                .expect("entities")
                .iter()
                .any(|c| c["id"] == id.as_str());
            assert_eq!(listed, live, "{phase}: the agent's listing");
        }
        // Analytics lists it from the first co-browse until it ends.
        let (_, records) = app.sim_post(Some(&service), DETAILS, &going_on).await;
        let in_analytics = ids(records["conversations"].as_array().expect("records")).contains(&id);
        assert_eq!(
            in_analytics,
            cobrowse && phase != "ended",
            "{phase}: analytics"
        );
        assert_eq!(
            conversation["endTime"].is_string(),
            phase == "ended",
            "{phase}"
        );
        let (status, change) = app
            .sim_post(
                None,
                &format!("/__sim/world/conversations/{id}/step"),
                &json!({}),
            )
            .await;
        if phase == "ended" {
            assert_eq!(
                status,
                StatusCode::CONFLICT,
                "an ended conversation stays ended"
            );
            break;
        }
        assert_eq!(status, StatusCode::OK, "{change}");
        phases.push(change["phase"].as_str().expect("a phase").to_owned());
    }
    assert_eq!(
        phases,
        [
            "started",
            "routed",
            "agent_joined",
            "cobrowse_started",
            "control_granted",
            "screenshare_started",
            "disconnected",
            "wrapped_up",
            "ended"
        ]
    );
    let (status, _) = app
        .sim_post(None, "/__sim/world/conversations/nope/step", &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn analytics_details_honours_interval_order_paging_and_filters_and_repeats_records_across_pages(
) {
    let app = sim(60).await;
    let token = app.sim_token().await;
    let base = json!({ "interval": last_day() });

    // Paging: 7 a page, the second page repeating one record of the first;
    // totalHits is not the number of distinct records.
    let (records, total) = all_pages(&app, &token, &base, 7).await;
    let all = ids(&records);
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), 60, "every conversation on some page");
    assert!(all.len() > distinct.len(), "a record repeated across pages");
    assert_ne!(total, 60, "totalHits is approximate");

    // Order: ascending by start (the default), descending, by end.
    let starts = |records: &[Value], field: &str| -> Vec<Option<String>> {
        records
            .iter()
            .map(|r| r[field].as_str().map(str::to_owned))
            .collect()
    };
    let (asc, _) = all_pages(&app, &token, &base, 100).await;
    let mut sorted = starts(&asc, "conversationStart");
    sorted.sort();
    assert_eq!(starts(&asc, "conversationStart"), sorted);
    let mut desc_query = base.clone();
    desc_query["order"] = json!("desc");
    let (desc, _) = all_pages(&app, &token, &desc_query, 100).await;
    sorted.reverse();
    assert_eq!(starts(&desc, "conversationStart"), sorted);
    desc_query["orderBy"] = json!("conversationEnd");
    let (by_end, _) = all_pages(&app, &token, &desc_query, 100).await;
    let ends = starts(&by_end, "conversationEnd");
    assert!(ends.windows(2).all(|w| w[0] >= w[1]), "{ends:?}");

    // Conversation filters: ended or not.
    let with_end = |operator: &str| {
        let mut q = base.clone();
        q["conversationFilters"] = json!([{ "type": "and", "predicates": [
            { "type": "dimension", "dimension": "conversationEnd", "operator": operator }
        ]}]);
        q
    };
    let (ended, _) = all_pages(&app, &token, &with_end("exists"), 100).await;
    let (going, _) = all_pages(&app, &token, &with_end("notExists"), 100).await;
    assert!(ended.iter().all(|r| r["conversationEnd"].is_string()));
    assert!(going.iter().all(|r| r.get("conversationEnd").is_none()));
    assert_eq!(ended.len() + going.len(), 60);
    assert!(!ended.is_empty() && !going.is_empty());

    // Segment filters on media type; the analytics shapes.
    let mut shares = base.clone();
    shares["segmentFilters"] = json!([{ "type": "or", "predicates": [
        { "dimension": "mediaType", "value": "screenshare" }
    ]}]);
    let (shared, _) = all_pages(&app, &token, &shares, 100).await;
    assert!(!shared.is_empty() && shared.len() < 60, "{}", shared.len());
    let sessions: Vec<&Value> = shared
        .iter()
        .flat_map(|r| r["participants"].as_array().expect("participants"))
        .flat_map(|p| p["sessions"].as_array().into_iter().flatten())
        .collect();
    let share = sessions
        .iter()
        .find(|s| s["mediaType"] == "screenshare")
        .expect("a screen-share session");
    assert!(share["screenShareRoomId"].is_string() && share["sharingScreen"].is_boolean());
    let cobrowse = sessions
        .iter()
        .find(|s| s["mediaType"] == "cobrowse")
        .expect("a co-browse session");
    for field in [
        "cobrowseRole",
        "cobrowseRoomId",
        "peerId",
        "sessionId",
        "segments",
    ] {
        assert!(cobrowse.get(field).is_some(), "{field}: {cobrowse}");
    }
    let types: BTreeSet<&str> = sessions
        .iter()
        .flat_map(|s| s["segments"].as_array().expect("segments"))
        .map(|s| s["segmentType"].as_str().expect("a type"))
        .collect();
    assert!(
        types.contains("interact") && types.contains("sharing"),
        "{types:?}"
    );
    assert!(types.iter().all(|t| t.chars().all(|c| c.is_lowercase())));

    // The interval matches by day: a minute at the start of today finds
    // every conversation that started today; yesterday's first hour none.
    let today = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let minute = json!({ "interval": format!("{}/{}", today.to_rfc3339(), (today + Duration::minutes(1)).to_rfc3339()) });
    let (found, _) = all_pages(&app, &token, &minute, 100).await;
    let started_today = asc
        .iter()
        .filter(|r| {
            r["conversationStart"]
                .as_str()
                .is_some_and(|s| s >= today.to_rfc3339().as_str())
        })
        .count();
    assert_eq!(found.len(), started_today);
    let yesterday = json!({ "interval": format!("{}/{}", (today - Duration::days(1)).to_rfc3339(), (today - Duration::hours(23)).to_rfc3339()) });
    let (found, _) = all_pages(&app, &token, &yesterday, 100).await;
    assert_eq!(found.len(), 60 - started_today);

    for bad in [
        json!({ "interval": "yesterday" }),
        json!({ "interval": last_day(), "paging": { "pageSize": 101, "pageNumber": 1 } }),
        json!({ "interval": last_day(), "order": "sideways" }),
        json!({ "interval": last_day(), "segmentFilters": [{ "type": "or", "predicates": [{ "dimension": "colour", "value": "red" }] }] }),
    ] {
        let (status, body) = app.sim_post(Some(&token), DETAILS, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["message"].is_string());
    }
}

#[tokio::test]
async fn analytics_aggregates_count_and_time_agents_work_by_group_and_bucket() {
    let app = sim(40).await;
    let token = app.sim_token().await;
    let now = Utc::now();
    let interval = format!(
        "{}/{}",
        (now - Duration::hours(2)).to_rfc3339(),
        (now + Duration::minutes(1)).to_rfc3339()
    );
    let (status, body) = app.sim_post(Some(&token),
        AGGREGATES,
        &json!({
            "interval": interval,
            "granularity": "PT30M",
            "groupBy": ["queueId"],
            "metrics": ["nCobrowseSessions", "nConnected", "tHandle", "tTalk"],
            "filter": { "type": "and", "predicates": [{ "dimension": "mediaType", "value": "cobrowse" }] },
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["results"].as_array().expect("results");
    assert!(results.len() > 1, "several queues: {body}");
    let mut sessions = 0;
    for result in results {
        assert!(result["group"]["queueId"].is_string(), "{result}");
        for bucket in result["data"].as_array().expect("data") {
            let interval = bucket["interval"].as_str().expect("an interval");
            let (from, to) = interval.split_once('/').expect("start/end");
            let length = chrono::DateTime::parse_from_rfc3339(to).expect("end")
                - chrono::DateTime::parse_from_rfc3339(from).expect("start");
            assert!(length <= Duration::minutes(30), "{interval}");
            for metric in bucket["metrics"].as_array().expect("metrics") {
                let stats = &metric["stats"];
                let count = stats["count"].as_u64().expect("a count");
                assert!(count > 0);
                match metric["metric"].as_str().expect("a name") {
                    "nCobrowseSessions" => sessions += count,
                    "tHandle" | "tTalk" => {
                        let (sum, min, max) = (
                            stats["sum"].as_f64().expect("sum"),
                            stats["min"].as_f64().expect("min"),
                            stats["max"].as_f64().expect("max"),
                        );
                        assert!(
                            min <= sum / count as f64 && sum / count as f64 <= max,
                            "{stats}"
                        );
                    }
                    _ => assert!(stats.get("sum").is_none(), "counts only: {stats}"),
                }
            }
        }
    }
    // Every agent's co-browse communication connected in the interval is one
    // session, as the details query shows them.
    let (records, _) = all_pages(&app, &token, &json!({ "interval": interval }), 100).await;
    let viewers = records
        .iter()
        .flat_map(|r| r["participants"].as_array().expect("participants"))
        .filter(|p| p["purpose"] == "agent")
        .flat_map(|p| p["sessions"].as_array().expect("sessions"))
        .filter(|s| s["mediaType"] == "cobrowse")
        .count() as u64;
    assert_eq!(sessions, viewers);

    let (_, by_media) = app
        .sim_post(
            Some(&token),
            AGGREGATES,
            &json!({ "interval": interval, "groupBy": ["mediaType"], "metrics": ["nConnected"] }),
        )
        .await;
    let media: BTreeSet<&str> = by_media["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["group"]["mediaType"].as_str().expect("a media type"))
        .collect();
    assert_eq!(media, BTreeSet::from(["cobrowse", "screenshare"]));

    for bad in [
        json!({ "interval": interval, "metrics": ["nCoffee"] }),
        json!({ "interval": interval, "metrics": ["nConnected"], "granularity": "30 minutes" }),
        json!({ "interval": interval, "metrics": ["nConnected"], "groupBy": ["colour"] }),
        json!({ "interval": interval, "metrics": [] }),
    ] {
        let (status, body) = app.sim_post(Some(&token), AGGREGATES, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

#[tokio::test]
async fn every_queue_is_listed_page_by_page() {
    let app = sim(4).await;
    let token = app.sim_token().await;
    let mut seen = Vec::new();
    let mut path = "/api/v2/routing/queues?pageSize=4&pageNumber=1".to_owned();
    loop {
        let (status, page) = app.sim_get(&token, &path).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(ids_of(&page));
        match page["nextUri"].as_str() {
            Some(next) => path = next.to_owned(),
            None => break,
        }
    }
    let (_, all) = app
        .sim_get(&token, "/api/v2/routing/queues?pageSize=100")
        .await;
    assert_eq!(seen, ids_of(&all));
    assert!(seen.len() > 4, "more than one page");
}

fn ids_of(listing: &Value) -> Vec<String> {
    listing["entities"]
        .as_array()
        .expect("entities")
        .iter()
        .map(|e| e["id"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_withheld_permission_is_refused_with_403_naming_it() {
    let app = sim(4).await;
    let token = app.sim_token().await;
    let query = json!({ "interval": last_day() });
    let details = || app.sim_post(Some(&token), DETAILS, &query);

    // The details query takes either of two permissions.
    withhold(
        &app.sim.url(),
        app.sim.client_id(),
        &["analytics:conversationDetail:view"],
    )
    .await;
    let (status, body) = details().await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the agent permission will do: {body}"
    );
    let id = body["conversations"][0]["conversationId"]
        .as_str()
        .expect("a conversation")
        .to_owned();
    withhold(
        &app.sim.url(),
        app.sim.client_id(),
        &[
            "analytics:conversationDetail:view",
            "analytics:agentConversationDetail:view",
            "conversation:communication:view",
        ],
    )
    .await;
    let (status, body) = details().await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "missing.permissions");
    assert_eq!(
        body["messageParams"]["permissions"],
        "analytics:conversationDetail:view, analytics:agentConversationDetail:view"
    );

    // Reading a conversation needs conversation:communication:view.
    let (status, body) = app
        .sim_get(&token, &format!("/api/v2/conversations/{id}"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["messageParams"]["permissions"],
        "conversation:communication:view"
    );
    let (status, _) = app
        .sim_post(
            Some(&token),
            AGGREGATES,
            &json!({ "interval": last_day(), "metrics": ["nConnected"] }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "only those permissions are withheld"
    );
}

#[tokio::test]
async fn analytics_lags_real_time_while_the_conversation_routes_answer_at_once() {
    let app = sim(4).await;
    let service = app.sim_token().await;
    app.set_faults(&Faults {
        analytics_lag_ms: 300_000,
        ..Faults::default()
    })
    .await;
    let going_on = json!({
        "interval": last_day(),
        "conversationFilters": [{ "type": "and", "predicates": [
            { "dimension": "conversationEnd", "operator": "notExists" }
        ]}],
    });
    let analytics_ids = |body: &Value| ids(body["conversations"].as_array().expect("records"));

    // A conversation that started within the lag is not in analytics yet.
    let (_, change) = app
        .sim_post(None, "/__sim/world/conversations", &json!({}))
        .await;
    let id = change["conversationId"].as_str().expect("an id").to_owned();
    let (status, _) = app
        .sim_get(&service, &format!("/api/v2/conversations/{id}"))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the conversation route knows it at once"
    );
    let (_, before) = app.sim_post(Some(&service), DETAILS, &going_on).await;
    assert!(!analytics_ids(&before).contains(&id));

    // A conversation that ended within the lag still reads as going on.
    let generated = analytics_ids(&before)[0].clone();
    loop {
        let path = format!("/__sim/world/conversations/{generated}/step");
        let (status, change) = app.sim_post(None, &path, &json!({})).await;
        assert_eq!(status, StatusCode::OK);
        if change["phase"] == "ended" {
            break;
        }
    }
    let (_, lagging) = app.sim_post(Some(&service), DETAILS, &going_on).await;
    assert!(
        analytics_ids(&lagging).contains(&generated),
        "still going on, as analytics sees it"
    );

    // Once the lag has passed, both show as they are.
    app.set_faults(&Faults::default()).await;
    let (_, now) = app.sim_post(Some(&service), DETAILS, &going_on).await;
    assert!(!analytics_ids(&now).contains(&generated), "ended");
    assert!(
        analytics_ids(&now).contains(&id),
        "started, no media filter asked"
    );
}
