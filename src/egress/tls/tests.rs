//! Root store construction, CA file errors and issuer reporting, with a CA made by rcgen.

use super::*;

pub(crate) struct TestPki {
    pub ca_pem: String,
    pub leaf_der: CertificateDer<'static>,
}

pub(crate) fn pki(host: &str) -> TestPki {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Example Corp Inspection CA");
    dn.push(DnType::OrganizationName, "Example Corp");
    ca.distinguished_name = dn;
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().expect("key");
    let mut leaf = CertificateParams::new(vec![host.to_owned()]).expect("params");
    leaf.distinguished_name.push(DnType::CommonName, host);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf");
    TestPki { ca_pem: ca_cert.pem(), leaf_der: leaf_cert.der().clone() }
}

#[test]
fn issuer_and_subject_are_read_from_der() {
    let p = pki("api.example.test");
    assert_eq!(
        issuer_of(&p.leaf_der).as_deref(),
        Some("CN=Example Corp Inspection CA, O=Example Corp")
    );
    assert_eq!(subject_of(&p.leaf_der).as_deref(), Some("CN=api.example.test"));
    assert_eq!(issuer_of(b"\x30\x03\x02\x01"), None, "truncated input is not a panic");
}

#[test]
fn ca_file_problems_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.pem");
    let e = load_source(&CaSource::CertFile(missing.clone())).expect_err("missing").to_string();
    assert!(
        e.contains(&missing.display().to_string())
            && e.contains("file not found")
            && e.contains("SSL_CERT_FILE"),
        "{e}"
    );

    let der = dir.path().join("ca.cer");
    std::fs::write(&der, [0x30u8, 0x82, 0x01, 0x00]).expect("write");
    let e = load_source(&CaSource::SslVerify(der.clone())).expect_err("not pem").to_string();
    assert!(
        e.contains("ca.cer")
            && e.contains("is not a PEM certificate file")
            && e.contains("ssl_verify"),
        "{e}"
    );

    let empty_dir = dir.path().join("empty");
    std::fs::create_dir(&empty_dir).expect("mkdir");
    let e = load_source(&CaSource::CertDir(empty_dir)).expect_err("empty dir").to_string();
    assert!(e.contains("holds no PEM certificates") && e.contains("SSL_CERT_DIR"), "{e}");

    let good = dir.path().join("corp.pem");
    std::fs::write(&good, pki("h").ca_pem).expect("write");
    assert_eq!(load_source(&CaSource::CertFile(good)).expect("loads").len(), 1);
    assert_eq!(load_source(&CaSource::CertDir(dir.path().to_owned())).expect("dir loads").len(), 1);
}

#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
#[test]
fn extra_cas_are_added_on_top_of_the_system_roots() {
    let (path, system) =
        system_roots().expect("this machine has a CA bundle (Debian: ca-certificates)");
    assert!(system.len() > 50, "{} holds only {} roots", path.display(), system.len());
    let with_system_only = root_store(system.clone(), Vec::new()).expect("store");
    let p = pki("h");
    let extra = parse_pem(p.ca_pem.as_bytes()).expect("pem");
    let merged = root_store(system, extra).expect("store");
    assert_eq!(
        merged.len(),
        with_system_only.len() + 1,
        "the corporate CA is added, no public root is dropped"
    );
}

#[test]
fn the_verifier_trusts_the_extra_ca_and_names_the_issuer_otherwise() {
    let p = pki("api.example.test");
    let extra = parse_pem(p.ca_pem.as_bytes()).expect("pem");
    let name = ServerName::try_from("api.example.test").expect("name");
    let trust = Trust { verify: true, extra: Vec::new() };

    let with_ca = verifier(&trust, extra).expect("verifier");
    with_ca
        .verify_server_cert(&p.leaf_der, &[], &name, &[], UnixTime::now())
        .expect("trusted with the corporate CA");

    let without = verifier(&trust, Vec::new()).expect("verifier");
    let err = without
        .verify_server_cert(&p.leaf_der, &[], &name, &[], UnixTime::now())
        .expect_err("untrusted");
    let rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) = &err else {
        panic!("{err:?}");
    };
    let detail = inner.downcast_ref::<UntrustedCertificate>().expect("detail");
    assert_eq!(detail.host, "api.example.test");
    assert_eq!(detail.issuer.as_deref(), Some("CN=Example Corp Inspection CA, O=Example Corp"));

    let off = verifier(&Trust { verify: false, extra: Vec::new() }, Vec::new()).expect("verifier");
    off.verify_server_cert(&p.leaf_der, &[], &name, &[], UnixTime::now())
        .expect("ssl_verify: false accepts anything");
}

#[test]
fn trust_reads_the_environment_and_the_deployment() {
    let env = Env::from_vars([("SSL_CERT_FILE", "/corp/ca.pem"), ("SSL_CERT_DIR", "/a:/b")]);
    let t = Trust::resolve(&env, &SslVerify::ExtraCa("/x.pem".into()));
    assert!(t.verify);
    assert_eq!(
        t.extra,
        vec![
            CaSource::CertFile("/corp/ca.pem".into()),
            CaSource::CertDir("/a".into()),
            CaSource::CertDir("/b".into()),
            CaSource::SslVerify("/x.pem".into())
        ]
    );
    let off = Trust::resolve(&env, &SslVerify::Disabled);
    assert!(!off.verify && off.extra.is_empty());
}

#[test]
fn trust_advice_names_each_systems_own_tools() {
    use crate::paths::Os;
    let mac = trust_store_advice(Os::MacOs);
    assert!(mac.contains("Keychain Access") && mac.contains("security add-trusted-cert"), "{mac}");
    assert!(!mac.contains("ca-certificates"), "{mac}");
    let linux = trust_store_advice(Os::Linux);
    assert!(linux.contains("update-ca-certificates") && !linux.contains("Keychain"), "{linux}");
    assert!(!missing_roots_advice(Os::MacOs).contains("apt-get"));
    assert!(missing_roots_advice(Os::Linux).contains("ca-certificates"));
}

#[test]
fn an_extra_ca_that_cannot_be_a_root_fails_when_the_verifier_is_made() {
    // The system bundle is read later, off the start-up path; a bad extra CA must still stop
    // start-up with its message instead of surfacing at the first handshake.
    let trust = Trust { verify: true, extra: Vec::new() };
    let garbage = CertificateDer::from(vec![0x30u8, 0x03, 0x02, 0x01, 0x01]);
    let err = verifier(&trust, vec![garbage]).expect_err("not a usable root").to_string();
    assert!(err.contains("extra CA certificate cannot be used as a root"), "{err}");
}

#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
#[test]
fn the_system_bundle_named_as_an_extra_ca_is_recognised() {
    let (path, _) = system_roots().expect("this machine has a CA bundle (Debian: ca-certificates)");
    assert!(is_system_bundle(&CaSource::CertFile(path.clone())));
    assert!(is_system_bundle(&CaSource::SslVerify(path.clone())));
    assert!(!is_system_bundle(&CaSource::CertDir(path.parent().expect("dir").to_owned())));
    let dir = tempfile::tempdir().expect("tempdir");
    let corp = dir.path().join("corp.pem");
    std::fs::write(&corp, pki("h").ca_pem).expect("write");
    assert!(!is_system_bundle(&CaSource::CertFile(corp)));
    assert!(!is_system_bundle(&CaSource::CertFile(dir.path().join("missing.pem"))));
}

/// `SSL_CERT_DIR` naming the folder the system bundle is in is the system CA directory; a
/// folder that merely links the bundle, or a file, is not.
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
#[test]
fn the_system_ca_directory_is_recognised() {
    let (bundle, _) =
        system_roots().expect("this machine has a CA bundle (Debian: ca-certificates)");
    let system_dir = bundle.parent().expect("dir").to_owned();
    assert!(is_system_dir(&CaSource::CertDir(system_dir)));
    assert!(!is_system_dir(&CaSource::CertFile(bundle.clone())));
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(&bundle, dir.path().join("ca-certificates.crt")).expect("symlink");
    assert!(!is_system_dir(&CaSource::CertDir(dir.path().to_owned())));
    assert!(!is_system_dir(&CaSource::CertDir(dir.path().join("missing"))));
}

/// What a system CA directory adds is what the bundle lacks: a copy of a bundle root adds
/// nothing, a CA linked in by hand is added, and the verifier that names the directory trusts
/// it from its first use (the directory is not read before).
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
#[test]
fn a_system_ca_directory_adds_what_the_bundle_lacks_when_first_used() {
    let (bundle, _) =
        system_roots().expect("this machine has a CA bundle (Debian: ca-certificates)");
    let text = std::fs::read_to_string(&bundle).expect("bundle");
    let end = "-----END CERTIFICATE-----";
    let first = &text[text.find("-----BEGIN CERTIFICATE-----").expect("a block")..];
    let first = &first[..first.find(end).expect("its end") + end.len()];

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("public-root.pem"), first).expect("write");
    std::os::unix::fs::symlink(&bundle, dir.path().join("ca-certificates.crt")).expect("symlink");
    assert!(system_dir_certs(dir.path()).is_empty(), "a bundle root is not added twice");

    let p = pki("api.example.test");
    let with_corp = tempfile::tempdir().expect("tempdir");
    std::fs::write(with_corp.path().join("public-root.pem"), first).expect("write");
    std::fs::write(with_corp.path().join("corp.pem"), &p.ca_pem).expect("write");
    std::fs::write(with_corp.path().join("notes.txt"), "not a certificate").expect("write");
    let name = ServerName::try_from("api.example.test").expect("name");
    let trust = Trust { verify: true, extra: Vec::new() };
    let extras = |d: &Path| Extras { certs: Vec::new(), system_dirs: vec![d.to_owned()] };
    let v = verifier(&trust, extras(with_corp.path())).expect("verifier");
    v.verify_server_cert(&p.leaf_der, &[], &name, &[], UnixTime::now())
        .expect("trusted through the directory's corporate CA");
    assert_eq!(system_dir_certs(with_corp.path()).len(), 1, "only the corporate CA is new");
    let v = verifier(&trust, extras(dir.path())).expect("verifier");
    v.verify_server_cert(&p.leaf_der, &[], &name, &[], UnixTime::now())
        .expect_err("a directory without the corporate CA does not trust it");
}

/// A certificate directory as `c_rehash` / Debian leave it: each file also under a hash name
/// (symlink) and sometimes a hard link; its certificates are read once. The system bundle in
/// it is skipped (trusted already), and a directory holding only that bundle is not an error.
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
#[test]
fn a_certificate_directory_reads_each_file_once_and_skips_the_system_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corp = dir.path().join("corp.pem");
    std::fs::write(&corp, pki("h").ca_pem).expect("write");
    std::os::unix::fs::symlink(&corp, dir.path().join("5a1b2c3d.0")).expect("symlink");
    std::fs::hard_link(&corp, dir.path().join("corp-copy.pem")).expect("hard link");
    std::fs::write(dir.path().join("other.pem"), pki("i").ca_pem).expect("write");
    let (bundle, _) =
        system_roots().expect("this machine has a CA bundle (Debian: ca-certificates)");
    std::os::unix::fs::symlink(&bundle, dir.path().join("ca-certificates.crt")).expect("symlink");
    let certs = load_source(&CaSource::CertDir(dir.path().to_owned())).expect("dir loads");
    assert_eq!(certs.len(), 2, "corp.pem once (three names) and other.pem");

    let only_bundle = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(&bundle, only_bundle.path().join("cert.pem")).expect("symlink");
    let certs = load_source(&CaSource::CertDir(only_bundle.path().to_owned()));
    assert_eq!(certs.expect("the system bundle alone is no error").len(), 0);
}
