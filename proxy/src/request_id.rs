//! The request id: kept from the request's `x-request-id`, else made (UUID v4 shaped), and
//! echoed in the answer; the log line carries it ([`crate::access_log`]).

use axum::http::{HeaderName, HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};

/// The request id header, set when absent and echoed in every answer.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Sets the id of a request that has none (outside the log line's layer, so the line has it).
pub(crate) fn set_layer() -> SetRequestIdLayer<MakeRandomId> {
    SetRequestIdLayer::new(REQUEST_ID, MakeRandomId)
}

/// Echoes the request's id in its answer.
pub(crate) fn propagate_layer() -> PropagateRequestIdLayer {
    PropagateRequestIdLayer::new(REQUEST_ID)
}

/// Makes request ids shaped like UUID v4 from the thread's CSPRNG: `tower_http`'s
/// `MakeRequestUuid` asks the kernel (`getrandom`) once per request, a syscall on every request's path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MakeRandomId;

impl MakeRequestId for MakeRandomId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        Some(RequestId::new(new_request_id()))
    }
}

/// A new request id (UUID v4 shaped, from the thread's CSPRNG).
fn new_request_id() -> HeaderValue {
    HeaderValue::from_bytes(&uuid_v4_bytes(rand::random::<u128>()))
        .expect("hex digits and dashes are a valid header value")
}

/// `bits` as a UUID v4 (version and variant bits set), `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
#[cfg(test)]
fn uuid_v4(bits: u128) -> String {
    String::from_utf8(uuid_v4_bytes(bits).to_vec()).expect("hex digits and dashes are ASCII")
}

/// [`uuid_v4`]'s bytes.
fn uuid_v4_bytes(bits: u128) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    /// Where each byte's two digits go, around the dashes at 8, 13, 18 and 23.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    // A byte at a time (two digits), from the big-endian bytes, at positions known at
    // compile time (the loop unrolls): u128 shifts per digit cost a tenth of a proxied
    // request's instructions.
    let mut out = [b'-'; 36];
    for (byte, at) in bits.to_be_bytes().into_iter().zip(AT) {
        out[at] = HEX[usize::from(byte >> 4)];
        out[at + 1] = HEX[usize::from(byte & 0xf)];
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_uuid_v4_shaped() {
        assert_eq!(super::uuid_v4(0), "00000000-0000-4000-8000-000000000000");
        assert_eq!(super::uuid_v4(u128::MAX), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(super::uuid_v4(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef), "01234567-89ab-4def-8123-456789abcdef");
    }
}
