//! Google OAuth access tokens for Vertex AI, from a service-account key (RS256 JWT-bearer
//! grant) or gcloud's application-default credentials (refresh-token grant).
//!
//! Credentials are looked up in order: the deployment's `vertex_credentials` (a path or the
//! JSON itself), `GOOGLE_APPLICATION_CREDENTIALS`, then gcloud's ADC file
//! (`$CLOUDSDK_CONFIG/application_default_credentials.json`, else
//! `~/.config/gcloud/application_default_credentials.json`). Token requests go to the
//! credential's own `token_uri` through the deployment's egress client (its proxy and CA).
//! Deployments with the same credential share one cached token (`auth::shared_cache`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Client;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AccessToken, TokenCache, shared_cache};
use crate::config::Env;
use crate::providers::body::{MAX_ERROR_BODY, read_prefix};
use crate::secrets::Secret;

/// The scope Vertex AI needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's token endpoint, for credentials that do not name one.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Bound on one token request.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Lifetime asked for in the JWT assertion (Google's maximum).
const ASSERTION_LIFETIME: u64 = 3600;
/// What to tell a user with no usable credentials (the seed's FAQ).
pub const LOGIN_HINT: &str = "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account JSON key file (or `vertex_credentials` in the model's litellm_params)";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoogleAuthError {
    /// Nothing found anywhere.
    #[error("no Google credentials found for Vertex AI: {LOGIN_HINT} (looked at: {looked})")]
    NotFound { looked: String },
    /// A credential was found but cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// The token endpoint refused or could not be reached.
    #[error("{0}")]
    Token(String),
}

/// A usable credential.
pub enum Credential {
    ServiceAccount {
        client_email: String,
        key: EncodingKey,
        key_id: Option<String>,
        token_uri: String,
        project_id: Option<String>,
    },
    AuthorizedUser {
        client_id: String,
        client_secret: Secret<String>,
        refresh_token: Secret<String>,
        token_uri: String,
        quota_project_id: Option<String>,
    },
}

impl Credential {
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::ServiceAccount { .. } => "service_account",
            Credential::AuthorizedUser { .. } => "authorized_user",
        }
    }

    /// Where its tokens come from (the file's `token_uri`, else Google's).
    pub fn token_uri(&self) -> &str {
        match self {
            Credential::ServiceAccount { token_uri, .. }
            | Credential::AuthorizedUser { token_uri, .. } => token_uri,
        }
    }
}

/// A credential and where it came from.
pub struct Found {
    pub credential: Credential,
    /// "GOOGLE_APPLICATION_CREDENTIALS (/path/key.json)", for messages.
    pub source: String,
    /// Identity for sharing: same credential → same token cache. Contains no secret.
    identity: String,
    /// The file it was read from (re-read when a token is fetched, so a new gcloud login is
    /// picked up without a restart).
    path: Option<PathBuf>,
    fingerprint: u64,
}

/// Find the credential a deployment uses.
pub fn discover(vertex_credentials: Option<&Value>, env: &Env) -> Result<Found, GoogleAuthError> {
    match vertex_credentials {
        Some(Value::Object(_)) => {
            let text = vertex_credentials.map(Value::to_string).unwrap_or_default();
            return parse(&text, "vertex_credentials (inline JSON)".into());
        }
        Some(Value::String(s)) if s.trim_start().starts_with('{') => {
            return parse(s, "vertex_credentials (inline JSON)".into());
        }
        Some(Value::String(s)) if !s.trim().is_empty() => {
            return from_file(PathBuf::from(s.trim()), "vertex_credentials");
        }
        _ => {}
    }
    if let Some(path) = env.get("GOOGLE_APPLICATION_CREDENTIALS") {
        return from_file(PathBuf::from(path), "GOOGLE_APPLICATION_CREDENTIALS");
    }
    let adc = match (env.get("CLOUDSDK_CONFIG"), env.get("HOME")) {
        (Some(dir), _) => Some(PathBuf::from(dir).join("application_default_credentials.json")),
        (None, Some(home)) => {
            Some(PathBuf::from(home).join(".config/gcloud/application_default_credentials.json"))
        }
        (None, None) => None,
    };
    match adc {
        Some(path) if path.is_file() => from_file(path, "gcloud application-default credentials"),
        Some(path) => Err(GoogleAuthError::NotFound {
            looked: format!("vertex_credentials, GOOGLE_APPLICATION_CREDENTIALS, {}", path.display()),
        }),
        None => Err(GoogleAuthError::NotFound {
            looked: "vertex_credentials, GOOGLE_APPLICATION_CREDENTIALS, CLOUDSDK_CONFIG, HOME (not set)".into(),
        }),
    }
}

fn from_file(path: PathBuf, origin: &str) -> Result<Found, GoogleAuthError> {
    let source = format!("{origin} ({})", path.display());
    let text = std::fs::read_to_string(&path).map_err(|e| {
        GoogleAuthError::Invalid(format!("cannot read Google credentials from {source}: {e}"))
    })?;
    let mut found = parse(&text, source)?;
    found.path = Some(path);
    Ok(found)
}

#[derive(Deserialize)]
struct RawCredential {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    project_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    quota_project_id: Option<String>,
    token_uri: Option<String>,
}

/// Parse credential JSON (a service-account key or gcloud's ADC file).
pub fn parse(text: &str, source: String) -> Result<Found, GoogleAuthError> {
    let raw: RawCredential = serde_json::from_str(text).map_err(|e| {
        GoogleAuthError::Invalid(format!("{source} is not a Google credentials JSON file: {e}"))
    })?;
    let missing = |field: &str| {
        GoogleAuthError::Invalid(format!("{source}: the credential has no `{field}`"))
    };
    let token_uri = raw
        .token_uri
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
    match raw.kind.as_deref() {
        Some("service_account") => {
            let client_email = raw.client_email.ok_or_else(|| missing("client_email"))?;
            let pem = raw.private_key.ok_or_else(|| missing("private_key"))?;
            let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                GoogleAuthError::Invalid(format!(
                    "{source}: `private_key` is not an RSA private key in PEM form ({e})"
                ))
            })?;
            let identity = format!(
                "sa|{client_email}|{}|{token_uri}",
                raw.private_key_id.as_deref().unwrap_or("")
            );
            Ok(Found {
                credential: Credential::ServiceAccount {
                    client_email,
                    key,
                    key_id: raw.private_key_id,
                    token_uri,
                    project_id: raw.project_id,
                },
                source,
                identity,
                path: None,
                fingerprint: fnv(text),
            })
        }
        Some("authorized_user") => {
            let client_id = raw.client_id.ok_or_else(|| missing("client_id"))?;
            let client_secret = raw.client_secret.ok_or_else(|| missing("client_secret"))?;
            let refresh_token = raw.refresh_token.ok_or_else(|| missing("refresh_token"))?;
            let identity = format!("user|{client_id}|{:016x}|{token_uri}", fnv(&refresh_token));
            Ok(Found {
                credential: Credential::AuthorizedUser {
                    client_id,
                    client_secret: Secret::new(client_secret),
                    refresh_token: Secret::new(refresh_token),
                    token_uri,
                    quota_project_id: raw.quota_project_id,
                },
                source,
                identity,
                path: None,
                fingerprint: fnv(text),
            })
        }
        Some(other) => Err(GoogleAuthError::Invalid(format!(
            "{source}: credential type `{other}` is not supported by ai-proxy (supported: service_account, authorized_user); use a service-account key file or run `gcloud auth application-default login` with your user account"
        ))),
        None => Err(missing("type")),
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
}

/// Tokens for one credential; the cache is shared with every deployment using the same one.
pub struct GoogleAuth {
    credential: Mutex<Arc<Credential>>,
    source: String,
    path: Option<PathBuf>,
    fingerprint: AtomicU64,
    cache: Arc<TokenCache>,
}

impl std::fmt::Debug for GoogleAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleAuth")
            .field("kind", &self.kind())
            .field("source", &self.source)
            .finish()
    }
}

impl GoogleAuth {
    pub fn new(found: Found) -> Self {
        GoogleAuth {
            cache: shared_cache(&format!("google|{}", found.identity)),
            credential: Mutex::new(Arc::new(found.credential)),
            source: found.source,
            path: found.path,
            fingerprint: AtomicU64::new(found.fingerprint),
        }
    }

    fn current(&self) -> Arc<Credential> {
        self.credential.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-read the credential file if it changed (`gcloud auth application-default login`
    /// rewrites it). A file that became unreadable or invalid leaves the credential as it was.
    fn reload(&self) {
        let Some(path) = &self.path else { return };
        let Ok(text) = std::fs::read_to_string(path) else { return };
        let fp = fnv(&text);
        if fp == self.fingerprint.load(Ordering::Relaxed) {
            return;
        }
        match parse(&text, self.source.clone()) {
            Ok(found) => {
                *self.credential.lock().unwrap_or_else(|p| p.into_inner()) =
                    Arc::new(found.credential);
                self.fingerprint.store(fp, Ordering::Relaxed);
                tracing::info!(source = %self.source, "Google credentials changed on disk; using the new ones");
            }
            Err(e) => {
                tracing::warn!(source = %self.source, "Google credentials changed on disk but cannot be used: {e}")
            }
        }
    }

    /// Where the credential came from, for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn kind(&self) -> &'static str {
        self.current().kind()
    }

    /// The project a service-account key belongs to, or a user credential's quota project.
    pub fn project_id(&self) -> Option<String> {
        match &*self.current() {
            Credential::ServiceAccount { project_id, .. } => project_id.clone(),
            Credential::AuthorizedUser { quota_project_id, .. } => quota_project_id.clone(),
        }
    }

    /// For `x-goog-user-project`: the quota project of a user credential.
    pub fn quota_project(&self) -> Option<String> {
        match &*self.current() {
            Credential::AuthorizedUser { quota_project_id, .. } => {
                quota_project_id.clone().filter(|q| !q.is_empty())
            }
            Credential::ServiceAccount { .. } => None,
        }
    }

    /// A valid access token: cached, or fetched through `client` (single flight).
    pub async fn token(&self, client: &Client) -> Result<Secret<String>, GoogleAuthError> {
        self.cache.get(|| self.fetch(client)).await
    }

    /// Vertex said 401 with this token: drop it so the next call fetches a new one.
    pub async fn invalidate(&self, rejected: &Secret<String>) {
        self.cache.invalidate(rejected).await;
    }

    async fn fetch(&self, client: &Client) -> Result<AccessToken, GoogleAuthError> {
        self.reload();
        let credential = self.current();
        let token_uri = credential.token_uri();
        let form: Vec<(&str, String)> = match &*credential {
            Credential::ServiceAccount { client_email, key, key_id, token_uri, .. } => {
                let assertion =
                    assertion(client_email, key, key_id.as_deref(), token_uri, unix_now())
                        .map_err(|e| {
                            GoogleAuthError::Invalid(format!(
                                "{}: cannot sign the token request: {e}",
                                self.source
                            ))
                        })?;
                vec![("grant_type", JWT_BEARER.to_owned()), ("assertion", assertion)]
            }
            Credential::AuthorizedUser { client_id, client_secret, refresh_token, .. } => vec![
                ("grant_type", "refresh_token".to_owned()),
                ("client_id", client_id.clone()),
                ("client_secret", client_secret.expose().clone()),
                ("refresh_token", refresh_token.expose().clone()),
            ],
        };
        let what = format!("Google token endpoint {token_uri}");
        let send = client.post(token_uri).form(&form).send();
        let mut resp = match tokio::time::timeout(TOKEN_TIMEOUT, send).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                return Err(GoogleAuthError::Token(format!(
                    "cannot reach {what} ({}): {}",
                    self.source,
                    crate::providers::http::chain(&e)
                )));
            }
            Err(_) => {
                return Err(GoogleAuthError::Token(format!("{what} did not answer within 30s")));
            }
        };
        if let Some(m) =
            crate::egress::redirect::refusal(&resp, &what, "the credential's token_uri")
        {
            return Err(GoogleAuthError::Token(m));
        }
        let status = resp.status();
        // Bounded like every upstream body: a token answer is a few KiB.
        let read = read_prefix(&mut resp, MAX_ERROR_BODY);
        let body = match tokio::time::timeout(TOKEN_TIMEOUT, read).await {
            Ok(Ok((b, _))) => b,
            _ => return Err(GoogleAuthError::Token(format!("{what} did not finish its answer"))),
        };
        if !status.is_success() {
            return Err(GoogleAuthError::Token(self.refusal(
                &credential,
                status.as_u16(),
                &body,
                &what,
            )));
        }
        let ok: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            GoogleAuthError::Token(format!(
                "{what} answered with something that is not a token ({e})"
            ))
        })?;
        let lifetime = ok.expires_in.as_ref().and_then(seconds).unwrap_or(3600);
        Ok(AccessToken::expiring_in(Secret::new(ok.access_token), Duration::from_secs(lifetime)))
    }

    /// Google's `{"error": "invalid_grant", "error_description": …}` as a message with advice.
    fn refusal(&self, credential: &Credential, status: u16, body: &[u8], what: &str) -> String {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let code = v.get("error").and_then(Value::as_str).unwrap_or("");
        let desc =
            v.get("error_description").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(
                || crate::providers::http::truncate(&String::from_utf8_lossy(body), 300),
            );
        let advice = match (credential, code) {
            (
                Credential::AuthorizedUser { .. },
                "invalid_grant" | "invalid_client" | "unauthorized_client",
            ) => {
                "; the gcloud login has expired or was revoked: run `gcloud auth application-default login` again"
            }
            (
                Credential::ServiceAccount { .. },
                "invalid_grant" | "invalid_client" | "unauthorized_client",
            ) => {
                "; the service-account key may be disabled or deleted, or this machine's clock is off: create a new key or check the clock"
            }
            _ => "",
        };
        format!(
            "{what} refused the {} credential from {} (HTTP {status} {code}): {desc}{advice}",
            credential.kind(),
            self.source
        )
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<Value>,
}

fn seconds(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Claims of the JWT-bearer assertion Google's token endpoint verifies.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AssertionClaims {
    pub iss: String,
    pub scope: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

/// Sign an RS256 assertion: `iss` the service account, `aud` the token endpoint.
pub fn assertion(
    client_email: &str,
    key: &EncodingKey,
    key_id: Option<&str>,
    token_uri: &str,
    now: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = key_id.map(str::to_owned);
    let claims = AssertionClaims {
        iss: client_email.to_owned(),
        scope: SCOPE.to_owned(),
        aud: token_uri.to_owned(),
        iat: now,
        exp: now + ASSERTION_LIFETIME,
    };
    jsonwebtoken::encode(&header, &claims, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn no_credentials_tells_the_user_what_to_run() {
        let dir = tempfile::tempdir().expect("tmp");
        let home = dir.path().to_string_lossy().to_string();
        let err = discover(None, &env(&[("HOME", &home)])).err().expect("not found");
        let msg = err.to_string();
        assert!(msg.contains("gcloud auth application-default login"), "{msg}");
        assert!(msg.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{msg}");
        assert!(msg.contains(".config/gcloud/application_default_credentials.json"), "{msg}");
    }

    #[test]
    fn other_credential_types_are_refused_by_name() {
        let err = parse(r#"{"type":"external_account","audience":"x"}"#, "test".into())
            .err()
            .expect("refused");
        assert!(err.to_string().contains("`external_account` is not supported"), "{err}");
        let err =
            parse(r#"{"type":"impersonated_service_account"}"#, "t".into()).err().expect("refused");
        assert!(err.to_string().contains("impersonated_service_account"), "{err}");
    }

    #[test]
    fn adc_file_is_found_under_cloudsdk_config_then_home() {
        let dir = tempfile::tempdir().expect("tmp");
        let adc = r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r","quota_project_id":"q"}"#;
        std::fs::write(dir.path().join("application_default_credentials.json"), adc)
            .expect("write");
        let cfg = dir.path().to_string_lossy().to_string();
        let found = discover(None, &env(&[("CLOUDSDK_CONFIG", &cfg), ("HOME", "/nonexistent")]))
            .expect("found");
        assert_eq!(found.credential.kind(), "authorized_user");
        assert_eq!(found.credential.token_uri(), DEFAULT_TOKEN_URI);
        assert!(
            found.source.starts_with("gcloud application-default credentials"),
            "{}",
            found.source
        );

        let home = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(home.path().join(".config/gcloud")).expect("mkdir");
        std::fs::write(
            home.path().join(".config/gcloud/application_default_credentials.json"),
            adc,
        )
        .expect("write");
        let h = home.path().to_string_lossy().to_string();
        assert!(discover(None, &env(&[("HOME", &h)])).is_ok());
        // GOOGLE_APPLICATION_CREDENTIALS wins over the ADC file; a bad path names the variable.
        let err =
            discover(None, &env(&[("HOME", &h), ("GOOGLE_APPLICATION_CREDENTIALS", "/nope.json")]))
                .err()
                .expect("unreadable");
        assert!(err.to_string().contains("GOOGLE_APPLICATION_CREDENTIALS (/nope.json)"), "{err}");
    }

    #[test]
    fn inline_vertex_credentials_win() {
        let v = serde_json::json!({"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r","token_uri":"http://127.0.0.1:1/token"});
        let found = discover(Some(&v), &env(&[("GOOGLE_APPLICATION_CREDENTIALS", "/nope.json")]))
            .expect("inline");
        assert_eq!(found.credential.token_uri(), "http://127.0.0.1:1/token");
        let as_text = Value::String(v.to_string());
        assert!(discover(Some(&as_text), &Env::default()).is_ok());
    }

    #[test]
    fn a_bad_private_key_is_reported_without_echoing_it() {
        let err = parse(
            r#"{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nnotakey\n-----END PRIVATE KEY-----\n"}"#,
            "k.json".into(),
        )
        .err()
        .expect("bad key");
        assert!(err.to_string().contains("is not an RSA private key"), "{err}");
        assert!(!err.to_string().contains("notakey"));
    }
}
