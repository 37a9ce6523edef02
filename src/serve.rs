//! The accept loop every listener shares (Graph over HTTP and HTTPS, the recorder, the
//! replayer): a cap on open connections, a deadline for each request head, an idle timeout,
//! and graceful shutdown.
//!
//! `axum::serve` sets hyper up without a timer, so hyper's header-read timeout never fires
//! there: a socket that never sent a byte, or trickled one a second, stayed open for good, and
//! about a thousand of them exhausted the process's file descriptors (issue 19).

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long a client has to deliver a complete request head, counted from when the server
/// starts waiting for it: on a new connection, and after each answer on a kept-alive one, so it
/// also bounds how long an idle keep-alive connection is held. Hyper's own default. Both
/// timeouts are enforced within a quarter of the shorter one after they pass.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection may move no byte in either direction (a stalled body upload, a client
/// that stops reading its answer, an idle keep-alive connection) before it is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Open connections served at once, over all of an emulator's listeners. Below the usual
/// `ulimit -n` of 1024, so a connection over the cap can still be accepted and answered.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Connections over the cap being answered at once; further ones are closed without an answer,
/// so a flood cannot pile up sockets in the refusal path instead.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;

/// How long a refused connection may take to be answered and to close.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(2);

/// What the listeners enforce on every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ConnectionLimits {
    /// Zero durations would close every connection at once (hyper) or never tick (the idle
    /// check), and a cap of zero would refuse every connection: each is raised to the least
    /// that serves.
    fn sane(self) -> Self {
        let floor = Duration::from_millis(1);
        ConnectionLimits {
            header_read_timeout: self.header_read_timeout.max(floor),
            idle_timeout: self.idle_timeout.max(floor),
            max_connections: self.max_connections.max(1),
        }
    }
}

/// Counts the open connections of one emulator (shared by its listeners) and the refusals
/// being answered.
#[derive(Debug)]
pub struct ConnectionGate {
    limits: ConnectionLimits,
    open: AtomicUsize,
    refusing: AtomicUsize,
}

/// One counted place; freed when dropped.
struct Slot {
    gate: Arc<ConnectionGate>,
    refusal: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let counter = if self.refusal {
            &self.gate.refusing
        } else {
            &self.gate.open
        };
        counter.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnectionGate {
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(ConnectionGate {
            limits: limits.sane(),
            open: AtomicUsize::new(0),
            refusing: AtomicUsize::new(0),
        })
    }

    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Connections being served now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    fn take(self: &Arc<Self>, refusal: bool) -> Option<Slot> {
        let (counter, max) = if refusal {
            (&self.refusing, MAX_REFUSALS_IN_FLIGHT)
        } else {
            (&self.open, self.limits.max_connections)
        };
        if counter.fetch_add(1, Ordering::AcqRel) >= max {
            counter.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot {
            gate: self.clone(),
            refusal,
        })
    }
}

/// Turns an accepted TCP stream into the stream HTTP is spoken over (TLS, or the stream as is).
pub trait Handshake: Clone + Send + Sync + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn handshake(&self, tcp: TcpStream) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

/// Plain HTTP.
#[derive(Debug, Clone, Copy)]
pub struct Plain;

impl Handshake for Plain {
    type Io = TcpStream;
    fn handshake(&self, tcp: TcpStream) -> impl Future<Output = io::Result<TcpStream>> + Send {
        std::future::ready(Ok(tcp))
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and waits for
/// the connections in flight to finish their current exchange (as `axum::serve` does).
pub async fn serve<H: Handshake>(
    listener: TcpListener,
    handshake: H,
    app: Router,
    gate: Arc<ConnectionGate>,
    shutdown: impl Future<Output = ()> + Send,
) {
    // Tasks watch `signal` closing to start their graceful shutdown, and hold `close` until
    // they end, so the loop can wait for the last one.
    let (signal_tx, signal_rx) = watch::channel(());
    let (close_tx, close_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            Err(e) => {
                // Out of file descriptors (or another transient error): wait rather than spin.
                tracing::debug!("accept: {e}");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        // Each answer goes out in one write: Nagle's algorithm could only hold it back.
        let _ = tcp.set_nodelay(true);
        if let Some(slot) = gate.take(false) {
            let task = Connection {
                handshake: handshake.clone(),
                app: app.clone(),
                limits: gate.limits,
                signal: signal_tx.clone(),
                close: close_rx.clone(),
                _slot: slot,
            };
            tokio::spawn(task.run(tcp));
        } else if let Some(slot) = gate.take(true) {
            let handshake = handshake.clone();
            let max = gate.limits.max_connections;
            tokio::spawn(async move {
                let _slot = slot;
                let _ = tokio::time::timeout(REFUSAL_DEADLINE, refuse(handshake, tcp, max)).await;
            });
        }
        // Else dropped: closed at once, which a client sees as a connection error, not a hang.
    }
    drop(signal_rx);
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
}

struct Connection<H> {
    handshake: H,
    app: Router,
    limits: ConnectionLimits,
    signal: watch::Sender<()>,
    close: watch::Receiver<()>,
    _slot: Slot,
}

impl<H: Handshake> Connection<H> {
    async fn run(self, tcp: TcpStream) {
        let handshake = tokio::time::timeout(
            self.limits.header_read_timeout,
            self.handshake.handshake(tcp),
        );
        let io = tokio::select! {
            io = handshake => match io {
                Ok(Ok(io)) => io,
                Ok(Err(e)) => {
                    tracing::debug!("handshake: {e}");
                    return;
                }
                Err(_) => return,
            },
            () = self.signal.closed() => return,
        };
        // The idle check's tick also wakes the connection to notice a passed head deadline; a
        // quarter of the shorter timeout enforces either within a quarter of it.
        let tick = self
            .limits
            .idle_timeout
            .min(self.limits.header_read_timeout)
            / 4;
        let busy = Arc::new(AtomicBool::new(false));
        let io = TokioIo::new(Watched::new(
            io,
            self.limits.idle_timeout,
            tick,
            busy.clone(),
        ));
        let service = TowerToHyperService::new(Tracked {
            app: self.app,
            busy,
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(Deadlines)
            .header_read_timeout(self.limits.header_read_timeout);
        let mut conn = pin!(builder.serve_connection(io, service));
        let mut signal = pin!(self.signal.closed());
        let mut stopping = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!("connection: {e}");
                    }
                    break;
                }
                () = &mut signal, if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
        drop(self.close);
    }
}

/// Answers a connection over the cap with Graph's 503 envelope and closes it. The answer is
/// written without reading the request (there is no room to serve it); the client's bytes are
/// then read and discarded until it closes, because closing with unread bytes makes the kernel
/// send a reset that can destroy the answer before the client reads it.
async fn refuse<H: Handshake>(handshake: H, tcp: TcpStream, max: usize) -> io::Result<()> {
    let mut io = handshake.handshake(tcp).await?;
    io.write_all(&refusal(max)).await?;
    io.shutdown().await?;
    let mut sink = [0u8; 1024];
    while io.read(&mut sink).await? > 0 {}
    Ok(())
}

/// `503 ServiceUnavailable` in Graph's error envelope, with the `Retry-After` Graph documents
/// for a 503 (https://learn.microsoft.com/en-us/graph/errors), and `Connection: close`.
fn refusal(max: usize) -> Vec<u8> {
    let now = crate::clock::Timestamp::from_datetime(crate::clock::wall_clock_now());
    let request_id = uuid::Uuid::new_v4();
    let body = serde_json::json!({"error": {
        "code": "ServiceUnavailable",
        "message": format!(
            "The service is temporarily unavailable: the emulator is serving its maximum of \
             {max} connections (--max-connections)."
        ),
        "innerError": {"date": now.inner_error_date(), "request-id": request_id,
                       "client-request-id": request_id},
    }});
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nrequest-id: {request_id}\r\n\
         connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

/// hyper's timer, used only for the header-read deadline, which hyper sets afresh for every
/// request head. A tokio timer per head would be registered in and removed from the timer
/// wheel on every kept-alive request (the connection waits for each next head); this deadline
/// is a plain instant, compared when polled. What wakes the connection to poll it is the
/// `Watched` tick, registered whenever the stream would block — and hyper polls the deadline
/// only after a read would block — so a passed deadline is noticed within one tick.
#[derive(Debug, Clone, Copy)]
struct Deadlines;

impl hyper::rt::Timer for Deadlines {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(std::time::Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Deadline(deadline))
    }
}

struct Deadline(std::time::Instant);

impl Future for Deadline {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if std::time::Instant::now() >= self.0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl hyper::rt::Sleep for Deadline {}

/// The app, marking the connection `busy` while a handler works: from the call until its
/// answer is ready, except while it waits for more of the request body. hyper keeps reading
/// during a call (to notice a client that goes away), so without this a handler slower than
/// the idle timeout (injected latency, a slow upstream for the recorder) would have its
/// connection closed under it; a stalled upload still counts as idle.
#[derive(Clone)]
struct Tracked {
    app: Router,
    busy: Arc<AtomicBool>,
}

impl tower_service::Service<axum::http::Request<hyper::body::Incoming>> for Tracked {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future =
        TrackedFuture<<Router as tower_service::Service<axum::http::Request<WatchedBody>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower_service::Service::<axum::http::Request<WatchedBody>>::poll_ready(&mut self.app, cx)
    }

    fn call(&mut self, req: axum::http::Request<hyper::body::Incoming>) -> Self::Future {
        self.busy.store(true, Ordering::Relaxed);
        let busy = self.busy.clone();
        let req = req.map(|inner| WatchedBody {
            inner,
            busy: busy.clone(),
        });
        TrackedFuture {
            inner: self.app.call(req),
            busy,
        }
    }
}

pin_project_lite::pin_project! {
    struct TrackedFuture<F> {
        #[pin]
        inner: F,
        busy: Arc<AtomicBool>,
    }
}

impl<F: Future> Future for TrackedFuture<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        // The answer is written next: from here a client that stops reading is idle.
        this.busy.store(false, Ordering::Relaxed);
        Poll::Ready(out)
    }
}

/// The request body, marking the connection not busy while the handler waits for more of it.
struct WatchedBody {
    inner: hyper::body::Incoming,
    busy: Arc<AtomicBool>,
}

impl http_body::Body for WatchedBody {
    type Data = axum::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        this.busy.store(polled.is_ready(), Ordering::Relaxed);
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A stream that fails with `TimedOut` once no byte has moved for the idle timeout while the
/// connection waits on its client (not while a handler works, see `Tracked`).
///
/// Nothing is timed per read or write: a success only sets `moved`. One sleep per connection,
/// polled only when the stream would block, ticks every quarter of the shorter timeout; ticks
/// that find nothing moved since the previous one count as quiet, and the connection ends when
/// the quiet ticks span the idle timeout. So a connection closes between one timeout and one
/// timeout plus a tick after its last byte.
struct Watched<IO> {
    io: IO,
    every: Duration,
    tick: Pin<Box<tokio::time::Sleep>>,
    moved: bool,
    quiet: u32,
    quiet_limit: u32,
    busy: Arc<AtomicBool>,
}

impl<IO> Watched<IO> {
    fn new(io: IO, idle: Duration, tick: Duration, busy: Arc<AtomicBool>) -> Self {
        let every = tick.max(Duration::from_millis(1));
        // Quiet ticks that span the timeout even when the last byte came just before a tick.
        let quiet_limit = u32::try_from(idle.as_nanos().div_ceil(every.as_nanos()))
            .unwrap_or(u32::MAX)
            .max(1);
        Watched {
            io,
            every,
            tick: Box::pin(tokio::time::sleep(every)),
            moved: false,
            quiet: 0,
            quiet_limit,
            busy,
        }
    }

    /// Called when the stream would block: `Ready(Err)` ends an idle connection.
    fn idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        while self.tick.as_mut().poll(cx).is_ready() {
            if std::mem::take(&mut self.moved) || self.busy.load(Ordering::Relaxed) {
                self.quiet = 0;
            } else {
                self.quiet += 1;
                if self.quiet >= self.quiet_limit {
                    return Poll::Ready(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no bytes moved for the idle timeout",
                    ));
                }
            }
            let next = tokio::time::Instant::now() + self.every;
            self.tick.as_mut().reset(next);
        }
        Poll::Pending
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.moved |= buf.filled().len() > before;
                Poll::Ready(result)
            }
            Poll::Pending => this.idle(cx).map(Err),
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.moved |= matches!(result, Ok(n) if n > 0);
                Poll::Ready(result)
            }
            Poll::Pending => this.idle(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                this.moved |= matches!(result, Ok(n) if n > 0);
                Poll::Ready(result)
            }
            Poll::Pending => this.idle(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Pending => this.idle(cx).map(Err),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_http_answer_with_graphs_envelope() {
        let bytes = refusal(7);
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(head.contains("\r\nretry-after: 1"), "{head}");
        assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "ServiceUnavailable");
        assert!(json["error"]["message"].as_str().unwrap().contains('7'));
        assert!(json["error"]["innerError"]["request-id"].is_string());
    }

    #[test]
    fn the_gate_counts_up_to_its_cap_and_frees_on_drop() {
        let gate = ConnectionGate::new(ConnectionLimits {
            max_connections: 2,
            ..Default::default()
        });
        let a = gate.take(false);
        let b = gate.take(false);
        assert!(a.is_some() && b.is_some());
        assert!(gate.take(false).is_none(), "a third is over the cap");
        assert_eq!(gate.open_connections(), 2);
        drop(a);
        assert!(gate.take(false).is_some(), "a place freed is reused");
    }
}
