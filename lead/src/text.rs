//! Number and list formatting without `core::fmt`: the companion's bundle leaves the
//! formatting machinery out when nothing calls it (measured with twiggy).

/// `n` in decimal, as `n.to_string()` writes it.
pub fn decimal(n: u64) -> String {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    digits[at..].iter().map(|&d| d as char).collect()
}

/// `parts` with `separator` between them, as `[..].join(separator)` writes it.
pub fn join<'a>(parts: impl IntoIterator<Item = &'a str>, separator: &str) -> String {
    let mut joined = String::new();
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            joined.push_str(separator);
        }
        joined.push_str(part);
    }
    joined
}

/// Whether `needle` occurs in `haystack`, as `haystack.contains(needle)` says, by a plain
/// scan: the needles are a few bytes, and std's two-way substring search cost 0.6 KB of the
/// companion's bundle (measured with twiggy).
pub fn contains(haystack: &str, needle: &str) -> bool {
    needle.is_empty() || haystack.as_bytes().windows(needle.len()).any(|window| window == needle.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_writes_what_to_string_writes() {
        for n in [0, 1, 9, 10, 99, 100, 4096, 1_000_000_007, u64::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
    }

    #[test]
    fn join_writes_what_slice_join_writes() {
        let cases: [&[&str]; 4] = [&[], &["a"], &["a", "b"], &["", "x", ""]];
        for parts in cases {
            assert_eq!(join(parts.iter().copied(), ", "), parts.join(", "));
        }
    }

    #[test]
    fn contains_says_what_str_contains_says() {
        let texts = ["", "a", "cc-number", "one-time-code", "xx..yy", "ééuuid", "UUID", "ab"];
        let needles = ["", "a", "cc-", "password", "one-time-code", "..", "uuid", "abc", "é"];
        for text in texts {
            for needle in needles {
                assert_eq!(contains(text, needle), text.contains(needle), "{text:?} {needle:?}");
            }
        }
    }
}
