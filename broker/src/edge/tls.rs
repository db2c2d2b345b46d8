//! TLS for the client-facing listeners (rustls with the ring provider): the certificate chain
//! and private key named by `mqtt.tls_cert_path` and `mqtt.tls_key_path` are read once, when
//! the edge binds, and each handshake runs with a deadline on its connection's own task.
//! Which listeners use TLS is the listener's decision, not this module's.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use metrics::counter;
use natter_config::MqttSettings;
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::debug;

use crate::edge::EdgeContext;
use crate::edge::telemetry::PROTOCOL_ERRORS;
use crate::error::{Error, Result};

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const CERT_SETTING: &str = "NATTER__MQTT__TLS_CERT_PATH";
const KEY_SETTING: &str = "NATTER__MQTT__TLS_KEY_PATH";

/// Builds the TLS acceptor when a certificate and key are configured, `None` when neither is.
///
/// The failures are reported against `settings.listen`, naming the setting to fix.
pub(crate) fn acceptor(settings: &MqttSettings) -> Result<Option<TlsAcceptor>> {
    let addr = settings.listen;
    let (cert_path, key_path) = match (&settings.tls_cert_path, &settings.tls_key_path) {
        (Some(cert_path), Some(key_path)) => (cert_path, key_path),
        (None, None) => return Ok(None),
        // `validate()` rejects these; settings built in code skip it, and must not silently
        // fall back to plain text.
        (Some(_), None) => return Err(invalid(addr, KEY_SETTING, "not set, but a certificate is")),
        (None, Some(_)) => return Err(invalid(addr, CERT_SETTING, "not set, but a key is")),
    };
    let chain = load_chain(cert_path).map_err(|reason| Error::bind(addr, CERT_SETTING, reason))?;
    let key = load_key(key_path).map_err(|reason| Error::bind(addr, KEY_SETTING, reason))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| invalid(addr, CERT_SETTING, &err.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|err| {
            invalid(
                addr,
                KEY_SETTING,
                &format!(
                    "{} does not fit the certificate in {}: {err}",
                    key_path.display(),
                    cert_path.display()
                ),
            )
        })?;
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// Runs the server side of the TLS handshake. `None` when it fails, times out, or the edge
/// shuts down meanwhile; the failure is counted, not logged above debug (scanners are common).
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    ctx: &EdgeContext,
) -> Option<TlsStream<TcpStream>> {
    let accepted = tokio::select! {
        _ = ctx.shutdown.cancelled() => return None,
        accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => accepted,
    };
    match accepted {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(err)) => {
            debug!(error = %err, "tls handshake failed");
            counter!(PROTOCOL_ERRORS, "reason" => "tls_handshake").increment(1);
            None
        }
        Err(_) => {
            counter!(PROTOCOL_ERRORS, "reason" => "tls_handshake_timeout").increment(1);
            None
        }
    }
}

fn invalid(addr: SocketAddr, setting: &'static str, reason: &str) -> Error {
    Error::bind(
        addr,
        setting,
        io::Error::new(io::ErrorKind::InvalidInput, reason.to_owned()),
    )
}

fn load_chain(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| pem_error(path, err, "certificate"))?;
    if chain.is_empty() {
        return Err(pem_error(path, pem::Error::NoItemsFound, "certificate"));
    }
    Ok(chain)
}

fn load_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|err| pem_error(path, err, "private key"))
}

fn pem_error(path: &Path, err: pem::Error, what: &str) -> io::Error {
    let path = path.display();
    match err {
        pem::Error::Io(err) => io::Error::new(err.kind(), format!("cannot read {path}: {err}")),
        pem::Error::NoItemsFound => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no PEM {what} in {path}"),
        ),
        other => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path} is not valid PEM: {other}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    use natter_config::MqttSettings;

    use crate::edge::tls::acceptor;

    fn settings(cert: Option<PathBuf>, key: Option<PathBuf>) -> MqttSettings {
        let dir = Path::new(natter_config::FILES_DIR);
        let mut settings = natter_config::load_with_env("test", dir, HashMap::new())
            .expect("invariant: the test settings load")
            .mqtt;
        settings.tls_cert_path = cert;
        settings.tls_key_path = key;
        settings
    }

    /// The start-up error `acceptor` returns for `settings`.
    fn refusal(settings: MqttSettings) -> String {
        match acceptor(&settings) {
            Ok(_) => panic!("the settings should be refused"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn no_certificate_means_no_tls() {
        assert!(matches!(acceptor(&settings(None, None)), Ok(None)));
    }

    #[test]
    fn missing_or_invalid_files_name_the_setting() {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not pem at all\n").expect("write a file");
        let nowhere = dir.path().join("nope.pem");

        let missing = refusal(settings(Some(nowhere.clone()), Some(nowhere.clone())));
        let invalid = refusal(settings(Some(garbage.clone()), Some(garbage)));
        let half = refusal(settings(Some(nowhere), None));

        assert!(missing.contains("nope.pem"), "{missing}");
        assert!(
            invalid.contains("(NATTER__MQTT__TLS_CERT_PATH): no PEM certificate"),
            "{invalid}"
        );
        assert!(half.contains("(NATTER__MQTT__TLS_KEY_PATH)"), "{half}");
    }
}
