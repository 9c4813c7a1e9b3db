//! An async client for the querydr and refund API.
//!
//! Errors keep two situations apart: the gateway answered with a code ([`ClientError::Rejected`]),
//! or no trustworthy answer came back ([`ClientError::NoAnswer`]: connect error, timeout, HTTP
//! error, non-JSON, or a success reply whose checksum or echo does not hold up).
//!
//! VNPay's API is HTTPS only. The client speaks TLS through rustls and trusts the system's roots,
//! plus the PEM certificates of [`ClientConfig::root_ca_pem`] when set (a private CA in front of a
//! test gateway or a self-hosted proxy).

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api_reply::{ApiTransaction, Rejection, ReplyError, SignedReply};
use crate::codes::{QueryDrResponseCode, RefundResponseCode};
use crate::querydr::{QueryDrRequest, QueryDrResponseBody, QueryDrResult};
use crate::refund::{RefundRequest, RefundResponseBody, RefundResult};
use crate::request_id::RequestId;
use crate::terminal::Terminal;
use crate::txn_ref::TxnRef;

/// The sandbox querydr/refund endpoint.
pub const SANDBOX_API_URL: &str = "https://sandbox.vnpayment.vn/merchant_webapi/api/transaction";
/// The production querydr/refund endpoint.
pub const PRODUCTION_API_URL: &str = "https://merchant.vnpay.vn/merchant_webapi/api/transaction";

/// Where and how to call the API.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The `…/merchant_webapi/api/transaction` URL.
    pub api_url: String,
    /// The terminal whose secret signs requests and verifies replies.
    pub terminal: Terminal,
    /// Time allowed to open the connection.
    pub connect_timeout: Duration,
    /// Time allowed for the whole call.
    pub timeout: Duration,
    /// PEM certificates trusted besides the system's roots.
    pub root_ca_pem: Option<Vec<u8>>,
}

impl ClientConfig {
    /// Defaults: 5 s to connect, 20 s per call.
    pub fn new(api_url: impl Into<String>, terminal: Terminal) -> Self {
        Self {
            api_url: api_url.into(),
            terminal,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(20),
            root_ca_pem: None,
        }
    }
}

/// No usable answer came back; the state at VNPay is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoAnswer {
    /// The connection could not be opened.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The call took longer than allowed.
    #[error("timed out")]
    Timeout,
    /// Not a 2xx HTTP status.
    #[error("HTTP status {0}")]
    HttpStatus(u16),
    /// The body is not the expected JSON.
    #[error("the reply is not JSON: {0}")]
    NotJson(String),
    /// A `00` reply that failed verification: missing or wrong hash, unusable field, or an
    /// echo (TxnRef, TmnCode, Command) that does not match the request.
    #[error("the success reply cannot be trusted: {0}")]
    Untrusted(String),
    /// Any other transport failure.
    #[error("transport error: {0}")]
    Transport(String),
}

/// The client cannot be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// `root_ca_pem` holds no certificate, or one that does not parse.
    #[error("the root CA is not a PEM certificate: {0}")]
    RootCa(String),
    /// The HTTP client (its TLS set-up) could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// The outcome of a failed API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError<C: fmt::Debug + fmt::Display> {
    /// The gateway answered with a non-`00` code (e.g. 91 not found, 94 rate limited, 97
    /// checksum). Unsigned, so a hint only.
    #[error("the gateway answered {0}")]
    Rejected(Rejection<C>),
    /// No trustworthy answer.
    #[error("no usable answer from the gateway: {0}")]
    NoAnswer(#[from] NoAnswer),
}

impl<C: fmt::Debug + fmt::Display> ClientError<C> {
    /// The gateway's code, when it answered with one.
    pub fn code(&self) -> Option<&C> {
        match self {
            Self::Rejected(r) => Some(&r.code),
            Self::NoAnswer(_) => None,
        }
    }
}

/// A querydr failure.
pub type QueryDrError = ClientError<QueryDrResponseCode>;
/// A refund failure.
pub type RefundError = ClientError<RefundResponseCode>;

/// Calls querydr and refund for one terminal.
#[derive(Debug, Clone)]
pub struct VnpayClient {
    http: reqwest::Client,
    config: ClientConfig,
}

impl VnpayClient {
    /// A client with its own connection pool, the configured timeouts and trusted roots.
    pub fn new(config: ClientConfig) -> Result<Self, BuildError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout);
        if let Some(pem) = &config.root_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| BuildError::RootCa(e.to_string()))?;
            if certs.is_empty() {
                return Err(BuildError::RootCa("no certificate found".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| BuildError::Http(e.to_string()))?;
        Ok(Self { http, config })
    }

    /// A client over an existing `reqwest::Client` (its own timeouts and TLS apply).
    pub fn from_http_client(http: reqwest::Client, config: ClientConfig) -> Self {
        Self { http, config }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Asks for the state of a payment, with a fresh request id.
    pub async fn query_dr(&self, request: &QueryDrRequest) -> Result<QueryDrResult, QueryDrError> {
        let body = request.to_body(&RequestId::random(), &self.config.terminal);
        self.call::<QueryDrResponseBody>(&body, crate::querydr::QUERYDR, &request.txn_ref)
            .await
    }

    /// Requests a refund, with a fresh request id.
    pub async fn refund(&self, request: &RefundRequest) -> Result<RefundResult, RefundError> {
        let body = request.to_body(&RequestId::random(), &self.config.terminal);
        self.call::<RefundResponseBody>(&body, crate::refund::REFUND, &request.txn_ref)
            .await
    }

    /// Posts a signed request and accepts only a signed `00` reply that echoes the command, the
    /// payment's reference and this terminal.
    async fn call<Reply: SignedReply + DeserializeOwned>(
        &self,
        body: &impl Serialize,
        command: &str,
        txn_ref: &TxnRef,
    ) -> Result<ApiTransaction, ClientError<Reply::Code>> {
        let terminal = &self.config.terminal;
        let reply: Reply = self.post(body).await?;
        let result = reply.verify(&terminal.secret).map_err(untrusted)?;
        check_echo(
            reply.wire("vnp_Command"),
            command,
            &result.txn_ref,
            txn_ref.as_str(),
            &result.tmn_code,
            terminal,
        )?;
        Ok(result)
    }

    async fn post<B: Serialize, R: DeserializeOwned>(&self, body: &B) -> Result<R, NoAnswer> {
        let response = self
            .http
            .post(&self.config.api_url)
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(NoAnswer::HttpStatus(status.as_u16()));
        }
        let bytes = response.bytes().await.map_err(transport)?;
        serde_json::from_slice(&bytes).map_err(|e| NoAnswer::NotJson(e.to_string()))
    }
}

fn transport(e: reqwest::Error) -> NoAnswer {
    if e.is_timeout() {
        NoAnswer::Timeout
    } else if e.is_connect() {
        NoAnswer::Connect(e.to_string())
    } else {
        NoAnswer::Transport(e.to_string())
    }
}

fn untrusted<C: fmt::Debug + fmt::Display>(e: ReplyError<C>) -> ClientError<C> {
    match e {
        ReplyError::Rejected(r) => ClientError::Rejected(r),
        other => ClientError::NoAnswer(NoAnswer::Untrusted(other.to_string())),
    }
}

fn check_echo<C: fmt::Debug + fmt::Display>(
    command: Option<&str>,
    expected_command: &str,
    txn_ref: &str,
    expected_txn_ref: &str,
    tmn_code: &str,
    terminal: &Terminal,
) -> Result<(), ClientError<C>> {
    let mismatch = |what: &str, got: &str| {
        ClientError::NoAnswer(NoAnswer::Untrusted(format!(
            "{what} {got:?} does not match the request"
        )))
    };
    if command != Some(expected_command) {
        return Err(mismatch("vnp_Command", command.unwrap_or_default()));
    }
    if txn_ref != expected_txn_ref {
        return Err(mismatch("vnp_TxnRef", txn_ref));
    }
    if !tmn_code.is_empty() && tmn_code != terminal.tmn_code.as_str() {
        return Err(mismatch("vnp_TmnCode", tmn_code));
    }
    Ok(())
}
