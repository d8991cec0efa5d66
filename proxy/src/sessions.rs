//! TLS session resumption for upstream connections that open in bursts.
//!
//! A TLS 1.3 ticket is good for one resumption (RFC 8446 §C.4; rustls never offers one twice),
//! and a server sends a few (rustls and OpenSSL send 2) after each handshake. rustls's own
//! `ClientSessionMemoryCache` keeps at most 8 per server name: when the load rises and the
//! pools open a hundred upstream connections at once, 8 resume and the rest do a full
//! handshake (a certificate chain verified, a signature checked, on both sides). Under the
//! production-shape benchmark 19–25 % of our handshakes resumed. This store keeps up to
//! [`TICKETS_PER_SERVER`] tickets per name, so a burst as large as a worker's pool resumes
//! (as far as the server still knows the tickets it issued).

use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The most TLS 1.3 tickets kept per server name. A burst of new connections resumes up to
/// this many; each ticket costs a few hundred bytes, and the tickets of one connection share
/// its server's certificate chain, so a full store of a real API's tickets holds well under 1 MB.
pub(crate) const TICKETS_PER_SERVER: usize = 256;

/// The most server names whose tickets are kept (the upstream's, in practice).
const MAX_SERVERS: usize = 8;

/// A [`ClientSessionStore`]: TLS 1.3 tickets, up to [`TICKETS_PER_SERVER`] per server name, the
/// newest used first (the one the server most likely still knows); the rest (the key
/// exchange group a server chose, a TLS 1.2 session) in rustls's own memory cache.
#[derive(Debug)]
pub(crate) struct TicketStore {
    tickets: Mutex<HashMap<ServerName<'static>, VecDeque<Tls13ClientSessionValue>>>,
    others: ClientSessionMemoryCache,
}

impl Default for TicketStore {
    fn default() -> Self {
        Self { tickets: Mutex::default(), others: ClientSessionMemoryCache::new(MAX_SERVERS) }
    }
}

impl ClientSessionStore for TicketStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.others.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.others.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.others.set_tls12_session(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.others.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.others.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(&self, server_name: ServerName<'static>, value: Tls13ClientSessionValue) {
        let mut tickets = self.tickets.lock().unwrap_or_else(|e| e.into_inner());
        if tickets.len() >= MAX_SERVERS && !tickets.contains_key(&server_name) {
            tickets.clear();
        }
        let kept = tickets.entry(server_name).or_default();
        if kept.len() >= TICKETS_PER_SERVER {
            kept.pop_front();
        }
        kept.push_back(value);
    }

    fn take_tls13_ticket(&self, server_name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        let mut tickets = self.tickets.lock().unwrap_or_else(|e| e.into_inner());
        tickets.get_mut(server_name)?.pop_back()
    }
}
