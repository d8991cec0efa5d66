//! A body read whole: its frames joined, copied only when there are several (an answer or a
//! lead mostly comes as one), at most a limit. Used for upstream answers ([`crate::pool`])
//! and for the answers the once-memory keeps ([`crate::deliveries`]).

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

/// Why an answer's body was not read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Larger than the limit.
    TooLarge,
    /// It did not come whole (closed, reset, broken chunked framing).
    Broken,
}

/// The frames of `body`, joined (copied only when there are several).
pub(crate) async fn read_whole<B>(body: &mut B, limit: usize) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    if body.size_hint().exact().is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| BodyError::Broken)?.into_data() else { continue };
        if first.len() + joined.as_ref().map_or(0, BytesMut::len) + data.len() > limit {
            return Err(BodyError::TooLarge);
        }
        match &mut joined {
            Some(joined) => joined.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let mut both = BytesMut::with_capacity(first.len() + data.len());
                both.extend_from_slice(&first);
                both.extend_from_slice(&data);
                first = Bytes::new();
                joined = Some(both);
            }
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
}

#[cfg(test)]
mod tests {
    use super::{read_whole, BodyError};
    use axum::body::Body;
    use bytes::Bytes;

    async fn whole(mut body: Body, limit: usize) -> Result<Bytes, BodyError> {
        read_whole(&mut body, limit).await
    }

    #[tokio::test]
    async fn a_body_is_read_whole_in_one_frame_or_more() {
        assert_eq!(whole(Body::from("{}"), 2).await.unwrap(), "{}");
        assert_eq!(whole(Body::empty(), 0).await.unwrap(), "");
        let frames = || ["", "ab", "", "cd"].map(|frame| Ok::<_, std::io::Error>(Bytes::from_static(frame.as_bytes())));
        assert_eq!(whole(Body::from_stream(futures_util::stream::iter(frames())), 4).await.unwrap(), "abcd");
        assert!(matches!(
            whole(Body::from_stream(futures_util::stream::iter(frames())), 3).await,
            Err(BodyError::TooLarge)
        ));
        assert!(matches!(whole(Body::from("{}"), 1).await, Err(BodyError::TooLarge)));
        let failing = [Ok(Bytes::from_static(b"ab")), Err(std::io::Error::other("gone"))];
        assert!(matches!(
            whole(Body::from_stream(futures_util::stream::iter(failing)), 9).await,
            Err(BodyError::Broken)
        ));
    }
}
