//! querydr and refund over HTTPS: the scripted gateway behind TLS with a certificate from a private CA
//! made here. Trusted when the CA is configured, refused when it is not.

use super::{Script, client, gateway_app, query, refund_request, terminal};
use axum::serve::Listener;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use vnpay::{BuildError, ClientConfig, ClientError, NoAnswer, TransactionStatus, Vnd, VnpayClient};

/// A CA of its own and a server certificate it signed for 127.0.0.1 and localhost.
struct Pki {
    ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
}

fn pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "flashgate test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        server_cert_pem: server.pem(),
        server_key_pem: key.serialize_pem(),
    }
}

/// Accepts TCP connections and completes the TLS handshake before handing them to axum; a client
/// that refuses the certificate just ends its connection.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, peer)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The scripted gateway on `https://127.0.0.1:<port>`.
async fn https_gateway(pki: &Pki) -> String {
    let chain = CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let listener = TlsListener {
        tcp: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    };
    let addr = listener.local_addr().unwrap();
    let (app, _) = gateway_app(Script::Success);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("https://{addr}/merchant_webapi/api/transaction")
}

fn trusting(url: String, ca_pem: &str) -> VnpayClient {
    let mut config = ClientConfig::new(url, terminal());
    config.timeout = Duration::from_secs(5);
    config.root_ca_pem = Some(ca_pem.as_bytes().to_vec());
    VnpayClient::new(config).unwrap()
}

#[tokio::test]
async fn querydr_and_refund_work_over_https_with_the_private_ca_configured() {
    let pki = pki();
    let client = trusting(https_gateway(&pki).await, &pki.ca_pem);
    let status = client.query_dr(&query()).await.unwrap();
    assert_eq!(status.transaction_status, TransactionStatus::Success);
    let refund = client.refund(&refund_request()).await.unwrap();
    assert_eq!(refund.amount, Vnd::new(4_000));
}

#[tokio::test]
async fn without_the_ca_the_gateways_certificate_is_refused() {
    let url = https_gateway(&pki()).await;
    let plain = client(url.clone());
    let err = plain.query_dr(&query()).await.unwrap_err();
    assert!(
        matches!(err, ClientError::NoAnswer(NoAnswer::Connect(_))),
        "{err:?}"
    );
    let err = plain.refund(&refund_request()).await.unwrap_err();
    assert!(
        matches!(err, ClientError::NoAnswer(NoAnswer::Connect(_))),
        "{err:?}"
    );
    // Another private CA does not stand in for the one that signed the gateway's certificate.
    let stranger = trusting(url, &pki().ca_pem);
    let err = stranger.query_dr(&query()).await.unwrap_err();
    assert!(
        matches!(err, ClientError::NoAnswer(NoAnswer::Connect(_))),
        "{err:?}"
    );
}

#[test]
fn a_root_ca_that_is_not_pem_is_a_configuration_error() {
    let mut config = ClientConfig::new("https://127.0.0.1/", terminal());
    config.root_ca_pem = Some(b"not a certificate".to_vec());
    let err = VnpayClient::new(config).unwrap_err();
    assert!(matches!(err, BuildError::RootCa(_)), "{err:?}");
}
