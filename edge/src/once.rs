//! Each update once, best effort: the proxy's rule ([`reekolect_lead::update_id`]) with
//! the memory of one isolate.
//!
//! A Worker runs in many isolates, in many places, each with its own memory and none shared
//! (Durable Objects or KV would share, at a cost per request and a round trip): a repeat of
//! an update is caught when it reaches the isolate that forwarded the first, which is the
//! usual case for one visitor's requests a few seconds apart, but not always. An update
//! still on its way in the same isolate is answered 425 with `Retry-After: 1` (the companion
//! retries it, and by then it is remembered); a delivered one (2xx) gets its answer again
//! for [`WINDOW_MS`]; a failed one is forgotten, so its retry goes upstream.

use crate::Answer;
use std::collections::{HashMap, VecDeque};

/// How long a delivered update is remembered (ms), as the proxy does.
pub const WINDOW_MS: f64 = 10.0 * 60.0 * 1000.0;

/// Most updates one isolate remembers (the oldest forgotten first): with answers kept up to
/// [`MAX_KEPT_ANSWER`] bytes, under 2 MB of the isolate's 128 MB.
pub const CAPACITY: usize = 4096;

/// Longest answer kept as it came, in bytes (a longer one is replayed as a short success).
pub const MAX_KEPT_ANSWER: usize = 256;

/// What an isolate knows of recent updates, keyed by visitor UUID and update id.
#[derive(Debug, Default)]
pub struct Deliveries {
    slots: HashMap<String, Slot>,
    delivered: VecDeque<(f64, String)>,
}

#[derive(Debug)]
enum Slot {
    InFlight,
    Delivered(f64, Answer),
}

impl Deliveries {
    /// The answer for update `key` without forwarding it, if there is one: the first
    /// delivery's, or a 425 while that is on its way. `None`: forward it (it is marked as
    /// on its way until [`Deliveries::settle`]).
    pub fn claim(&mut self, key: &str, now_ms: f64) -> Option<Answer> {
        self.forget_before(now_ms - WINDOW_MS);
        match self.slots.get(key) {
            Some(Slot::Delivered(_, answer)) => Some(answer.clone()),
            Some(Slot::InFlight) => Some(
                crate::ApiError::new(
                    425,
                    "updateId: this update is being delivered by an earlier request; retry in 1 s",
                )
                .with_retry_after(1)
                .into(),
            ),
            None => {
                self.slots.insert(key.to_string(), Slot::InFlight);
                None
            }
        }
    }

    /// Records how forwarding update `key` ended: a delivery (2xx) is remembered, anything
    /// else forgotten.
    pub fn settle(&mut self, key: &str, answer: &Answer, now_ms: f64) {
        if !(200..300).contains(&answer.status) {
            self.slots.remove(key);
            return;
        }
        let kept = if answer.body.len() <= MAX_KEPT_ANSWER {
            answer.clone()
        } else {
            let body = format!(
                r#"{{"success":true,"code":{},"message":"delivered before; the upstream's answer was too long to keep"}}"#,
                answer.status
            );
            Answer { body, retry_after: None, ..answer.clone() }
        };
        self.slots.insert(key.to_string(), Slot::Delivered(now_ms, kept));
        self.delivered.push_back((now_ms, key.to_string()));
        self.forget_before(now_ms - WINDOW_MS);
    }

    /// Forgets what was delivered before `cutoff`, and the oldest beyond [`CAPACITY`].
    fn forget_before(&mut self, cutoff: f64) {
        while let Some((at, key)) = self.delivered.front() {
            if *at >= cutoff && self.delivered.len() <= CAPACITY {
                break;
            }
            if matches!(self.slots.get(key), Some(Slot::Delivered(when, _)) if when == at) {
                self.slots.remove(key);
            }
            self.delivered.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Deliveries, CAPACITY, WINDOW_MS};
    use crate::Answer;

    fn answer(status: u16) -> Answer {
        Answer { status, body: r#"{"success":true}"#.into(), retry_after: None, forward: false, uuid: None, key: None }
    }

    #[test]
    fn a_delivered_update_is_answered_again_and_one_on_its_way_is_a_425() {
        let mut deliveries = Deliveries::default();
        assert!(deliveries.claim("u:1", 0.0).is_none());
        let busy = deliveries.claim("u:1", 1.0).unwrap();
        assert_eq!((busy.status, busy.retry_after.as_deref()), (425, Some("1")));
        assert!(busy.body.contains("updateId"), "{}", busy.body);
        deliveries.settle("u:1", &answer(200), 2.0);
        assert_eq!(deliveries.claim("u:1", 3.0), Some(answer(200)));
        assert!(deliveries.claim("u:1", 2.0 + WINDOW_MS + 1.0).is_none(), "forgotten after the window");
    }

    #[test]
    fn a_failure_is_forgotten() {
        let mut deliveries = Deliveries::default();
        assert!(deliveries.claim("u:1", 0.0).is_none());
        deliveries.settle("u:1", &answer(502), 1.0);
        assert!(deliveries.claim("u:1", 2.0).is_none());
    }

    #[test]
    fn the_memory_is_bounded() {
        let mut deliveries = Deliveries::default();
        for n in 0..CAPACITY + 5 {
            let key = format!("u:{n}");
            deliveries.claim(&key, 0.0);
            deliveries.settle(&key, &answer(200), 0.0);
        }
        assert_eq!(deliveries.slots.len(), CAPACITY);
        assert!(deliveries.claim("u:0", 0.0).is_none(), "the oldest went first");
    }
}
