//! The certificates of a PEM file (RFC 7468 text: `-----BEGIN CERTIFICATE-----` blocks), for
//! CA bundles and `SSL_CERT_DIR` files. Pure: bytes in, DER certificates or a message out.
//!
//! Certificates are public, so their base64 is decoded with the `base64` crate's general
//! decoder rather than rustls-pki-types' PEM reader, whose decoder is written for private keys
//! and ran at about 20 instructions per byte: with `SSL_CERT_DIR=/etc/ssl/certs` (a common
//! corporate setting, ~430 certificates counting the links and the bundle in it) that reader
//! was two thirds of the gateway's start-up work (BENCHMARKS.md, issue #20).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rustls::pki_types::CertificateDer;

/// Standard alphabet; padding may be present or not (both occur in hand-made PEM files).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";
const CERTIFICATE: &[u8] = b"CERTIFICATE";

/// Every `CERTIFICATE` block of `text`, in order, decoded to DER. Text outside blocks and
/// blocks of other kinds (private keys, CRLs, `TRUSTED CERTIFICATE`) are skipped. A block
/// without its END line, a malformed BEGIN line or a certificate that is not base64 is an
/// error that names the line. No block at all is `Ok(vec![])`: the caller decides whether that
/// is wrong.
pub fn certificates(text: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut out = Vec::new();
    // The open block: its label, the line it began on, and (for a certificate) its base64.
    let mut open: Option<(&[u8], usize)> = None;
    let mut b64: Vec<u8> = Vec::new();
    for (number, line) in (1..).zip(lines(text).map(<[u8]>::trim_ascii)) {
        match open {
            None => {
                if let Some(rest) = line.strip_prefix(BEGIN) {
                    open = Some((label(rest, number)?, number));
                    b64.clear();
                }
            }
            Some((name, began)) => {
                if line.starts_with(BEGIN) {
                    return Err(format!(
                        "line {number}: a new block begins inside the {} block begun on line {began} (its END line is missing)",
                        String::from_utf8_lossy(name),
                    ));
                }
                if let Some(rest) = line.strip_prefix(END) {
                    if rest.strip_prefix(name) != Some(DASHES) {
                        return Err(format!(
                            "line {number}: `{}` does not close the {} block begun on line {began}",
                            String::from_utf8_lossy(line),
                            String::from_utf8_lossy(name),
                        ));
                    }
                    if name == CERTIFICATE {
                        out.push(decode(&b64, began)?);
                    }
                    open = None;
                } else if name == CERTIFICATE {
                    // Blanks inside a line are rare: `decode` removes them if the text is
                    // not base64 as it stands.
                    b64.extend_from_slice(line);
                }
            }
        }
    }
    match open {
        None => Ok(out),
        Some((name, began)) => {
            let name = String::from_utf8_lossy(name);
            Err(format!("the {name} block begun on line {began} has no -----END {name}----- line"))
        }
    }
}

/// The lines of `text`, without their `\n` (found with `memchr`: a bundle is ~220 KB).
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', text).chain([text.len()]).map(move |end| {
        let line = &text[start..end];
        start = end + 1;
        line
    })
}

/// The label of a BEGIN line (`rest` follows `-----BEGIN `): up to exactly five closing dashes.
fn label(rest: &[u8], number: usize) -> Result<&[u8], String> {
    match rest.strip_suffix(DASHES) {
        Some(name) if !name.is_empty() && !name.ends_with(b"-") => Ok(name),
        _ => Err(format!(
            "line {number}: a BEGIN line must read -----BEGIN <label>----- (found `-----BEGIN {}`)",
            String::from_utf8_lossy(rest)
        )),
    }
}

fn decode(b64: &[u8], began: usize) -> Result<CertificateDer<'static>, String> {
    let decoded = BASE64.decode(b64).or_else(|e| {
        let compact: Vec<u8> = b64.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        if compact.len() == b64.len() { Err(e) } else { BASE64.decode(compact) }
    });
    match decoded {
        Ok(der) if !der.is_empty() => Ok(CertificateDer::from(der)),
        Ok(_) => Err(format!("the CERTIFICATE block begun on line {began} is empty")),
        Err(e) => {
            Err(format!("the CERTIFICATE block begun on line {began} is not valid base64: {e}"))
        }
    }
}

#[cfg(test)]
mod tests;
