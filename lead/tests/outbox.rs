//! Host tests for the outbox (merging within limits, order, retry state) and the retry schedule.

use reekolect_lead::outbox::{fits, Identity, Outbox, Watermarks, MAX_ENTRY_BYTES};
use reekolect_lead::retry::{retry_after_seconds, Backoff, Outcome, MAX_RETRY_AFTER_MS};
use reekolect_lead::{parse_lead, Lead};
use serde_json::json;

fn lead(value: serde_json::Value) -> Lead {
    parse_lead(value).unwrap()
}

fn ann() -> Identity {
    Identity { uuid: "7e88d192-9b20-4035-9b68-d4ac3d58a34f".into(), bot_id: "b".into(), customer_id: "c".into() }
}

fn ids() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("e{n}")
    }
}

#[test]
fn updates_merge_into_the_newest_untried_entry() {
    let mut outbox = Outbox::default();
    let mut next = ids();
    let a = outbox.add(lead(json!({"name": "Ann"})), Some(&ann()), &mut next);
    let b = outbox.add(lead(json!({"tags": ["x"]})), Some(&ann()), &mut next);
    assert_eq!(a, b);
    assert_eq!(outbox.entries.len(), 1);
    assert_eq!(outbox.entries[0].lead.name.as_deref(), Some("Ann"));
    assert_eq!(outbox.entries[0].lead.uuid.as_deref(), Some(ann().uuid.as_str()));

    // Once tried, an entry is frozen: what it carried may already have arrived.
    assert_eq!(outbox.start_attempt(&a), 1);
    let c = outbox.add(lead(json!({"name": "Ann Lee"})), Some(&ann()), &mut next);
    assert_ne!(c, a);
    assert_eq!(outbox.entries.len(), 2);
}

#[test]
fn another_identity_or_a_held_update_starts_a_new_entry() {
    let mut outbox = Outbox::default();
    let mut next = ids();
    let held = outbox.add(lead(json!({"name": "Ann"})), None, &mut next);
    let held_too = outbox.add(lead(json!({"email": "ann@example.com"})), None, &mut next);
    assert_eq!(held, held_too);
    assert_eq!(outbox.due(1e15), None, "an update without a visitor is held");
    assert_eq!(outbox.next_time(), None);
    let other = Identity { uuid: "11111111-2222-4333-8444-555555555555".into(), ..ann() };
    let assigned = outbox.add(lead(json!({"status": "OPEN"})), Some(&other), &mut next);
    assert_ne!(assigned, held);
    outbox.assign(&ann());
    assert_eq!(outbox.entries[0].identity(), Some(ann()));
    assert_eq!(outbox.entries[1].identity(), Some(other));
    assert_eq!(outbox.due(0.0).map(|e| e.id.as_str()), Some(held.as_str()));
}

#[test]
fn an_entry_never_outgrows_one_request() {
    let mut outbox = Outbox::default();
    let mut next = ids();
    for i in 0..250 {
        outbox.add(lead(json!({"attributes": {format!("k{i}"): i}})), Some(&ann()), &mut next);
    }
    let sizes: Vec<usize> = outbox.entries.iter().map(|e| e.lead.attributes.as_ref().unwrap().len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert!(outbox.entries.iter().all(|e| fits(&e.lead)));

    let mut big = Outbox::default();
    let description = "x".repeat(4000);
    for _ in 0..10 {
        big.add(lead(json!({"notes": [{"title": "t", "description": description}]})), Some(&ann()), &mut next);
    }
    assert!(big.entries.len() >= 3, "{} entries", big.entries.len());
    for entry in &big.entries {
        let bytes = serde_json::to_vec(&entry.lead).unwrap().len();
        assert!(bytes <= MAX_ENTRY_BYTES, "{bytes} bytes");
    }
}

#[test]
fn order_is_kept_and_retries_wait_their_turn() {
    let mut outbox = Outbox::default();
    let mut next = ids();
    let first = outbox.add(lead(json!({"name": "A"})), Some(&ann()), &mut next);
    assert_eq!(outbox.start_attempt(&first), 1);
    outbox.postpone(&first, 1000.0);
    let second = outbox.add(lead(json!({"name": "B"})), Some(&ann()), &mut next);
    assert_eq!(outbox.due(999.0), None, "the head waits, and so does everything behind it");
    assert_eq!(outbox.next_time(), Some(1000.0));
    assert_eq!(outbox.due(1000.0).unwrap().id, first);
    outbox.hurry();
    assert_eq!(outbox.due(0.0).unwrap().id, first);
    assert_eq!(outbox.remove(&first).unwrap().attempts, 1);
    assert_eq!(outbox.due(1000.0).unwrap().id, second);
    outbox.remove(&second);
    assert!(outbox.is_empty());
    assert_eq!(outbox.remove("gone"), None);
}

#[test]
fn outbox_round_trips_through_json() {
    let mut outbox = Outbox::default();
    outbox.add(lead(json!({"name": "Ann", "attributes": {"a": "1"}})), Some(&ann()), ids());
    outbox.start_attempt("e1");
    outbox.postpone("e1", 123.5);
    let text = serde_json::to_string(&outbox).unwrap();
    assert_eq!(serde_json::from_str::<Outbox>(&text).unwrap(), outbox);
}

#[test]
fn outcomes_by_status() {
    assert_eq!(Outcome::of(None), Outcome::Retry);
    for status in [200, 201, 204] {
        assert_eq!(Outcome::of(Some(status)), Outcome::Delivered, "{status}");
    }
    for status in [408, 425, 429, 500, 502, 503, 504] {
        assert_eq!(Outcome::of(Some(status)), Outcome::Retry, "{status}");
    }
    for status in [400, 401, 403, 404, 409, 413, 422, 301] {
        assert_eq!(Outcome::of(Some(status)), Outcome::Refused, "{status}");
    }
}

#[test]
fn backoff_doubles_with_jitter_and_caps() {
    let backoff = Backoff { base_ms: 100.0, max_ms: 1000.0 };
    let low: Vec<f64> = (1..=6).map(|n| backoff.delay_ms(n, 0.0, None)).collect();
    let high: Vec<f64> = (1..=6).map(|n| backoff.delay_ms(n, 0.999_999, None)).collect();
    assert_eq!(low, [50.0, 100.0, 200.0, 400.0, 500.0, 500.0]);
    for (h, step) in high.iter().zip([100.0, 200.0, 400.0, 800.0, 1000.0, 1000.0]) {
        assert!((h - step).abs() < 0.01, "{h} vs {step}");
    }
    assert!(backoff.delay_ms(u32::MAX, 0.5, None) <= 1000.0);
}

#[test]
fn retry_after_is_honoured_within_reason() {
    let backoff = Backoff { base_ms: 100.0, max_ms: 1000.0 };
    assert_eq!(backoff.delay_ms(1, 0.0, Some(30_000.0)), 30_000.0);
    assert_eq!(backoff.delay_ms(3, 0.0, Some(10.0)), 200.0, "a shorter Retry-After does not make us hammer");
    assert_eq!(backoff.delay_ms(1, 0.0, Some(1e12)), MAX_RETRY_AFTER_MS);
    assert_eq!(retry_after_seconds(" 120 "), Some(120_000.0));
    assert_eq!(retry_after_seconds("Wed, 21 Oct 2026 07:28:00 GMT"), None);
    assert_eq!(retry_after_seconds("-1"), None);
    assert_eq!(retry_after_seconds(""), None);
}

#[test]
fn adopted_entries_go_first() {
    let mut mine = Outbox::default();
    mine.add(lead(json!({"name": "New"})), Some(&ann()), || "mine".into());
    let mut left = Outbox::default();
    left.add(lead(json!({"name": "Old"})), Some(&ann()), || "left".into());
    mine.adopt(left);
    let order: Vec<&str> = mine.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(order, ["left", "mine"]);
}

#[test]
fn an_older_scalar_never_overwrites_a_newer_one_already_sent() {
    let mut marks = Watermarks::default();
    let mut newer = lead(json!({"name": "New", "status": "OPEN"}));
    assert!(marks.strip_and_record(&mut newer, 200.0));
    assert_eq!(newer.name.as_deref(), Some("New"));
    // The older update arrives at the door late (a retry, an adopted outbox): its name is
    // stale and goes; what only it carries still goes.
    let mut older = lead(json!({"name": "Old", "email": "old@example.com", "tags": ["kept"]}));
    assert!(marks.strip_and_record(&mut older, 100.0));
    assert_eq!(older.name, None);
    assert_eq!(older.email.as_deref(), Some("old@example.com"));
    assert_eq!(older.tags.as_deref(), Some(&["kept".to_string()][..]));
    // Nothing left but stale scalars: nothing to send.
    let mut stale = lead(json!({"name": "Older", "status": "CLOSED"}));
    assert!(!marks.strip_and_record(&mut stale, 50.0));
    // A newer one still goes, and raises the mark.
    let mut newest = lead(json!({"name": "Newest"}));
    assert!(marks.strip_and_record(&mut newest, 300.0));
    let mut between = lead(json!({"name": "Between"}));
    marks.strip_and_record(&mut between, 250.0);
    assert_eq!(between.name, None);
}
