//! The dashboard at `/ui` through `server::app(state)`: its assets are served without the key,
//! with a strict CSP; the data it reads stays behind the key; the Host and Origin checks
//! refuse foreign pages and names for `/ui` as for every route.

use ai_proxy::config::{self, Env, Source};
use ai_proxy::server::{self, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

const KEY: &str = "sk-dashboard-test-key";

fn app() -> server::App {
    let yaml = format!(
        "model_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/echo\ngeneral_settings:\n  master_key: {KEY}\n"
    );
    let cfg = config::load(&yaml, Source::Embedded, Env::default()).expect("config");
    server::app(AppState::from_config(&cfg))
}

async fn get(path: &str, headers: &[(&str, &str)]) -> (StatusCode, http::HeaderMap, String) {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app().oneshot(req.body(Body::empty()).expect("request")).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    (status, headers, String::from_utf8(bytes.to_vec()).expect("utf8"))
}

const LOCAL: (&str, &str) = ("host", "127.0.0.1:4000");

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_a_strict_csp() {
    for (path, kind, needle) in [
        ("/ui", "text/html", "<script src=\"/ui/app.js\" defer></script>"),
        ("/ui/", "text/html", "id=\"login-form\""),
        ("/ui/app.js", "text/javascript", "Bearer "),
        ("/ui/app.css", "text/css", ".chart svg"),
    ] {
        let (status, h, body) = get(path, &[LOCAL]).await;
        assert_eq!(status, StatusCode::OK, "{path}: no key needed for the assets");
        let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(header("content-type").starts_with(kind), "{path}: {}", header("content-type"));
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert!(body.contains(needle), "{path}");
        assert!(!body.contains(KEY), "{path} holds no secret");
    }
}

#[tokio::test]
async fn the_data_the_page_reads_needs_the_key() {
    for path in ["/usage?window=week", "/global/spend/report", "/spend/logs?limit=200"] {
        let (status, _, _) = get(path, &[LOCAL]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} without the key");
        let bearer = format!("Bearer {KEY}");
        // The page's own fetches: same origin (a browser may send its Origin).
        let (status, _, body) =
            get(path, &[LOCAL, ("origin", "http://127.0.0.1:4000"), ("authorization", &bearer)])
                .await;
        // No request log in this state: the key was accepted and the handler said why.
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
    }
}

#[tokio::test]
async fn foreign_pages_and_host_names_are_refused() {
    for headers in [
        [LOCAL, ("origin", "http://evil.example")],
        [("host", "dashboard.evil.example:4000"), ("origin", "http://127.0.0.1:4000")],
    ] {
        for path in ["/ui", "/ui/app.js", "/usage"] {
            let (status, h, body) = get(path, &headers).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} {headers:?}: {body}");
            assert!(h.get("access-control-allow-origin").is_none());
        }
    }
    // A local browser app may load it (the loopback origin policy of every route).
    let (status, h, _) = get("/ui", &[LOCAL, ("origin", "http://localhost:4000")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h.get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some("http://localhost:4000")
    );
}
