//! The lead PUT to a plain-http upstream (the embedded mock, a sidecar) over a small
//! HTTP/1.1 client of its own: the request written in one `write` from a head built once,
//! the answer read on the same task (no connection task, no channel between the two, no
//! pool keyed by hashing the URL), keep-alive connections kept per thread.
//!
//! What it speaks: answers framed by `Content-Length`, by `Transfer-Encoding: chunked` or
//! by the end of the connection; `1xx` interim answers skipped; `Connection: close` and
//! HTTP/1.0 honoured (the connection is not reused). A connection taken from the pool that
//! fails before any answer (the upstream closed it while idle) is replaced by a new one
//! once, as hyper's pooled client does; https and proxies go through reqwest instead.

use crate::threads::{thread_slot, Padded};
use axum::http::{StatusCode, Uri};
use bytes::{Buf, Bytes, BytesMut};
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Idle connections older than this are not reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Most idle connections kept per thread.
const MAX_IDLE_PER_THREAD: usize = 256;
/// Lists of idle connections: a thread's is the one at its slot (modulo this), a lock only it
/// takes (unless threads outnumber the lists) on a cache line of its own.
const IDLE_LISTS: usize = 16;
/// Largest answer head read, in bytes.
const MAX_HEAD: usize = 64 * 1024;
/// The read buffer a connection starts with (and keeps while idle); answers' bodies up to
/// this size are copied out of it.
const READ_BUFFER: usize = 4096;
/// Most header lines in an answer.
const MAX_HEADERS: usize = 64;

/// Why an exchange failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No connection could be made.
    Connect(io::Error),
    /// The request could not be sent, or the connection ended before an answer's head.
    Send(io::Error),
    /// The answer's head is not HTTP/1.
    Malformed(&'static str),
    /// The answer's body did not come whole (closed, reset, malformed chunk).
    Body,
    /// The answer's body is larger than allowed.
    TooLarge,
    /// A `3xx` answer, with its `Location` if any: never followed (the connection is dropped).
    Redirected(Option<String>),
}

impl Failure {
    /// The cause, for "upstream unreachable: …".
    pub(crate) fn cause(&self) -> String {
        match self {
            Failure::Connect(err) | Failure::Send(err) => err.to_string(),
            Failure::Malformed(what) => (*what).to_string(),
            Failure::Body => "connection closed while answering".to_string(),
            Failure::TooLarge => "answer too large".to_string(),
            Failure::Redirected(_) => "redirected".to_string(),
        }
    }
}

/// A request to send: its bytes from `start` on (see [`DirectPut::request`]).
#[derive(Debug)]
pub(crate) struct PutRequest {
    buf: Vec<u8>,
    start: usize,
}

/// Where an exchange got to: the answer's status and when its head came, once it did.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) head: Option<(StatusCode, Instant)>,
}

/// The PUT of lead bodies to one plain-http URL, with its idle connections.
#[derive(Debug)]
pub(crate) struct DirectPut {
    host: String,
    port: u16,
    connect_timeout: Duration,
    /// `PUT … HTTP/1.1` and every header but the last, `content-length: `.
    head: Vec<u8>,
    /// Idle connections with the slot of the thread that opened them (see [`thread_slot`]):
    /// a connection is registered with that thread's event loop, so it is only used there.
    idle: [Padded<Mutex<Vec<Idle>>>; IDLE_LISTS],
}

/// An idle connection: its stream, its read buffer, since when it is idle, its thread's slot.
type Idle = (TcpStream, BytesMut, Instant, usize);

impl DirectPut {
    /// For `uri` (http, with a host), sending `headers` (name, value; checked to be valid
    /// header values by the caller) after `host`.
    pub(crate) fn new(uri: &Uri, headers: &[(&str, &str)], connect_timeout: Duration) -> Option<Self> {
        if uri.scheme_str() != Some("http") {
            return None;
        }
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(80);
        let authority = match uri.port_u16() {
            Some(port) if port != 80 => format!("{}:{port}", uri.host()?),
            _ => uri.host()?.to_string(),
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = format!("PUT {path} HTTP/1.1\r\nhost: {authority}\r\n");
        for (name, value) in headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("content-length: ");
        Some(Self { host, port, connect_timeout, head: head.into_bytes(), idle: Default::default() })
    }

    /// The request with the body `write_body` writes, in one buffer: the body is written
    /// after room for the head, whose `content-length` is then known, and the head is put
    /// right before it (no copy of the body).
    pub(crate) fn request(&self, write_body: impl FnOnce(&mut Vec<u8>)) -> PutRequest {
        // The head, up to 20 digits of length and the blank line.
        let room = self.head.len() + 20 + 4;
        let mut buf = Vec::with_capacity(room + 512);
        buf.resize(room, 0);
        write_body(&mut buf);
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(buf.len() - room).as_bytes();
        let start = room - (self.head.len() + digits.len() + 4);
        let mut at = start;
        for part in [&self.head[..], digits, b"\r\n\r\n"] {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        PutRequest { buf, start }
    }

    /// PUTs `request`; the answer's status and body (at most `max_body` bytes). `progress`
    /// says whether the head came, for when the caller's deadline cuts this short. `now`: a
    /// recent instant (when the call began), for the idle connections' age.
    pub(crate) async fn put(
        &self,
        request: &PutRequest,
        max_body: usize,
        progress: &mut Progress,
        now: Instant,
    ) -> Result<(StatusCode, Bytes), Failure> {
        let request = &request.buf[request.start..];
        // A pooled connection the upstream closed while idle fails before any answer:
        // once, a new connection. A connection error: once more (nothing was sent).
        let (mut stream, mut buf, mut reused) = match self.checkout(now) {
            Some((stream, buf)) => (stream, buf, true),
            None => (self.connect().await?, BytesMut::with_capacity(READ_BUFFER), false),
        };
        let mut retried = false;
        loop {
            buf.clear();
            match exchange(&mut stream, &mut buf, request, max_body, progress).await {
                Ok((status, answer, reusable)) => {
                    if reusable {
                        // Idle since the call began: a little older than it is.
                        self.checkin(stream, buf, now);
                    }
                    return Ok((status, answer));
                }
                Err(Failure::Send(_)) if reused && !retried => {}
                Err(failure) => return Err(failure),
            }
            retried = true;
            reused = false;
            stream = match self.connect().await {
                Ok(stream) => stream,
                Err(Failure::Connect(_)) => self.connect().await?,
                Err(failure) => return Err(failure),
            };
        }
    }

    /// A new connection (`TCP_NODELAY`, keep-alive probes after 30 s), within the connect
    /// timeout; a failure is retried once by [`Self::put`].
    async fn connect(&self) -> Result<TcpStream, Failure> {
        let connect = TcpStream::connect((self.host.as_str(), self.port));
        let stream = match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => return Err(Failure::Connect(err)),
            Err(_) => return Err(Failure::Connect(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))),
        };
        let _ = stream.set_nodelay(true);
        let keepalive = socket2::TcpKeepalive::new().with_time(Duration::from_secs(30));
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
        Ok(stream)
    }

    /// The most recent idle connection of this thread, if one is young enough.
    fn checkout(&self, now: Instant) -> Option<(TcpStream, BytesMut)> {
        let slot = thread_slot();
        let mut list = self.idle[slot % IDLE_LISTS].0.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let at = list.iter().rposition(|idle| idle.3 == slot)?;
            let (stream, buf, since, _) = list.remove(at);
            if now.saturating_duration_since(since) < IDLE_TIMEOUT {
                return Some((stream, buf));
            }
        }
    }

    /// Keeps `stream` for this thread's next request.
    fn checkin(&self, stream: TcpStream, buf: BytesMut, since: Instant) {
        let slot = thread_slot();
        let mut list = self.idle[slot % IDLE_LISTS].0.lock().unwrap_or_else(|e| e.into_inner());
        if list.len() < MAX_IDLE_PER_THREAD || list.iter().filter(|idle| idle.3 == slot).count() < MAX_IDLE_PER_THREAD {
            list.push((stream, buf, since, slot));
        }
    }
}

/// How an answer's body is delimited.
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

/// One request and its answer on `stream`: (status, body, whether the connection can be reused).
/// `buf`: the connection's (empty) read buffer.
async fn exchange(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    request: &[u8],
    max_body: usize,
    progress: &mut Progress,
) -> Result<(StatusCode, Bytes, bool), Failure> {
    stream.write_all(request).await.map_err(Failure::Send)?;
    let (status, framing, keep_alive) = 'head: loop {
        if read_more(stream, buf).await.map_err(Failure::Send)? == 0 {
            let closed = io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before an answer");
            return Err(if buf.is_empty() {
                Failure::Send(closed)
            } else {
                Failure::Malformed("incomplete answer head")
            });
        }
        // Interim (1xx) answers come before the one that counts.
        while let Some((len, status, framing, keep_alive)) = parse_head(buf)? {
            if status.is_redirection() {
                progress.head = Some((status, Instant::now()));
                return Err(Failure::Redirected(location(&buf[..len])));
            }
            buf.advance(len);
            if !status.is_informational() {
                progress.head = Some((status, Instant::now()));
                break 'head (status, framing, keep_alive);
            }
        }
        if buf.len() > MAX_HEAD {
            return Err(Failure::Malformed("answer head too large"));
        }
    };
    let body = read_body(stream, buf, framing, max_body).await?;
    // Bytes beyond the answer: the connection is in an unknown state.
    Ok((status, body, keep_alive && buf.is_empty()))
}

/// Reads what the stream has into `buf` (growing it); 0 at the end of the stream.
async fn read_more(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(4096);
    }
    stream.read_buf(buf).await
}

/// Reads until `buf` holds at least `len` bytes.
async fn fill(stream: &mut TcpStream, buf: &mut BytesMut, len: usize) -> Result<(), Failure> {
    buf.reserve(len.saturating_sub(buf.len()));
    while buf.len() < len {
        if read_more(stream, buf).await.map_err(|_| Failure::Body)? == 0 {
            return Err(Failure::Body);
        }
    }
    Ok(())
}

/// The next CRLF-ended line (without its CRLF), taken from `buf`.
async fn line(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<BytesMut, Failure> {
    loop {
        if let Some(at) = buf.windows(2).position(|pair| pair == b"\r\n") {
            let line = buf.split_to(at);
            buf.advance(2);
            return Ok(line);
        }
        if buf.len() > 4096 || read_more(stream, buf).await.map_err(|_| Failure::Body)? == 0 {
            return Err(Failure::Body);
        }
    }
}

/// The answer's body as `framing` delimits it, the start of it already in `buf`.
async fn read_body(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    framing: Framing,
    max_body: usize,
) -> Result<Bytes, Failure> {
    match framing {
        Framing::None => Ok(Bytes::new()),
        Framing::Length(len) if len > max_body => Err(Failure::TooLarge),
        Framing::Length(len) => {
            fill(stream, buf, len).await?;
            if len <= READ_BUFFER {
                // Copied out: the buffer stays the connection's, for its next answer.
                let body = Bytes::copy_from_slice(&buf[..len]);
                buf.advance(len);
                Ok(body)
            } else {
                Ok(buf.split_to(len).freeze())
            }
        }
        Framing::UntilClose => loop {
            if buf.len() > max_body {
                return Err(Failure::TooLarge);
            }
            if read_more(stream, buf).await.map_err(|_| Failure::Body)? == 0 {
                return Ok(buf.split().freeze());
            }
        },
        Framing::Chunked => {
            let mut body = BytesMut::new();
            loop {
                let size_line = line(stream, buf).await?;
                // `size[;extensions]`, in hex.
                let size = size_line[..].split(|b| *b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size).map_err(|_| Failure::Body)?.trim();
                let size = usize::from_str_radix(size, 16).map_err(|_| Failure::Body)?;
                if size == 0 {
                    // Trailers, up to an empty line.
                    while !line(stream, buf).await?.is_empty() {}
                    return Ok(body.freeze());
                }
                if body.len().saturating_add(size) > max_body {
                    return Err(Failure::TooLarge);
                }
                fill(stream, buf, size + 2).await?;
                body.extend_from_slice(&buf[..size]);
                if &buf[size..size + 2] != b"\r\n" {
                    return Err(Failure::Body);
                }
                buf.advance(size + 2);
            }
        }
    }
}

/// The `Location` of a complete answer head.
fn location(head: &[u8]) -> Option<String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut answer = httparse::Response::new(&mut headers);
    answer.parse(head).ok()?;
    let value = answer.headers.iter().find(|header| header.name.eq_ignore_ascii_case("location"))?.value;
    Some(text(value).to_string())
}

/// A header's value as text, empty when it is not UTF-8.
fn text(value: &[u8]) -> &str {
    std::str::from_utf8(value).unwrap_or("")
}

/// Parses one answer head at the start of `buf`: its length, status, framing and whether
/// the connection stays open; `None` when incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<(usize, StatusCode, Framing, bool)>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut answer = httparse::Response::new(&mut headers);
    let len = match answer.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Failure::Malformed("invalid HTTP answer")),
    };
    let status = answer.code.and_then(|code| StatusCode::from_u16(code).ok());
    let status = status.ok_or(Failure::Malformed("invalid HTTP status"))?;
    let mut keep_alive = answer.version == Some(1);
    let mut length: Option<usize> = None;
    let mut chunked = None;
    // Only the values of the three headers used here are decoded: the rest of the answer's
    // head is not relayed, only its body.
    for header in answer.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = text(header.value);
            let parsed = value.trim().parse::<usize>().map_err(|_| Failure::Malformed("invalid content-length"))?;
            if length.is_some_and(|known| known != parsed) {
                return Err(Failure::Malformed("conflicting content-length"));
            }
            length = Some(parsed);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding says whether the body is chunked (RFC 9112, 6.3).
            let last = text(header.value).rsplit(',').next().unwrap_or("").trim();
            chunked = Some(last.eq_ignore_ascii_case("chunked"));
        } else if header.name.eq_ignore_ascii_case("connection")
            && text(header.value).split(',').any(|token| token.trim().eq_ignore_ascii_case("close"))
        {
            keep_alive = false;
        }
    }
    let framing = if status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED
    {
        Framing::None
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::UntilClose,
            (None, Some(length)) => Framing::Length(length),
            (None, None) => Framing::UntilClose,
        }
    };
    if framing == Framing::UntilClose {
        keep_alive = false;
    }
    Ok(Some((len, status, framing, keep_alive)))
}

#[cfg(test)]
mod tests {
    use super::{DirectPut, IDLE_LISTS};
    use crate::threads::thread_slot;
    use std::time::{Duration, Instant};

    /// The request's bytes: the head, the length of the body written, the body.
    #[test]
    fn requests_put_their_head_before_the_body() {
        let uri = "http://upstream.example:8080/inbox/direct/lead".parse().unwrap();
        let direct = DirectPut::new(&uri, &[("x-bp-token", "t")], Duration::from_secs(1)).unwrap();
        for body in ["", "{}", &"x".repeat(12_345)] {
            let request = direct.request(|out| out.extend_from_slice(body.as_bytes()));
            let expected = format!(
                "PUT /inbox/direct/lead HTTP/1.1\r\nhost: upstream.example:8080\r\nx-bp-token: t\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            assert_eq!(String::from_utf8_lossy(&request.buf[request.start..]), expected);
        }
    }

    /// An idle connection is only handed back on the thread that opened it, also when another
    /// thread's slot shares its list.
    #[tokio::test]
    async fn idle_connections_stay_on_their_thread() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}/inbox/direct/lead", listener.local_addr().unwrap()).parse().unwrap();
        let direct = DirectPut::new(&uri, &[], Duration::from_secs(1)).unwrap();
        direct.checkin(direct.connect().await.unwrap(), bytes::BytesMut::new(), Instant::now());
        let here = thread_slot();
        // Threads take slots in turn (other tests' too): new threads until one shares this list.
        let mut shared = false;
        for _ in 0..10_000 {
            let (slot, got) = std::thread::scope(|scope| {
                scope.spawn(|| (thread_slot(), direct.checkout(Instant::now()).is_some())).join().unwrap()
            });
            assert!(!got, "handed to the thread of slot {slot}, opened on {here}'s");
            if slot % IDLE_LISTS == here % IDLE_LISTS {
                shared = true;
                break;
            }
        }
        assert!(shared);
        assert!(direct.checkout(Instant::now()).is_some());
        assert!(direct.checkout(Instant::now()).is_none());
    }
}
