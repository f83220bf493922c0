//! PEM certificate blocks: agreement with rustls-pki-types' reader on well-formed files, and a
//! message naming the line for each way a file can be broken.

use base64::Engine as _;
use proptest::prelude::*;
use rustls::pki_types::pem::PemObject;

use super::*;

/// What rustls-pki-types' reader (the one this module replaced) finds in `text`.
fn reference(text: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(text).collect::<Result<Vec<_>, _>>().expect("reference parse")
}

/// `der` as a PEM block: base64 wrapped at `width`, each line ended by `eol`.
fn block(label: &str, der: &[u8], width: usize, eol: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----{eol}");
    for chunk in b64.as_bytes().chunks(width) {
        s.push_str(std::str::from_utf8(chunk).expect("ascii"));
        s.push_str(eol);
    }
    s.push_str(&format!("-----END {label}-----{eol}"));
    s
}

#[test]
fn a_generated_ca_is_read_as_rustls_reads_it() {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["pem.example.test".to_owned()]).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&key).expect("ca").pem();
    let two = format!("{ca}{ca}");
    let got = certificates(two.as_bytes()).expect("pem");
    assert_eq!(got.len(), 2);
    assert_eq!(got, reference(two.as_bytes()));
}

#[test]
fn text_and_other_blocks_around_certificates_are_skipped() {
    let text = format!(
        "# Example Corp roots\nsubject=CN=Example\n{}\n{}{}trailing words\n",
        block("PRIVATE KEY", b"not for us", 64, "\n"),
        block("CERTIFICATE", b"\x30\x03\x02\x01\x05", 64, "\r\n"),
        block("X509 CRL", b"a list", 64, "\n"),
    );
    let got = certificates(text.as_bytes()).expect("pem");
    assert_eq!(got, vec![CertificateDer::from(b"\x30\x03\x02\x01\x05".to_vec())]);
    assert_eq!(got, reference(text.as_bytes()));
}

#[test]
fn no_block_at_all_is_an_empty_list() {
    assert_eq!(certificates(b"").expect("empty"), vec![]);
    assert_eq!(certificates(b"\x30\x82\x01\x0a binary DER\n").expect("der"), vec![]);
}

#[test]
fn each_broken_file_names_what_and_where() {
    let cert = block("CERTIFICATE", b"\x30\x03\x02\x01\x05", 64, "\n");
    let cases: Vec<(String, &str)> = vec![
        (
            cert.replace("-----END CERTIFICATE-----\n", ""),
            "the CERTIFICATE block begun on line 1 has no -----END CERTIFICATE----- line",
        ),
        (
            cert.replace("END CERTIFICATE", "END PRIVATE KEY"),
            "line 3: `-----END PRIVATE KEY-----` does not close the CERTIFICATE block begun on line 1",
        ),
        (
            format!("{}{cert}", cert.replace("-----END CERTIFICATE-----\n", "")),
            "line 3: a new block begins inside the CERTIFICATE block begun on line 1",
        ),
        (
            cert.replace("MAMCAQU=", "MAMC*QU="),
            "the CERTIFICATE block begun on line 1 is not valid base64",
        ),
        (
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".to_owned(),
            "the CERTIFICATE block begun on line 1 is empty",
        ),
        (
            cert.replace("BEGIN CERTIFICATE-----", "BEGIN CERTIFICATE------"),
            "line 1: a BEGIN line must read -----BEGIN <label>-----",
        ),
        (
            format!("ok\n\n{}", cert.replace("BEGIN CERTIFICATE-----", "BEGIN CERTIFICATE")),
            "line 3: a BEGIN line must read -----BEGIN <label>-----",
        ),
    ];
    for (text, want) in cases {
        let e = certificates(text.as_bytes()).expect_err(&text);
        assert!(e.contains(want), "{e:?} should contain {want:?}\n{text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Any well-formed file (certificates of any bytes, any line width, LF or CRLF, trailing
    /// blanks, comments and other blocks between them) gives rustls' certificates, in order.
    #[test]
    fn agrees_with_rustls_on_well_formed_files(
        parts in prop::collection::vec(
            (
                0u8..4,
                prop::collection::vec(any::<u8>(), 1..600),
                1usize..100,
                any::<bool>(),
                " {0,2}",
            ),
            0..6,
        ),
    ) {
        let mut text = String::new();
        for (kind, der, width, crlf, blanks) in &parts {
            let eol = if *crlf { format!("{blanks}\r\n") } else { format!("{blanks}\n") };
            match kind {
                0 | 1 => text.push_str(&block("CERTIFICATE", der, *width, &eol)),
                2 => text.push_str(&block("RSA PRIVATE KEY", der, *width, &eol)),
                _ => text.push_str(&format!("# {} bytes follow{eol}{eol}", der.len())),
            }
        }
        let got = certificates(text.as_bytes()).expect("well-formed");
        prop_assert_eq!(&got, &reference(text.as_bytes()));
        let certs = parts.iter().filter(|p| p.0 < 2).count();
        prop_assert_eq!(got.len(), certs);
    }
}
