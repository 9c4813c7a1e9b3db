//! A webhook receiver for the tests and examples: a real HTTP server on a port of its own that records every
//! request and answers as the test says (acknowledge, fail half, answer slowly, hang), and that can go
//! down and come back on the same port. A test waits for requests to arrive (`wait_for`) rather than
//! sleeping, and sees how many hanging requests the sender still holds open (`held_open`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Acknowledge,
    /// 500 to every other request.
    FailHalf,
    /// 500 to every request.
    Fail,
    /// Acknowledge after this long.
    Slow(Duration),
    /// Never answer.
    Hang,
}

/// One request as it arrived, and the status it was answered (0: not answered).
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub answered: u16,
    /// When it arrived (wall clock, to compare with an event's timestamp).
    pub at: time::OffsetDateTime,
}

impl Received {
    pub fn id(&self) -> &str {
        self.headers["webhook-id"].to_str().unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Shared {
    mode: Mutex<Option<Mode>>,
    received: Mutex<Vec<Received>>,
    turn: Mutex<u64>,
    /// How many requests have arrived, for `wait_for`.
    arrived: watch::Sender<usize>,
    /// Hanging requests whose connection the sender has not closed.
    open: AtomicUsize,
}

impl Shared {
    fn record(&self, received: Received) {
        let mut all = self.received.lock().unwrap();
        all.push(received);
        self.arrived.send_replace(all.len());
    }
}

/// Counts a hanging request as open until its handler is dropped: when the sender gives up and
/// closes the connection.
struct Open<'a>(&'a AtomicUsize);

impl<'a> Open<'a> {
    fn hold(open: &'a AtomicUsize) -> Self {
        open.fetch_add(1, Ordering::SeqCst);
        Self(open)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<CancellationToken>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut receiver = Self {
            addr: listener.local_addr().unwrap(),
            shared: Arc::new(Shared::default()),
            stop: None,
        };
        receiver.serve(listener);
        receiver
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// A receiver over HTTPS only, with the certificate for `localhost` that the test command's
    /// private CA signed (`server.crt` and `server.key` beside `ca`); it cannot go down and up.
    pub async fn start_tls(ca: &std::path::Path) -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let (addr, stop) = crate::serve_tls(app, ca).await;
        Self {
            addr,
            shared,
            stop: Some(stop),
        }
    }

    /// The URL of a receiver from `start_tls`, by the name its certificate carries.
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}/hook", self.addr.port())
    }

    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = Some(mode);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests have arrived (answered or hanging).
    pub async fn wait_for(&self, n: usize) {
        let mut arrived = self.shared.arrived.subscribe();
        arrived.wait_for(|count| *count >= n).await.unwrap();
    }

    /// Hanging requests (`Mode::Hang`) still held open by their sender.
    pub fn held_open(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Stops listening: connections are refused until `up`.
    pub fn down(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.cancel();
        }
    }

    pub async fn up(&mut self) {
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let stop = CancellationToken::new();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(self.shared.clone());
        let until = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(until.cancelled_owned())
                .await
                .unwrap();
        });
        self.stop = Some(stop);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = time::OffsetDateTime::now_utc();
    let mode = shared.mode.lock().unwrap().unwrap_or(Mode::Acknowledge);
    let status = match mode {
        Mode::Acknowledge => StatusCode::NO_CONTENT,
        Mode::FailHalf => {
            let mut turn = shared.turn.lock().unwrap();
            *turn += 1;
            if *turn % 2 == 0 {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        }
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::Slow(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK
        }
        Mode::Hang => {
            let _open = Open::hold(&shared.open);
            shared.record(Received {
                headers,
                body,
                answered: 0,
                at,
            });
            std::future::pending::<()>().await;
            unreachable!()
        }
    };
    shared.record(Received {
        headers,
        body,
        answered: status.as_u16(),
        at,
    });
    status
}
