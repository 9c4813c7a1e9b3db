//! HTTPS servers for the tests: a router served with the certificate for `localhost` that the test
//! command's private CA signed (`server.crt` and `server.key` beside the CA's `ca.crt`), so clients
//! that trust that CA (a `*.root_ca_file` setting) reach it and others fail in the handshake.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `router` over HTTPS on a port of its own until the returned token is cancelled, which also
/// closes the connections already open (a client's pooled connection gets no more answers).
pub async fn serve_tls(router: axum::Router, ca: &Path) -> (SocketAddr, CancellationToken) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = ca.parent().expect("the CA file is in a directory");
    let certs = CertificateDer::pem_file_iter(dir.join("server.crt"))
        .expect("the test CA's server certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("a PEM certificate chain");
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("the server's key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("a certificate and its key");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("a bound address");
    let stop = CancellationToken::new();
    let until = stop.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                () = until.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(_) => continue,
                },
            };
            let (acceptor, router, until) = (acceptor.clone(), router.clone(), until.clone());
            tokio::spawn(async move {
                // A client that does not trust the CA gives up in the handshake.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(router);
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service);
                tokio::select! {
                    _ = connection => {}
                    () = until.cancelled() => {}
                }
            });
        }
    });
    (addr, stop)
}
