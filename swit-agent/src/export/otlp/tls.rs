//! The rustls client configuration shared by both transports.
//!
//! One path for gRPC and HTTP: tonic is built without its own TLS features
//! and takes our hyper-rustls connector, so a CA file, a client certificate
//! and the choice of crypto provider (ring: no C toolchain, no OpenSSL) are
//! handled once. tonic must stay without `tls-*` features: with them it
//! refuses `https` URIs on a custom connector that it did not give a TLS
//! config itself.
use std::{path::Path, sync::Arc};

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};

use super::{OtlpError, OtlpOptions};

/// Which HTTP version the connector offers in ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    H2,
    Http1,
}

/// A connector for `http://` and `https://` URIs with the options' TLS
/// settings. `tls_needed` false (a plaintext endpoint) skips loading any
/// certificate, so a missing system store cannot break plaintext export.
pub fn connector(
    opts: &OtlpOptions,
    tls_needed: bool,
    alpn: Alpn,
) -> Result<HttpsConnector<HttpConnector>, OtlpError> {
    let config = if tls_needed {
        client_config(opts)?
    } else {
        base_builder()?
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth()
    };
    let mut http = HttpConnector::new();
    // The scheme is checked by the TLS layer above, not here.
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(opts.timeout));
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http();
    Ok(match alpn {
        Alpn::H2 => builder.enable_http2().wrap_connector(http),
        Alpn::Http1 => builder.enable_http1().wrap_connector(http),
    })
}

fn base_builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, OtlpError> {
    // An explicit provider instead of the process default, so another crate
    // installing a different one cannot change (or panic) our TLS.
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| OtlpError::Tls {
            what: "TLS setup".into(),
            reason: e.to_string(),
        })
}

fn client_config(opts: &OtlpOptions) -> Result<ClientConfig, OtlpError> {
    let tls = &opts.tls;
    let roots = match &tls.ca_file {
        // A CA file replaces the system store, as in the OpenTelemetry
        // Collector: a private collector's CA should be the only one trusted.
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(path)? {
                roots.add(cert).map_err(|e| tls_err(path, e))?;
            }
            roots
        }
        None => system_roots(),
    };
    let builder = base_builder()?.with_root_certificates(roots);
    match (&tls.cert_file, &tls.key_file) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let certs = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_err(key, e))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| tls_err(cert, e))
        }
        (Some(_), None) | (None, Some(_)) => Err(OtlpError::Tls {
            what: "tls".into(),
            reason: "cert_file and key_file must be given together".into(),
        }),
    }
}

fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    if !found.errors.is_empty() {
        // Some unreadable files in the store are common (broken symlinks);
        // the handshake says clearly if the collector's CA is missing.
        log::debug!("system certificate store: {:?}", found.errors);
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        log::warn!(
            "no usable certificates in the system store ({ignored} ignored): https export will fail unless tls.ca_file is set"
        );
    }
    roots
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, OtlpError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_err(path, e))?;
    if certs.is_empty() {
        return Err(tls_err(path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

fn tls_err(path: &Path, e: impl std::fmt::Display) -> OtlpError {
    OtlpError::Tls {
        what: path.display().to_string(),
        reason: e.to_string(),
    }
}
