//! The dashboard at `/ui`: one static page, its script and its style sheet, compiled into the
//! binary (`include_str!`: no CDN, no build step). The assets hold no data and no secret, so
//! they are served without the master key; the page reads everything it shows from the
//! key-protected JSON APIs (`/usage`, `/global/spend/report`, `/spend/logs`) and the open
//! `/health/readiness`, sending the key as `Authorization: Bearer`. The key comes from a login
//! form or the URL fragment (`/ui#key=…`, which browsers never send to a server) and is kept
//! in the tab's `sessionStorage`: no cookie, so no request is authenticated by the browser
//! on its own and cross-site requests gain nothing (the Host and Origin checks of
//! `server::access` apply to these routes as to every other).

use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/app.css");

/// The dashboard's Content-Security-Policy: only its own script and style sheet, fetches to
/// this origin only, no inline script or style, no forms posted anywhere, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// `GET /ui`: the page.
pub async fn page() -> Response {
    asset(PAGE, "text/html; charset=utf-8")
}

/// `GET /ui/app.js`.
pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /ui/app.css`.
pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    // The assets change with the binary: never serve a cached page of an older version.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element the script looks up by id is in the page (a renamed id would leave a
    /// part of the dashboard silently empty).
    #[test]
    fn every_id_the_script_uses_is_in_the_page() {
        let mut ids = Vec::new();
        for part in SCRIPT.split("$('").skip(1) {
            let id = part.split('\'').next().unwrap_or_default();
            ids.push(id);
        }
        assert!(ids.len() > 10, "the script looks elements up with $('id'): {ids:?}");
        for id in ids {
            assert!(PAGE.contains(&format!("id=\"{id}\"")), "#{id} is not in index.html");
        }
    }

    /// The CSP forbids inline script and style: the page must not need them.
    #[test]
    fn the_page_has_no_inline_script_or_style() {
        assert!(!PAGE.contains("style="), "inline style attribute");
        assert!(!PAGE.contains("<style"), "inline style element");
        let handler = PAGE.split(" on").skip(1).find(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(handler.is_none(), "inline event handler: on{handler:?}");
        for tag in PAGE.split("<script").skip(1) {
            let open = tag.split('>').next().unwrap_or_default();
            assert!(open.contains("src=\"/ui/app.js\""), "inline script: <script{open}>");
        }
        assert!(!SCRIPT.contains("innerHTML"), "text from the log is set with textContent");
        assert!(!SCRIPT.contains("setAttribute('style'"), "inline styles are refused by the CSP");
        let script = SCRIPT.replace("'http://www.w3.org/2000/svg'", "");
        assert!(!script.contains("http://") && !script.contains("https://"), "no other origin");
        assert!(!PAGE.contains("http://") && !PAGE.contains("https://"), "no other origin");
    }
}
