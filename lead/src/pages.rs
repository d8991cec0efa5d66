//! Page context and site events: what the companion records of the pages a visitor sees
//! and the events a site tracks, as pure functions of a stored [`Visits`] record and the
//! time (ms since the epoch, given by the caller: the browser's clock, or a test's).
//!
//! - A page view updates `first_seen` (once), `last_seen`, `visits` (a visit starts after
//!   [`VISIT_GAP_MS`] without a page view, as analytics tools count sessions), `last_page`
//!   and `page_trail` (the visit's last [`TRAIL_PAGES`] paths, at most [`Limits::VALUE`]
//!   characters, oldest dropped first).
//! - An event becomes a note (title = name, description = `key: value` lines) and the
//!   `last_event` attribute. Notes stay on the lead for good, so an event name is kept at
//!   most once per [`SAME_EVENT_GAP_MS`], and at most [`EVENTS_PER_VISIT`] a visit.

use crate::text::{decimal, join};
use crate::validate::text;
use crate::{Attribute, FieldError, Limits, Note};

/// A visit ends after this long without a page view (30 minutes).
pub const VISIT_GAP_MS: f64 = 30.0 * 60_000.0;
/// An event name is kept at most once in this long (10 minutes).
pub const SAME_EVENT_GAP_MS: f64 = 10.0 * 60_000.0;
/// Events kept per visit.
pub const EVENTS_PER_VISIT: u32 = 20;
/// Paths in `page_trail`.
pub const TRAIL_PAGES: usize = 10;
/// Between the paths of `page_trail`.
pub const TRAIL_SEPARATOR: &str = " › ";
/// Between the path and the title in `last_page`.
pub const TITLE_SEPARATOR: &str = " — ";

/// What one browser has seen of the site: the record page views and events update.
/// Times are ms since the epoch; 0 means "never".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Visits {
    /// The first page view.
    pub first_seen: f64,
    /// The latest page view.
    pub last_seen: f64,
    /// Visits so far.
    pub visits: u32,
    /// The current visit's latest paths, oldest first, already trimmed (see [`trail_text`]).
    pub trail: Vec<String>,
    /// The latest kept event.
    pub last_event: f64,
    /// Events kept in the current visit.
    pub visit_events: u32,
    /// The events kept in the last [`SAME_EVENT_GAP_MS`]: `(name, time)`.
    pub recent_events: Vec<(String, f64)>,
}

/// What becomes of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventVerdict {
    /// Kept: send it.
    Kept,
    /// The same name was kept less than [`SAME_EVENT_GAP_MS`] ago.
    Repeated,
    /// [`EVENTS_PER_VISIT`] events were kept in this visit already.
    TooMany,
}

impl EventVerdict {
    /// Why an event was not sent, in words (empty when it was kept).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Kept => "",
            Self::Repeated => "not sent: the same event was tracked less than 10 minutes ago",
            Self::TooMany => "not sent: 20 events were tracked in this visit already",
        }
    }
}

impl Visits {
    /// Records a view of `path` (already without query or fragment: see [`page_path`]).
    pub fn page_view(&mut self, now: f64, path: &str) {
        if self.visits == 0 || now - self.last_seen >= VISIT_GAP_MS {
            self.visits += 1;
            self.trail.clear();
            self.visit_events = 0;
        }
        if self.first_seen == 0.0 {
            self.first_seen = now;
        }
        self.last_seen = now;
        self.trail.push(truncate(path, Limits::VALUE));
        let mut drop = self.trail.len().saturating_sub(TRAIL_PAGES);
        while characters(&trail_text(&self.trail[drop..])) > Limits::VALUE {
            drop += 1; // never the newest: one path alone is at most Limits::VALUE characters
        }
        self.trail.drain(..drop);
    }

    /// The page-context attributes after the latest view, whose document title was `title`;
    /// `iso` writes a time as ISO-8601 UTC (`2026-12-01T09:30:00.000Z`). None before any view.
    /// Valid by construction: paths are URL-encoded, the title loses control characters,
    /// every value is cut to [`Limits::VALUE`] (tests hold them to the rules).
    pub fn attributes(&self, title: &str, iso: impl Fn(f64) -> String) -> Option<[(&'static str, String); 5]> {
        let path = self.trail.last()?;
        let title: String = title.chars().filter(|c| !c.is_control()).collect();
        let title = title.trim();
        let last_page = if title.is_empty() { path.clone() } else { path.clone() + TITLE_SEPARATOR + title };
        Some([
            ("first_seen", iso(self.first_seen)),
            ("last_seen", iso(self.last_seen)),
            ("visits", decimal(self.visits.into())),
            ("last_page", truncate(&last_page, Limits::VALUE)),
            ("page_trail", trail_text(&self.trail)),
        ])
    }

    /// Counts an event named `name` at `now` if the limits let it through.
    pub fn event(&mut self, now: f64, name: &str) -> EventVerdict {
        // Without page views (trackPages off), a pause in events ends the visit too.
        if now - self.last_seen.max(self.last_event) >= VISIT_GAP_MS {
            self.visit_events = 0;
        }
        self.recent_events.retain(|(_, at)| now - at < SAME_EVENT_GAP_MS);
        if self.recent_events.iter().any(|(seen, _)| seen == name) {
            return EventVerdict::Repeated;
        }
        if self.visit_events >= EVENTS_PER_VISIT {
            return EventVerdict::TooMany;
        }
        self.visit_events += 1;
        self.last_event = now;
        self.recent_events.push((name.into(), now));
        EventVerdict::Kept
    }
}

/// The record as stored: its numbers (whole milliseconds) on the first line, then a line
/// `p<path>` for each path of the trail and `e<time> <name>` for each recent event. Paths
/// and names hold no line breaks (URLs encode them; names may not have control characters).
impl Visits {
    /// The record as text (see above).
    pub fn to_text(&self) -> String {
        let numbers = [self.first_seen, self.last_seen, self.visits.into(), self.last_event, self.visit_events.into()];
        let mut text = String::new();
        for number in numbers {
            text += &decimal(number as u64);
            text.push(' ');
        }
        for path in &self.trail {
            text += "\np";
            text += path;
        }
        for (name, at) in &self.recent_events {
            text += "\ne";
            text += &decimal(*at as u64);
            text.push(' ');
            text += name;
        }
        text
    }

    /// Reads [`Visits::to_text`]'s text; what does not read back counts as zero or is left out.
    pub fn from_text(text: &str) -> Self {
        let mut lines = text.split('\n');
        let mut numbers = lines.next().unwrap_or_default().split(' ').map(number);
        let mut next = || numbers.next().unwrap_or_default();
        let mut record = Visits {
            first_seen: next(),
            last_seen: next(),
            visits: next() as u32,
            last_event: next(),
            visit_events: next() as u32,
            ..Visits::default()
        };
        for line in lines {
            if let Some(path) = line.strip_prefix('p') {
                record.trail.push(path.into());
            } else if let Some((at, name)) = line.strip_prefix('e').and_then(|event| event.split_once(' ')) {
                record.recent_events.push((name.into(), number(at)));
            }
        }
        record
    }
}

/// A whole number written in decimal (its digits; anything else is skipped).
fn number(text: &str) -> f64 {
    text.bytes()
        .filter(u8::is_ascii_digit)
        .fold(0u64, |n, digit| n.wrapping_mul(10).wrapping_add(u64::from(digit - b'0'))) as f64
}

/// The characters of `text`: its bytes that do not continue a character (UTF-8).
fn characters(text: &str) -> usize {
    text.bytes().filter(|byte| byte & 0xc0 != 0x80).count()
}

/// The path of `url_path` without its query string or fragment, which carry tokens and
/// emails; `/` when nothing is left.
pub fn page_path(url_path: &str) -> &str {
    let path = url_path.split(['?', '#']).next().unwrap_or_default();
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// `trail` as `page_trail` writes it: joined by [`TRAIL_SEPARATOR`].
pub fn trail_text(trail: &[String]) -> String {
    join(trail.iter().map(String::as_str), TRAIL_SEPARATOR)
}

/// The first `max` characters of `text`.
fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The note of an event: titled `name` (trimmed; 1 to [`Limits::SHORT_TEXT`] characters),
/// its description the properties as `key: value` lines (at most
/// [`Limits::LONG_TEXT`] characters). A broken rule is named as `name` or `properties`.
/// The event also sets the attribute `last_event` to the note's title.
pub fn event_note(name: &str, properties: &[Attribute]) -> Result<Note, FieldError> {
    let lines: Vec<String> = properties.iter().map(|p| p.key.clone() + ": " + &p.value).collect();
    let title = text(name.into(), 1, Limits::SHORT_TEXT, false).map_err(|rule| FieldError::new("name", rule))?;
    let description = text(join(lines.iter().map(String::as_str), "\n"), 0, Limits::LONG_TEXT, true)
        .map_err(|rule| FieldError::new("properties", rule))?;
    Ok(Note { title, description })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{validate_fields, Lead};

    fn property(key: &str, value: &str) -> Attribute {
        Attribute { key: key.into(), value: value.into() }
    }

    const MINUTE: f64 = 60_000.0;

    /// A clock the test moves by hand.
    struct FakeClock(f64);

    impl FakeClock {
        fn now(&self) -> f64 {
            self.0
        }
        fn advance(&mut self, minutes: f64) -> f64 {
            self.0 += minutes * MINUTE;
            self.0
        }
    }

    fn clock() -> FakeClock {
        FakeClock(1_764_547_200_000.0) // 2025-12-01T00:00:00Z
    }

    fn iso(ms: f64) -> String {
        "t".to_string() + &decimal(ms as u64)
    }

    fn attribute<'a>(attributes: &'a [(&str, String)], key: &str) -> &'a str {
        &attributes.iter().find(|(k, _)| *k == key).unwrap().1
    }

    #[test]
    fn the_first_view_starts_the_first_visit() {
        let clock = clock();
        let mut record = Visits::default();
        assert_eq!(record.attributes("Home", iso), None, "nothing before a view");
        record.page_view(clock.now(), "/");
        let attributes = record.attributes("Fernwood — plants", iso).unwrap();
        let keys: Vec<&str> = attributes.iter().map(|(key, _)| *key).collect();
        assert_eq!(keys, ["first_seen", "last_seen", "visits", "last_page", "page_trail"]);
        assert_eq!(attribute(&attributes, "first_seen"), iso(clock.now()));
        assert_eq!(attribute(&attributes, "last_seen"), iso(clock.now()));
        assert_eq!(attribute(&attributes, "visits"), "1");
        assert_eq!(attribute(&attributes, "last_page"), "/ — Fernwood — plants");
        assert_eq!(attribute(&attributes, "page_trail"), "/");
    }

    #[test]
    fn a_visit_starts_after_thirty_minutes_without_a_page_view() {
        let mut clock = clock();
        let start = clock.now();
        let mut record = Visits::default();
        record.page_view(clock.now(), "/");
        record.page_view(clock.advance(29.0), "/pricing");
        record.page_view(clock.advance(29.9), "/docs"); // each gap under 30 min: one visit
        assert_eq!(record.visits, 1);
        assert_eq!(record.trail, ["/", "/pricing", "/docs"]);
        record.page_view(clock.advance(30.0), "/"); // exactly 30 min: a new visit
        assert_eq!(record.visits, 2);
        assert_eq!(record.trail, ["/"], "the trail is the current visit's");
        record.page_view(clock.advance(24.0 * 60.0), "/blog");
        let attributes = record.attributes("", iso).unwrap();
        assert_eq!(attribute(&attributes, "visits"), "3");
        assert_eq!(attribute(&attributes, "first_seen"), iso(start), "first_seen is never replaced");
        assert_eq!(attribute(&attributes, "last_seen"), iso(clock.now()));
        assert_eq!(attribute(&attributes, "last_page"), "/blog", "no title: the path alone");
    }

    #[test]
    fn a_clock_that_goes_back_does_not_start_a_visit() {
        let mut clock = clock();
        let mut record = Visits::default();
        record.page_view(clock.now(), "/");
        record.page_view(clock.advance(-90.0), "/back");
        assert_eq!(record.visits, 1);
    }

    #[test]
    fn the_trail_keeps_the_last_ten_paths_oldest_first() {
        let mut clock = clock();
        let mut record = Visits::default();
        for i in 0..13 {
            record.page_view(clock.advance(1.0), &("/p".to_string() + &decimal(i)));
        }
        let expected: Vec<String> = (3..13).map(|i| "/p".to_string() + &decimal(i)).collect();
        assert_eq!(record.trail, expected);
        let text = trail_text(&record.trail);
        assert!(text.starts_with("/p3 › /p4 › "), "{text}");
        assert!(text.ends_with("/p11 › /p12"), "{text}");
    }

    #[test]
    fn the_trail_is_at_most_1000_characters_oldest_dropped_first() {
        let mut clock = clock();
        let mut record = Visits::default();
        let long = |c: char| "/".to_string() + &c.to_string().repeat(299); // 300 characters
        for c in ['a', 'b', 'c', 'd'] {
            record.page_view(clock.advance(1.0), &long(c));
        }
        // 4 × 300 + 3 separators > 1000; 3 × 300 + 2 × 3 = 906 fits.
        assert_eq!(record.trail, [long('b'), long('c'), long('d')]);
        assert_eq!(trail_text(&record.trail).chars().count(), 906);
        // Characters, not bytes: 330 three-byte characters a path, three of them fit.
        let wide = "/".to_string() + &"€".repeat(329);
        for _ in 0..3 {
            record.page_view(clock.advance(1.0), &wide);
        }
        assert_eq!(record.trail.len(), 3);
        // A single path over the limit is cut to it, and is the whole trail.
        record.page_view(clock.advance(1.0), &("/".to_string() + &"x".repeat(5000)));
        assert_eq!(record.trail.len(), 1);
        assert_eq!(trail_text(&record.trail).chars().count(), Limits::VALUE);
        let attributes = record.attributes("A title", iso).unwrap();
        assert_eq!(attribute(&attributes, "last_page").chars().count(), Limits::VALUE);
        // Every attribute passes the shared rules, unchanged.
        let list: Vec<Attribute> =
            attributes.iter().map(|(k, v)| Attribute { key: (*k).into(), value: v.clone() }).collect();
        let lead = Lead { attributes: Some(list.clone()), ..Lead::default() };
        assert_eq!(validate_fields(lead).unwrap().attributes.unwrap(), list);
    }

    #[test]
    fn the_record_reads_back_from_its_text() {
        let mut clock = clock();
        let mut record = Visits::default();
        assert_eq!(Visits::from_text(&record.to_text()), record);
        record.page_view(clock.now(), "/");
        record.page_view(clock.advance(1.0), "/a b/€");
        record.event(clock.advance(1.0), "pricing viewed");
        record.event(clock.advance(1.0), "signup");
        assert_eq!(Visits::from_text(&record.to_text()), record);
        assert_eq!(Visits::from_text(""), Visits::default());
        assert_eq!(Visits::from_text("garbage\nx\ne12"), Visits::default());
    }

    #[test]
    fn characters_are_counted_as_chars_count_does() {
        for text in ["", "abc", "€uro", "日本語 › x", "\u{1F600}"] {
            assert_eq!(characters(text), text.chars().count());
        }
    }

    #[test]
    fn paths_lose_their_query_and_fragment() {
        assert_eq!(page_path("/pricing?email=ann@example.com&token=abc"), "/pricing");
        assert_eq!(page_path("/docs#install"), "/docs");
        assert_eq!(page_path("/a/b?x#y"), "/a/b");
        assert_eq!(page_path("?only=query"), "/");
        assert_eq!(page_path(""), "/");
        assert_eq!(page_path("/plain/path"), "/plain/path");
    }

    #[test]
    fn titles_lose_control_characters() {
        let mut record = Visits::default();
        record.page_view(1.0, "/");
        let attributes = record.attributes(" Shop\u{7}\u{0} now ", iso).unwrap();
        assert_eq!(attribute(&attributes, "last_page"), "/ — Shop now");
    }

    #[test]
    fn the_same_event_is_kept_at_most_once_in_ten_minutes() {
        let mut clock = clock();
        let mut record = Visits::default();
        assert_eq!(record.event(clock.now(), "pricing viewed"), EventVerdict::Kept);
        assert_eq!(record.event(clock.advance(1.0), "pricing viewed"), EventVerdict::Repeated);
        assert_eq!(record.event(clock.now(), "signup started"), EventVerdict::Kept, "another name is another event");
        assert_eq!(record.event(clock.advance(8.9), "pricing viewed"), EventVerdict::Repeated);
        // Ten minutes after it was kept (not after the repeats): kept again.
        assert_eq!(record.event(clock.advance(0.1), "pricing viewed"), EventVerdict::Kept);
        assert_eq!(record.recent_events.len(), 2, "older names are forgotten: {:?}", record.recent_events);
    }

    #[test]
    fn at_most_twenty_events_a_visit() {
        let mut clock = clock();
        let mut record = Visits::default();
        record.page_view(clock.now(), "/");
        for i in 0..20 {
            let name = "event ".to_string() + &decimal(i);
            assert_eq!(record.event(clock.advance(0.5), &name), EventVerdict::Kept, "{name}");
            if i % 5 == 0 {
                record.page_view(clock.now(), "/next"); // page views within the visit
            }
        }
        assert_eq!(record.event(clock.advance(0.5), "one more"), EventVerdict::TooMany);
        assert_eq!(record.event(clock.advance(20.0), "still the same visit"), EventVerdict::TooMany);
        // A page view after 30 quiet minutes starts a visit: events are counted afresh.
        record.page_view(clock.advance(30.0), "/");
        assert_eq!(record.visits, 2);
        assert_eq!(record.event(clock.now(), "event 0"), EventVerdict::Kept);
    }

    #[test]
    fn without_page_views_a_pause_in_events_ends_the_visit() {
        let mut clock = clock();
        let mut record = Visits::default();
        for i in 0..20 {
            assert_eq!(record.event(clock.advance(1.0), &("e".to_string() + &decimal(i))), EventVerdict::Kept);
        }
        assert_eq!(record.event(clock.advance(29.0), "late"), EventVerdict::TooMany);
        assert_eq!(record.event(clock.advance(31.0), "late"), EventVerdict::Kept);
        assert_eq!(record.visits, 0, "events alone count no visit");
    }

    #[test]
    fn an_event_is_a_note() {
        let properties = [property("plan", "pro"), property("seats", "3"), property("annual", "true")];
        let note = event_note(" pricing viewed ", &properties).unwrap();
        assert_eq!(note.title, "pricing viewed");
        assert_eq!(note.description, "plan: pro\nseats: 3\nannual: true");
        assert_eq!(event_note("signup", &[]).unwrap().description, "");
        // What the companion sends passes the shared rules unchanged.
        let lead = Lead {
            notes: Some(vec![note.clone()]),
            attributes: Some(vec![Attribute { key: "last_event".into(), value: note.title.clone() }]),
            ..Lead::default()
        };
        assert_eq!(validate_fields(lead.clone()), Ok(lead));
    }

    #[test]
    fn an_event_is_checked_like_every_call() {
        assert_eq!(event_note("  ", &[]), Err(FieldError::new("name", "must not be empty")));
        let long = event_note(&"n".repeat(201), &[]);
        assert_eq!(long, Err(FieldError::new("name", "must be at most 200 characters")));
        assert!(event_note(&"n".repeat(200), &[]).is_ok());
        assert_eq!(event_note("a\u{1b}b", &[]).unwrap_err().field, "name");
        let huge = [property("text", &"x".repeat(5000))];
        assert_eq!(event_note("ok", &huge), Err(FieldError::new("properties", "must be at most 5000 characters")));
        let control = [property("text", "bell\u{7}")];
        assert_eq!(
            event_note("ok", &control),
            Err(FieldError::new("properties", "must not contain control characters"))
        );
    }
}
