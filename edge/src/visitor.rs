//! Signed visitor tokens, checked by the same implementation as the proxy's
//! (`reekolect-visitor-token`).

pub use reekolect_visitor_token::{touches_identity, VisitorError, VisitorKey};
