//! The id each update carries, so that the proxy delivers it once.
//!
//! The companion makes an id when an update enters its outbox and keeps it across retries
//! and pages; the request carries it as `?updateId=` (the query string: the keepalive
//! `POST` is a CORS simple request, which can carry no custom header, and the body stays
//! the lead as the Reekolect API takes it). The proxy forwards an id once and answers a
//! repeat with the first delivery's answer, without calling the upstream again.

use crate::FieldError;

/// The query parameter that carries the id.
pub const PARAM: &str = "updateId";

/// The id's length: 32 hexadecimal digits (128 bits).
pub const DIGITS: usize = 32;

/// The rule an id must follow, as a validation error states it.
pub const RULE: &str = "must be 32 hexadecimal digits (the update's id, made once by the companion)";

/// The raw value of the first `updateId=` in `query` (the part after `?`), if any. Not
/// percent-decoded: a valid id has only hexadecimal digits, so any escape makes it invalid.
pub fn find_in_query(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| pair.strip_prefix(PARAM)?.strip_prefix('='))
}

/// The id's 128 bits (digits of either case), or the error naming the field and the rule.
///
/// Read as two halves of 16 digits, each a `u64`: `u128::from_str_radix` multiplies a
/// `u128` with overflow checks per digit, several times the work (on every proxied update).
pub fn parse(text: &str) -> Result<u128, FieldError> {
    let half = |digits: &[u8]| digits.iter().try_fold(0u64, |half, &digit| Some(half << 4 | hex_value(digit)?));
    let bits = match text.as_bytes() {
        digits if digits.len() == DIGITS => half(&digits[..DIGITS / 2]).zip(half(&digits[DIGITS / 2..])),
        _ => None,
    };
    bits.map(|(high, low)| u128::from(high) << 64 | u128::from(low)).ok_or_else(|| FieldError::new(PARAM, RULE))
}

/// A hexadecimal digit's value (either case), or `None`.
fn hex_value(digit: u8) -> Option<u64> {
    let value = match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => return None,
    };
    Some(u64::from(value))
}

#[cfg(test)]
mod tests {
    use super::{find_in_query, parse, PARAM};

    #[test]
    fn an_id_is_32_hex_digits_of_either_case() {
        assert_eq!(parse("0123456789abcdef0123456789ABCDEF"), Ok(0x0123456789abcdef0123456789abcdef));
        for bad in [
            "",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789abcdef0123456789abcdeg",
            "+123456789abcdef0123456789abcdef",
            "0123456789abcdef-123456789abcdef",
            "%30123456789abcdef0123456789abcd",
        ] {
            let error = parse(bad).unwrap_err();
            assert_eq!(error.field, PARAM, "{bad:?}");
            assert!(error.rule.contains("32 hexadecimal digits"), "{bad:?}");
        }
    }

    #[test]
    fn the_id_is_found_in_the_query() {
        assert_eq!(find_in_query("updateId=abc"), Some("abc"));
        assert_eq!(find_in_query("visitor=x&updateId=abc&updateId=def"), Some("abc"));
        assert_eq!(find_in_query("updateId="), Some(""));
        assert_eq!(find_in_query("visitor=x"), None);
        assert_eq!(find_in_query("xupdateId=abc&updateIds=1"), None);
        assert_eq!(find_in_query(""), None);
    }
}
