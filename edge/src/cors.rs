//! CORS, as the proxy's `CorsLayer` answers: any origin (`*`) by default, or exactly the
//! allowed list (the request's origin echoed, `Vary: Origin`); never credentials. A request
//! from another origin is not refused here, as in the proxy: the browser keeps its answer
//! from the page, and the bot allowlist is what bounds what gets written.

/// The methods a preflight allows.
pub const ALLOW_METHODS: &str = "PUT,POST,OPTIONS";
/// The request headers a preflight allows.
pub const ALLOW_HEADERS: &str = "content-type,x-reekolect-visitor";
/// The answer headers scripts may read.
pub const EXPOSE_HEADERS: &str = "x-request-id,retry-after";
/// How long browsers may cache a preflight, in seconds.
pub const MAX_AGE: &str = "600";

/// The CORS headers of an answer to `origin` (a preflight's when `preflight`), for `allowed`
/// origins (any when empty).
pub fn headers(allowed: &[String], origin: Option<&str>, preflight: bool) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    let allow_origin = if allowed.is_empty() {
        Some("*".to_string())
    } else {
        origin.filter(|origin| allowed.iter().any(|a| a == origin)).map(str::to_string)
    };
    if let Some(value) = allow_origin {
        headers.push(("access-control-allow-origin", value));
    }
    if !allowed.is_empty() {
        headers.push(("vary", "origin".to_string()));
    }
    if preflight {
        headers.push(("access-control-allow-methods", ALLOW_METHODS.to_string()));
        headers.push(("access-control-allow-headers", ALLOW_HEADERS.to_string()));
        headers.push(("access-control-max-age", MAX_AGE.to_string()));
    } else {
        headers.push(("access-control-expose-headers", EXPOSE_HEADERS.to_string()));
    }
    headers
}
