//! Running a router on a listener, with graceful shutdown.

use crate::watchdog::{watchdog, Watched};
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use axum::response::Response;
use axum::serve::Listener;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulConnection;
use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tower::{Service, ServiceExt};

/// An answer to a request, as the router's routes and [`Routes::lead`] are: a service of
/// its own type (not boxed), which each connection calls in place (see [`Served::serve`]).
pub(crate) trait LeadService:
    Service<Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static> + Clone + Send + Sync + 'static
{
}

impl<S> LeadService for S where
    S: Service<Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// The proxy as served: the router, and `PUT`/`POST /lead` as a service of its own (the
/// same handlers, route layers, state and layers as the router's `/lead`, composed once by
/// `crate::routes`, without the router's path matching and its boxed service per layer).
#[derive(Clone)]
pub(crate) struct Routes<L> {
    pub(crate) router: Router,
    pub(crate) lead: L,
}

/// A server running on a tokio task. Dropping the handle (or calling
/// [`ServerHandle::shutdown`]) stops it gracefully.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl ServerHandle {
    /// The address the server is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the base URL of the server.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits for that.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(err) => Err(io::Error::other(err)),
        }
    }

    /// A handle for a server on `addr` run by `task`, which stops once `stop` fires (or is dropped).
    pub(crate) fn from_parts(addr: SocketAddr, stop: oneshot::Sender<()>, task: JoinHandle<io::Result<()>>) -> Self {
        Self { addr, stop: Some(stop), task }
    }

    /// Waits until the server stops (it only stops on error or shutdown).
    pub async fn wait(mut self) -> io::Result<()> {
        match (&mut self.task).await {
            Ok(result) => result,
            Err(err) => Err(io::Error::other(err)),
        }
    }
}

/// Serves any axum `router` on `listener` on a new tokio task (used for the proxy, the
/// mock, and stand-in upstreams in tests), with the peer address as `ConnectInfo`.
pub fn spawn_router(listener: TcpListener, router: Router) -> io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                // Resolves on `shutdown()` and when the handle is dropped.
                let _ = stopped.await;
            })
            .await
    });
    Ok(ServerHandle { addr, stop: Some(stop), task })
}

/// Serves the proxy's `router` on `listener` with `workers` threads, each running a single-threaded
/// tokio runtime: this one (the caller's) and `workers - 1` new ones. With several, this
/// runtime accepts and hands each connection to the next thread in turn; a connection then
/// stays on its thread, with its requests and the upstream calls they make (see `forward`),
/// so requests are not passed between threads the way a work-stealing runtime does. State
/// such as rate limiters, the breaker and metrics is shared (the proxy's clones share it).
/// Connections are served by hyper's HTTP/1 server, each request by the router (`PUT` and
/// `POST /lead` by the same route's service without the router, see [`Routes`]); a client
/// has `header_timeout` to send a request's head, and an idle connection is kept that long.
pub(crate) fn spawn_proxy_on<L: LeadService>(
    listener: TcpListener,
    routes: Routes<L>,
    header_timeout: Duration,
    workers: usize,
) -> io::Result<ServerHandle> {
    let proxy = Served { router: routes.router, lead: routes.lead, header_timeout };
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    if workers <= 1 {
        let task = tokio::spawn(serve_proxy(listener, proxy, async move {
            // Resolves on `shutdown()` and when the handle is dropped.
            let _ = stopped.await;
        }));
        return Ok(ServerHandle { addr, stop: Some(stop), task });
    }
    let (stop_all, stopping) = watch::channel(false);
    let stopped_all = |mut stopping: watch::Receiver<bool>| async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let mut handoff = Vec::with_capacity(workers);
    let (to_here, here) = mpsc::unbounded_channel();
    handoff.push(to_here);
    let mut threads = Vec::with_capacity(workers - 1);
    for index in 1..workers {
        let (to_thread, incoming) = mpsc::unbounded_channel();
        handoff.push(to_thread);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (proxy, stopping) = (proxy.clone(), stopping.clone());
        let thread = std::thread::Builder::new()
            .name(format!("reekolect-worker-{index}"))
            .spawn(move || runtime.block_on(serve_proxy(Handed { incoming, addr }, proxy, stopped_all(stopping))))?;
        threads.push(thread);
    }
    let task = tokio::spawn(async move {
        let serving = serve_proxy(Handed { incoming: here, addr }, proxy, stopped_all(stopping));
        let control = async move {
            tokio::select! {
                // Resolves on `shutdown()` and when the handle is dropped.
                _ = stopped => {}
                () = hand_out(listener, handoff) => {}
            }
            let _ = stop_all.send(true);
        };
        let (result, ()) = tokio::join!(serving, control);
        let joined = tokio::task::spawn_blocking(move || threads.into_iter().map(|t| t.join()).collect::<Vec<_>>())
            .await
            .map_err(io::Error::other)?;
        for thread in joined {
            thread.map_err(|_| io::Error::other("a worker thread panicked"))??;
        }
        result
    });
    Ok(ServerHandle { addr, stop: Some(stop), task })
}

/// Serves the connections `listener` accepts with hyper's HTTP/1 server until `stop`
/// resolves, then stops accepting and lets in-flight requests finish (idle connections
/// are closed), as `axum::serve`'s graceful shutdown does. Each connection has a watchdog
/// task keeping its time limits and passing the shutdown on ([`crate::watchdog`]).
async fn serve_proxy<A, L>(mut listener: A, proxy: Served<L>, stop: impl Future<Output = ()>) -> io::Result<()>
where
    A: Listener<Io = TcpStream, Addr = SocketAddr>,
    L: LeadService,
{
    let (stop_all, stopping) = watch::channel(false);
    // Every connection's task holds a sender: `recv` ends once all have ended.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    let mut stop = std::pin::pin!(stop);
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1.keep_alive(true);
    http1.writev(false);
    let header_timeout = proxy.header_timeout;
    let proxy = Arc::new(proxy);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let watched = Watched::new(header_timeout);
        let service = {
            let (proxy, watched) = (proxy.clone(), watched.clone());
            // The connection's own `/lead` service, called in place for each of its requests
            // (see [`Served::serve`]): cloned once per connection rather than per request.
            let lead = RefCell::new(proxy.lead.clone());
            hyper::service::service_fn(move |request| proxy.clone().serve(&lead, request, peer, watched.clone()))
        };
        let connection = http1.serve_connection(TokioIo::new(stream), service);
        let task = tokio::spawn(serve_connection(connection, watched.clone(), open.clone(), peer));
        tokio::spawn(watchdog(watched, task.abort_handle(), stopping.clone()));
    }
    drop(listener);
    let _ = stop_all.send(true);
    drop(open);
    let _ = all_closed.recv().await;
    Ok(())
}

/// One connection until it ends (or its watchdog aborts it): shut down gracefully once the
/// server stops; `_open` is dropped at the end, as the server's count of open connections.
async fn serve_connection<C>(connection: C, watched: Arc<Watched>, _open: mpsc::Sender<()>, peer: SocketAddr)
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    /// Ends the watchdog with the connection, however it ends.
    struct Closing(Arc<Watched>);
    impl Drop for Closing {
        fn drop(&mut self) {
            self.0.close();
        }
    }
    let _closing = Closing(watched.clone());
    let mut connection = std::pin::pin!(connection);
    let (mut registered, mut shutting_down) = (false, false);
    let served = std::future::poll_fn(|cx| {
        if !registered {
            watched.set_waker(cx.waker());
            registered = true;
        }
        if !shutting_down && watched.stopping() {
            shutting_down = true;
            connection.as_mut().graceful_shutdown();
        }
        connection.as_mut().poll(cx)
    });
    if let Err(err) = served.await {
        tracing::trace!("connection from {peer}: {err}");
    }
}

/// The router as served: with the peer address (`ConnectInfo`) and the connection's
/// [`Watched`] record in each request's extensions.
#[derive(Clone)]
struct Served<L> {
    router: Router,
    /// `PUT`/`POST /lead`: the router's `/lead` with its layers, without the path matching.
    lead: L,
    header_timeout: Duration,
}

impl<L: LeadService> Served<L> {
    /// The answer to one request from `peer`, on a connection `watched` by its watchdog
    /// (see [`crate::watchdog`]): no head is due while a request is answered, the next one
    /// is due once the answer is sent. Each serving thread has its own `Arc` of this: the
    /// count cloned and dropped per request is not shared with the other threads.
    ///
    /// `PUT`/`POST /lead` is answered by `lead`, the connection's copy of [`Served::lead`],
    /// called in place: every layer of it is always ready, and calling it needs no clone
    /// of the service (a clone of every layer and boxed route, per request, to drop again).
    fn serve(
        self: Arc<Self>,
        lead: &RefCell<L>,
        request: Request<Incoming>,
        peer: SocketAddr,
        watched: Arc<Watched>,
    ) -> impl Future<Output = Result<Response<IdleOnceSent>, Infallible>> {
        watched.busy();
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(watched.clone());
        let answer = if is_lead(&request) {
            let mut lead = lead.borrow_mut();
            match lead.poll_ready(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(Ok(())) => Answer::Called(lead.call(request)),
                Poll::Ready(Err(never)) => match never {},
                // Not so today; if a layer ever waits, the request waits for it on its own copy.
                Poll::Pending => Answer::Waiting(lead.clone(), request),
            }
        } else {
            Answer::Routed(request)
        };
        async move {
            let answered = match answer {
                Answer::Called(answer) => answer.await,
                Answer::Waiting(lead, request) => lead.oneshot(request).await,
                Answer::Routed(request) => self.router.clone().oneshot(request).await,
            };
            let response = match answered {
                Ok(response) => response,
                Err(never) => match never {},
            };
            // The body may stream (static files): the connection is idle once hyper drops it.
            Ok(response.map(|body| IdleOnceSent { body, watched }))
        }
    }
}

/// How [`Served::serve`] answers a request.
enum Answer<L: LeadService> {
    /// `PUT`/`POST /lead`, called.
    Called(L::Future),
    /// `PUT`/`POST /lead`, with a copy of the service to wait for.
    Waiting(L, Request<Body>),
    /// Any other request, by the router.
    Routed(Request<Body>),
}

/// `PUT`/`POST /lead`, the requests [`Served::lead`] answers.
fn is_lead<B>(request: &Request<B>) -> bool {
    let method = request.method();
    request.uri().path() == "/lead" && (method == Method::PUT || method == Method::POST)
}

/// An answer's body that marks its connection idle when hyper is done with it.
struct IdleOnceSent {
    body: Body,
    watched: Arc<Watched>,
}

impl hyper::body::Body for IdleOnceSent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for IdleOnceSent {
    fn drop(&mut self) {
        self.watched.idle(Instant::now());
    }
}

/// Accepts connections and hands them out in turn (never returns).
async fn hand_out(listener: TcpListener, handoff: Vec<mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr)>>) {
    let mut next = 0;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => match stream.into_std() {
                Ok(stream) => {
                    let _ = handoff[next % handoff.len()].send((stream, peer));
                    next += 1;
                }
                Err(err) => tracing::warn!("cannot hand a connection over: {err}"),
            },
            // The peer gave up before we accepted: nothing to do.
            Err(err) if is_connection_error(&err) => {}
            // Out of file descriptors, say: wait rather than spin (as axum::serve does).
            Err(err) => {
                tracing::error!("accept error: {err}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// The connections handed to one thread, as an axum listener.
struct Handed {
    incoming: mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    addr: SocketAddr,
}

impl Listener for Handed {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            match self.incoming.recv().await {
                // Registers the connection with this thread's runtime.
                Some((stream, peer)) => match TcpStream::from_std(stream) {
                    Ok(stream) => return (stream, peer),
                    Err(err) => tracing::warn!("cannot take a connection over: {err}"),
                },
                // No more connections: wait for the shutdown.
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}
