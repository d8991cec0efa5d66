//! `reekolect-proxy healthcheck`: asks a running proxy's `GET /healthz`, for container
//! health checks (a `FROM scratch` image has no curl). Succeeds when the answer is 2xx in time.

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The URL to check when none is given: `/healthz` at the address `serve` listens on
/// (`listen`, from `REEKOLECT_LISTEN` like `serve`'s), an unspecified address (`0.0.0.0`,
/// `::`) asked on the loopback of its family.
pub fn default_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/healthz", SocketAddr::new(ip, listen.port()))
}

/// `GET url` (plain `http://` only: the check runs beside the proxy) within `timeout`;
/// `Ok` on a 2xx answer, else what went wrong.
pub async fn check(url: &str, timeout: Duration) -> Result<(), String> {
    tokio::time::timeout(timeout, get(url))
        .await
        .map_err(|_| format!("{url}: no answer within {}", humantime::format_duration(timeout)))?
}

async fn get(url: &str) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|err| format!("{url:?} is not a URL ({err})"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("{url:?}: only http:// URLs can be checked"));
    }
    let authority = uri.authority().ok_or_else(|| format!("{url:?} has no host"))?.clone();
    let address = format!("{}:{}", authority.host().trim_matches(['[', ']']), authority.port_u16().unwrap_or(80));
    let stream = tokio::net::TcpStream::connect(&address).await.map_err(|err| format!("{url}: {err}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|err| format!("{url}: {err}"))?;
    tokio::spawn(connection);
    let request = Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(hyper::header::HOST, authority.as_str())
        .header(hyper::header::USER_AGENT, concat!("reekolect-proxy-healthcheck/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new())
        .map_err(|err| format!("{url}: {err}"))?;
    let response = sender.send_request(request).await.map_err(|err| format!("{url}: {err}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_asks_the_loopback_for_an_unspecified_address() {
        assert_eq!(default_url("0.0.0.0:8080".parse().unwrap()), "http://127.0.0.1:8080/healthz");
        assert_eq!(default_url("[::]:9000".parse().unwrap()), "http://[::1]:9000/healthz");
        assert_eq!(default_url("10.1.2.3:80".parse().unwrap()), "http://10.1.2.3:80/healthz");
    }
}
