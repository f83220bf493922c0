//! Whom outbound TLS trusts: the operating system's roots plus extra corporate CAs
//! (`SSL_CERT_FILE`, `SSL_CERT_DIR`, `ssl_verify: <path>`), never instead of them; or nobody
//! (`ssl_verify: false`). A verifier wrapper records the issuer of a rejected certificate so
//! the error can say who signed it (a TLS-inspecting proxy shows up there).
//!
//! On macOS and Windows the platform verifier (rustls-platform-verifier) asks the OS, so a
//! root in the System keychain or pushed by MDM is trusted; extra CAs are added to it. On
//! Linux the system bundle (`/etc/ssl/certs/ca-certificates.crt`, ...) is read here and the
//! extra CAs are added to it: rustls-native-certs would otherwise *replace* the system roots
//! with `SSL_CERT_FILE`, the very mistake this module exists to avoid.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

use super::EgressError;
use crate::config::{Env, SslVerify};

/// Where an extra CA comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CaSource {
    /// `SSL_CERT_FILE`.
    CertFile(PathBuf),
    /// `SSL_CERT_DIR` (one of its `:`-separated directories).
    CertDir(PathBuf),
    /// `ssl_verify: <path>` (litellm_settings or the deployment).
    SslVerify(PathBuf),
}

impl fmt::Display for CaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaSource::CertFile(p) => write!(f, "SSL_CERT_FILE={}", p.display()),
            CaSource::CertDir(p) => write!(f, "SSL_CERT_DIR={}", p.display()),
            CaSource::SslVerify(p) => write!(f, "ssl_verify: {}", p.display()),
        }
    }
}

/// One deployment's trust settings (part of the pooled client's key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Trust {
    /// `false` for `ssl_verify: false`.
    pub verify: bool,
    /// Extra CA sources, added on top of the system roots.
    pub extra: Vec<CaSource>,
}

impl Trust {
    /// The environment's extra CAs (`SSL_CERT_FILE`, `SSL_CERT_DIR`) and the deployment's
    /// `ssl_verify`.
    pub fn resolve(env: &Env, ssl_verify: &SslVerify) -> Trust {
        let mut extra = env_sources(env);
        match ssl_verify {
            SslVerify::Disabled => return Trust { verify: false, extra: Vec::new() },
            SslVerify::ExtraCa(p) => extra.push(CaSource::SslVerify(p.clone())),
            SslVerify::System => {}
        }
        Trust { verify: true, extra }
    }
}

/// The extra CAs of a verifier: certificates read and checked before the listener opens, and
/// the system's own CA directories named by `SSL_CERT_DIR` ([`is_system_dir`]), whose files
/// are read when the verifier is first used.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    pub certs: Vec<CertificateDer<'static>>,
    pub system_dirs: Vec<PathBuf>,
}

impl From<Vec<CertificateDer<'static>>> for Extras {
    fn from(certs: Vec<CertificateDer<'static>>) -> Self {
        Extras { certs, system_dirs: Vec::new() }
    }
}

/// `SSL_CERT_FILE` and `SSL_CERT_DIR` from the environment.
pub fn env_sources(env: &Env) -> Vec<CaSource> {
    let mut out = Vec::new();
    if let Some(f) = env.get("SSL_CERT_FILE") {
        out.push(CaSource::CertFile(PathBuf::from(f.trim())));
    }
    if let Some(dirs) = env.get("SSL_CERT_DIR") {
        for d in dirs.split(':').map(str::trim).filter(|d| !d.is_empty()) {
            out.push(CaSource::CertDir(PathBuf::from(d)));
        }
    }
    out
}

/// Read the certificates of one source. A file that is missing, unreadable or holds no PEM
/// certificate is an error naming it; a directory contributes every PEM file it holds.
pub fn load_source(source: &CaSource) -> Result<Vec<CertificateDer<'static>>, EgressError> {
    match source {
        CaSource::CertFile(p) | CaSource::SslVerify(p) => load_pem_file(p, source),
        CaSource::CertDir(dir) => {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| ca_error(source, dir, &format!("cannot read the directory: {e}")))?;
            // A certificate directory links each file under a second (hash) name, and
            // Debian's /etc/ssl/certs also holds the system bundle: each file is read once
            // (told apart by device and inode: one stat each, where a canonical path costs a
            // readlink per component), and the bundle not at all (trusted already).
            let bundles = system_bundles();
            let mut read = std::collections::HashSet::new();
            let mut certs = Vec::new();
            let mut holds_bundle = false;
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = std::fs::metadata(&path) else { continue };
                if !meta.is_file() || !read.insert(file_id(&meta)) {
                    continue;
                }
                if bundles.contains(&file_id(&meta)) {
                    holds_bundle = true;
                } else if let Ok(bytes) = std::fs::read(&path) {
                    certs.extend(parse_pem(&bytes).unwrap_or_default());
                }
            }
            if certs.is_empty() && !holds_bundle {
                return Err(ca_error(source, dir, "holds no PEM certificates"));
            }
            Ok(certs)
        }
    }
}

fn load_pem_file(
    path: &Path,
    source: &CaSource,
) -> Result<Vec<CertificateDer<'static>>, EgressError> {
    let bytes = std::fs::read(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "file not found".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => format!("cannot read it: {e}"),
        };
        ca_error(source, path, &reason)
    })?;
    match parse_pem(&bytes) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(ca_error(
            source,
            path,
            "is not a PEM certificate file (no -----BEGIN CERTIFICATE----- block; a DER .cer/.crt file can be converted with `openssl x509 -inform der -in ca.cer -out ca.pem`)",
        )),
        Err(e) => Err(ca_error(source, path, &format!("is not valid PEM: {e}"))),
    }
}

fn parse_pem(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    super::pem::certificates(bytes)
}

fn ca_error(source: &CaSource, path: &Path, reason: &str) -> EgressError {
    let origin = match source {
        CaSource::CertFile(_) => "SSL_CERT_FILE",
        CaSource::CertDir(_) => "SSL_CERT_DIR",
        CaSource::SslVerify(_) => "ssl_verify",
    };
    EgressError::CaFile { path: path.to_owned(), reason: format!("{reason} (from {origin})") }
}

/// How to make the operating system trust a corporate root CA, for messages and `doctor`.
pub fn trust_store_advice(os: crate::paths::Os) -> &'static str {
    match os {
        crate::paths::Os::MacOs => {
            "or trust it in the System keychain (Keychain Access > System > Certificates, open it, Trust: Always Trust; or `sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain corporate-ca.pem`)"
        }
        crate::paths::Os::Linux => {
            "or add it to the system store (Debian/Ubuntu: copy it as /usr/local/share/ca-certificates/corporate-ca.crt and run `sudo update-ca-certificates`; Fedora: /etc/pki/ca-trust/source/anchors/ and `sudo update-ca-trust`) and restart ai-proxy"
        }
    }
}

/// What to do when no verifier can be built from the system's roots.
pub fn missing_roots_advice(os: crate::paths::Os) -> &'static str {
    match os {
        crate::paths::Os::MacOs => {
            "macOS could not provide its trusted roots: check the System Roots and System keychains in Keychain Access, or set SSL_CERT_FILE=/path/to/ca-bundle.pem"
        }
        crate::paths::Os::Linux => {
            "install the system CA bundle (Debian/Ubuntu: `sudo apt-get install ca-certificates`; Fedora: `sudo dnf install ca-certificates`), or set SSL_CERT_FILE=/path/to/ca-bundle.pem"
        }
    }
}

/// The system bundles tried on Linux and other Unixes without a platform trust API.
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The operating system's root store on Linux (the first bundle that exists). Read and parsed
/// once per process (every client's verifier needs it, and decoding the bundle's PEM is by far
/// the largest piece of work at start-up); a missing bundle is looked for again on the next
/// call. Restart to pick up an updated bundle.
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
pub fn system_roots() -> Result<(PathBuf, Vec<CertificateDer<'static>>), EgressError> {
    static LOADED: std::sync::OnceLock<(PathBuf, Vec<CertificateDer<'static>>)> =
        std::sync::OnceLock::new();
    if let Some(found) = LOADED.get() {
        return Ok(found.clone());
    }
    for path in SYSTEM_BUNDLES {
        if let Ok(bytes) = std::fs::read(path)
            && let Ok(certs) = parse_pem(&bytes)
            && !certs.is_empty()
        {
            return Ok(LOADED.get_or_init(|| (PathBuf::from(path), certs)).clone());
        }
    }
    Err(no_system_bundle())
}

#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
fn no_system_bundle() -> EgressError {
    EgressError::Build(format!(
        "no system CA bundle found (looked for {}); install the ca-certificates package",
        SYSTEM_BUNDLES.join(", ")
    ))
}

/// Whether an extra CA source is the system bundle itself (`SSL_CERT_FILE` pointed at
/// `/etc/ssl/certs/ca-certificates.crt` is a common corporate setting, for tools that would
/// otherwise not find it): its roots are already trusted, so reading and checking its ~150
/// certificates again at every start is skipped.
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
pub fn is_system_bundle(source: &CaSource) -> bool {
    let (CaSource::CertFile(path) | CaSource::SslVerify(path)) = source else {
        return false;
    };
    std::fs::metadata(path).is_ok_and(|meta| system_bundles().contains(&file_id(&meta)))
}

/// Whether an extra CA source is the system bundle itself: never on systems whose roots come
/// from the platform verifier.
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "windows", target_os = "android"))]
pub fn is_system_bundle(_: &CaSource) -> bool {
    false
}

/// Whether an `SSL_CERT_DIR` directory is the system's own CA directory: the folder a system
/// bundle is in (Debian's `/etc/ssl/certs`, a common corporate setting). Its files are the
/// bundle's certificates under their own names (plus any an administrator linked in by hand),
/// so reading and checking ~150 files is not worth stopping start-up for: they are read when a
/// verifier is first used ([`system_dir_certs`]), and a file rustls cannot use is skipped as
/// in the bundle.
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
pub fn is_system_dir(source: &CaSource) -> bool {
    let CaSource::CertDir(dir) = source else {
        return false;
    };
    let Ok(meta) = std::fs::metadata(dir) else {
        return false;
    };
    SYSTEM_BUNDLES.iter().map(Path::new).any(|bundle| {
        bundle.is_file()
            && bundle
                .parent()
                .and_then(|p| std::fs::metadata(p).ok())
                .is_some_and(|parent| file_id(&parent) == file_id(&meta))
    })
}

/// Never: without a bundle file there is no system CA directory.
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "windows", target_os = "android"))]
pub fn is_system_dir(_: &CaSource) -> bool {
    false
}

/// The certificates of a system CA directory that the system bundle does not hold already
/// (usually none), read once per process. Unreadable files and blocks are skipped.
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
fn system_dir_certs(dir: &Path) -> Vec<CertificateDer<'static>> {
    type Read = Vec<(PathBuf, Vec<CertificateDer<'static>>)>;
    static READ: std::sync::Mutex<Read> = std::sync::Mutex::new(Vec::new());
    let mut read = READ.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, certs)) = read.iter().find(|(d, _)| d == dir) {
        return certs.clone();
    }
    let (_, bundle) = system_roots().unwrap_or_default();
    let in_bundle: std::collections::HashSet<&[u8]> = bundle.iter().map(|c| c.as_ref()).collect();
    let certs: Vec<_> = load_source(&CaSource::CertDir(dir.to_owned()))
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !in_bundle.contains(c.as_ref()))
        .collect();
    read.push((dir.to_owned(), certs.clone()));
    certs
}

/// The system bundles present, by [`file_id`].
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
fn system_bundles() -> Vec<(u64, u64)> {
    SYSTEM_BUNDLES.iter().filter_map(|b| std::fs::metadata(b).ok()).map(|m| file_id(&m)).collect()
}

/// No bundle file: the platform verifier holds the system roots.
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "windows", target_os = "android"))]
fn system_bundles() -> Vec<(u64, u64)> {
    Vec::new()
}

/// Which file this is (device, inode), whatever links or names lead to it.
fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// The system roots as a rustls store, built once per process and shared by every verifier
/// (extra CAs are added to a copy).
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
fn system_store() -> Result<Arc<rustls::RootCertStore>, EgressError> {
    static STORE: std::sync::OnceLock<Arc<rustls::RootCertStore>> = std::sync::OnceLock::new();
    if let Some(store) = STORE.get() {
        return Ok(store.clone());
    }
    let (_, system) = system_roots()?;
    let store = root_store(system, Vec::new())?;
    Ok(STORE.get_or_init(|| Arc::new(store)).clone())
}

/// Read and parse the system bundle on a background thread, once per process, so that it is
/// off the start-up path (exec → listening) and usually done before the first upstream call
/// needs it. A verifier that needs it earlier waits for it (or builds it itself).
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
fn warm_up_in_background(system_dirs: &[PathBuf]) {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let dirs = system_dirs.to_vec();
        // A thread that cannot start only means the first handshake does the work.
        let _ = std::thread::Builder::new().name("ca-bundle".into()).spawn(move || {
            let _ = system_store();
            for dir in dirs {
                system_dir_certs(&dir);
            }
        });
    });
}

/// The rustls verifier for a trust setting: system roots + extras, wrapped to report the
/// issuer of a rejected certificate.
pub fn verifier(
    trust: &Trust,
    extras: impl Into<Extras>,
) -> Result<Arc<dyn ServerCertVerifier>, EgressError> {
    let extras = extras.into();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    if !trust.verify {
        return Ok(Arc::new(NoVerification(provider)));
    }
    let inner = base_verifier(extras, provider)?;
    Ok(Arc::new(Diagnosing { inner }))
}

/// Linux: everything that can be wrong with the configuration is checked here (an extra CA
/// that cannot be a root, no system bundle at all), so a bad setting still stops start-up
/// with its message; the system bundle itself is parsed later ([`warm_up_in_background`]),
/// and the WebPKI verifier over it is built at the first handshake.
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
fn base_verifier(
    extras: Extras,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, EgressError> {
    root_store(Vec::new(), extras.certs.clone())?;
    if !SYSTEM_BUNDLES.iter().any(|p| Path::new(p).is_file()) {
        return Err(no_system_bundle());
    }
    warm_up_in_background(&extras.system_dirs);
    Ok(Arc::new(SystemRootsVerifier { extras, provider, built: std::sync::OnceLock::new() }))
}

/// A WebPKI verifier over the shared system store plus this client's extra CAs, built on first
/// use. Handshake signatures are checked with the provider's algorithms, as rustls's own
/// WebPKI verifier does, so they need no store.
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
struct SystemRootsVerifier {
    extras: Extras,
    provider: Arc<rustls::crypto::CryptoProvider>,
    built: std::sync::OnceLock<Result<Arc<dyn ServerCertVerifier>, String>>,
}

#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
impl fmt::Debug for SystemRootsVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemRootsVerifier")
            .field("extras", &self.extras.certs.len())
            .field("system_dirs", &self.extras.system_dirs)
            .field("built", &self.built.get().is_some())
            .finish()
    }
}

#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
impl SystemRootsVerifier {
    fn webpki(&self) -> Result<&Arc<dyn ServerCertVerifier>, rustls::Error> {
        let built = self.built.get_or_init(|| {
            let build = || -> Result<Arc<dyn ServerCertVerifier>, EgressError> {
                let system = system_store()?;
                let from_dirs: Vec<_> =
                    self.extras.system_dirs.iter().flat_map(|d| system_dir_certs(d)).collect();
                let store = if self.extras.certs.is_empty() && from_dirs.is_empty() {
                    system
                } else {
                    let mut store = (*system).clone();
                    store.add_parsable_certificates(from_dirs);
                    for cert in &self.extras.certs {
                        store.add(cert.clone()).map_err(|e| {
                            EgressError::Build(format!(
                                "an extra CA certificate cannot be used as a root: {e}"
                            ))
                        })?;
                    }
                    Arc::new(store)
                };
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    store,
                    self.provider.clone(),
                )
                .build()
                .map(|v| v as Arc<dyn ServerCertVerifier>)
                .map_err(|e| EgressError::Build(format!("TLS verifier: {e}")))
            };
            build().map_err(|e| e.to_string())
        });
        built.as_ref().map_err(|e| rustls::Error::General(e.clone()))
    }
}

#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
impl ServerCertVerifier for SystemRootsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(any(target_os = "macos", target_os = "ios", target_os = "windows", target_os = "android"))]
fn base_verifier(
    extras: Extras,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, EgressError> {
    // `is_system_dir` is never true here, so there are no system directories to add; were
    // there any, they would be read like any other.
    let Extras { certs: mut extras, system_dirs } = extras;
    for dir in system_dirs {
        extras.extend(load_source(&CaSource::CertDir(dir)).unwrap_or_default());
    }
    let v = if extras.is_empty() {
        rustls_platform_verifier::Verifier::new(provider)
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(extras, provider)
    };
    v.map(|v| Arc::new(v) as Arc<dyn ServerCertVerifier>)
        .map_err(|e| EgressError::Build(format!("platform TLS verifier: {e}")))
}

/// System roots and extra CAs in one store (Linux). Certificates the system bundle carries
/// but rustls cannot parse are skipped, as every TLS client does; an extra CA that cannot be
/// used is an error.
pub fn root_store(
    system: Vec<CertificateDer<'static>>,
    extras: Vec<CertificateDer<'static>>,
) -> Result<rustls::RootCertStore, EgressError> {
    let mut store = rustls::RootCertStore::empty();
    store.add_parsable_certificates(system);
    for cert in extras {
        store.add(cert).map_err(|e| {
            EgressError::Build(format!("an extra CA certificate cannot be used as a root: {e}"))
        })?;
    }
    Ok(store)
}

/// Why a server certificate was rejected, with what it presented.
#[derive(Debug)]
pub struct UntrustedCertificate {
    pub host: String,
    /// The presented certificate's issuer (`CN=..., O=...`).
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub reason: String,
}

impl fmt::Display for UntrustedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "certificate of {} not trusted: {}", self.host, self.reason)?;
        if let Some(i) = &self.issuer {
            write!(f, " (issued by {i})")?;
        }
        Ok(())
    }
}

impl std::error::Error for UntrustedCertificate {}

#[derive(Debug)]
struct Diagnosing {
    inner: Arc<dyn ServerCertVerifier>,
}

impl ServerCertVerifier for Diagnosing {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| {
                let reason = match &e {
                    rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                        "issued by a certificate authority this machine does not trust".to_owned()
                    }
                    rustls::Error::InvalidCertificate(c) => format!("{c:?}"),
                    other => other.to_string(),
                };
                let issuer = intermediates
                    .last()
                    .and_then(|top| issuer_of(top))
                    .or_else(|| issuer_of(end_entity));
                let detail = UntrustedCertificate {
                    host: server_name.to_str().into_owned(),
                    issuer,
                    subject: subject_of(end_entity),
                    reason,
                };
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                    detail,
                ))))
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `ssl_verify: false`: accepts any certificate (signatures still checked for the handshake).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A rustls client config for a verifier, offering HTTP/2 and HTTP/1.1.
pub fn client_config(
    verifier: Arc<dyn ServerCertVerifier>,
) -> Result<rustls::ClientConfig, EgressError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EgressError::Build(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

// --- Minimal X.509 reading: the issuer and subject names, for messages. ---

/// `CN=..., O=...` of a DER certificate's issuer.
pub fn issuer_of(der: &[u8]) -> Option<String> {
    name_field(der, 0)
}

/// `CN=..., O=...` of a DER certificate's subject.
pub fn subject_of(der: &[u8]) -> Option<String> {
    name_field(der, 2)
}

/// Field `n` after the serial and signature algorithm: 0 = issuer, 1 = validity, 2 = subject.
fn name_field(der: &[u8], n: usize) -> Option<String> {
    let (tag, cert, _) = read_tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, tbs, _) = read_tlv(cert)?;
    if tag != 0x30 {
        return None;
    }
    let mut rest = tbs;
    let (tag, _, after) = read_tlv(rest)?;
    if tag == 0xA0 {
        rest = after; // explicit version
    }
    let (_, _, after) = read_tlv(rest)?; // serial
    let (_, _, after) = read_tlv(after)?; // signature algorithm
    rest = after;
    for _ in 0..n {
        let (_, _, after) = read_tlv(rest)?;
        rest = after;
    }
    let (tag, name, _) = read_tlv(rest)?;
    (tag == 0x30).then(|| format_name(name)).flatten()
}

fn format_name(mut name: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !name.is_empty() {
        let (_, set, after) = read_tlv(name)?;
        name = after;
        let mut set = set;
        while !set.is_empty() {
            let (_, atv, after) = read_tlv(set)?;
            set = after;
            let (tag, oid, value) = read_tlv(atv)?;
            if tag != 0x06 {
                continue;
            }
            let (_, text, _) = read_tlv(value)?;
            let label = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x0A] => "O",
                [0x55, 0x04, 0x0B] => "OU",
                [0x55, 0x04, 0x06] => "C",
                _ => continue,
            };
            parts.push((label, String::from_utf8_lossy(text).into_owned()));
        }
    }
    // Most specific first: CN, then O, OU, C.
    let order = ["CN", "O", "OU", "C"];
    parts.sort_by_key(|(l, _)| order.iter().position(|o| o == l));
    let text: Vec<String> = parts.into_iter().map(|(l, v)| format!("{l}={v}")).collect();
    (!text.is_empty()).then(|| text.join(", "))
}

/// One DER tag-length-value: (tag, contents, rest).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests;
