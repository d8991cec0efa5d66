//! Signed visitor tokens (the `reekolect-visitor-token` crate, shared with the edge Worker),
//! and the clock the proxy checks them against.

pub use reekolect_visitor_token::*;

/// Now, in unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
