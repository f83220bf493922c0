//! Tokens from the Azure CLI's login (`az account get-access-token`), for users who ran
//! `az login` instead of configuring a service principal.
//!
//! `az` is looked up by full path: `PATH` first, then the usual install folders, because an
//! app started from the menu bar or launchd has a minimal `PATH` without Homebrew.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;

use super::{AccessToken, AuthError};
use crate::providers::http::truncate;
use crate::secrets::Secret;

/// Folders searched after `PATH` (Homebrew on Apple silicon, Homebrew on Intel / pip, distro).
pub const FALLBACK_DIRS: &[&str] = &["/opt/homebrew/bin", "/usr/local/bin", "/usr/bin"];
/// Upper bound for one `az` run (it starts a Python interpreter; a cold start can take seconds).
pub const CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a token is reused when `az` reports no machine-readable expiry (az before 2.54
/// prints only a local-time `expiresOn`). A 401 refreshes it earlier anyway.
pub const UNKNOWN_EXPIRY_LIFETIME: Duration = Duration::from_secs(600);

/// The first `az` found in `path_var`'s folders, then in [`FALLBACK_DIRS`].
pub fn find_az(path_var: Option<&str>, is_file: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let from_path = path_var
        .into_iter()
        .flat_map(|p| p.split(':'))
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    from_path
        .chain(FALLBACK_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join("az"))
        .find(|candidate| is_file(candidate))
}

/// The Azure CLI as a token source.
#[derive(Debug, Clone)]
pub struct AzureCli {
    /// Full path of `az`.
    pub program: PathBuf,
    pub scope: String,
    /// `--tenant`, when one is configured (AZURE_TENANT_ID / tenant_id).
    pub tenant: Option<String>,
    /// The gateway's `PATH`, passed on with `az`'s own folder in front.
    pub path_var: Option<String>,
}

impl AzureCli {
    pub fn cache_key(&self) -> String {
        format!(
            "azure-cli|{}|{}|{}",
            self.program.display(),
            self.tenant.as_deref().unwrap_or(""),
            self.scope
        )
    }

    /// The arguments `az` is run with.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = ["account", "get-access-token", "--output", "json", "--scope"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.push(self.scope.clone());
        if let Some(t) = &self.tenant {
            args.push("--tenant".into());
            args.push(t.clone());
        }
        args
    }

    /// Run `az` and read its token.
    pub async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(self.args())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .env("AZURE_CORE_ONLY_SHOW_ERRORS", "true")
            .env("AZURE_CORE_NO_COLOR", "true");
        if let Some(dir) = self.program.parent() {
            let path = match self.path_var.as_deref().filter(|p| !p.is_empty()) {
                Some(p) => format!("{}:{p}", dir.display()),
                None => format!("{}:/usr/bin:/bin", dir.display()),
            };
            cmd.env("PATH", path);
        }
        let shown = self.program.display();
        let out = match tokio::time::timeout(CLI_TIMEOUT, cmd.output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                return Err(AuthError::Unreachable(format!(
                    "cannot run the Azure CLI ({shown}): {e}"
                )));
            }
            Err(_) => {
                return Err(AuthError::Unreachable(format!(
                    "the Azure CLI ({shown}) did not answer within {}s",
                    CLI_TIMEOUT.as_secs()
                )));
            }
        };
        if !out.status.success() {
            return Err(AuthError::Refused(describe_failure(
                &String::from_utf8_lossy(&out.stderr),
                &shown.to_string(),
            )));
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let (token, lifetime) = parse_output(&out.stdout, now).map_err(|e| {
            AuthError::Invalid(format!(
                "the Azure CLI ({shown}) printed something that is not a token: {e}"
            ))
        })?;
        Ok(AccessToken::expiring_in(token, lifetime.unwrap_or(UNKNOWN_EXPIRY_LIFETIME)))
    }
}

/// A message for a failed `az` run, with the next step when it is "not logged in".
pub fn describe_failure(stderr: &str, program: &str) -> String {
    let text = stderr.trim();
    let text = text.strip_prefix("ERROR:").unwrap_or(text).trim();
    let mut msg =
        format!("the Azure CLI ({program}) could not get a token: {}", truncate(text, 600));
    if text.contains("az login") || text.contains("AADSTS70043") || text.contains("AADSTS700082") {
        msg.push_str(". Run `az login` (and `az account set --subscription ...` if needed), or configure a service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)");
    }
    msg
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CliToken {
    access_token: Option<String>,
    /// Unix seconds (az 2.54 and later), a number or a string.
    #[serde(rename = "expires_on")]
    expires_on: Option<Value>,
}

/// The token and, when `az` says it in Unix time, how long it stays valid from `now_unix`.
pub fn parse_output(
    stdout: &[u8],
    now_unix: u64,
) -> Result<(Secret<String>, Option<Duration>), String> {
    let parsed: CliToken = serde_json::from_slice(stdout).map_err(|e| e.to_string())?;
    let token =
        parsed.access_token.filter(|t| !t.is_empty()).ok_or_else(|| "no accessToken".to_owned())?;
    let expires = match parsed.expires_on {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let lifetime = expires.map(|e| Duration::from_secs(e.saturating_sub(now_unix)));
    Ok((Secret::new(token), lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn az_is_found_on_path_then_in_fallback_folders() {
        let on = |p: &'static str| move |c: &Path| c == Path::new(p);
        assert_eq!(
            find_az(Some("/nope:/tools/bin"), on("/tools/bin/az")),
            Some(PathBuf::from("/tools/bin/az"))
        );
        // A minimal PATH (menu bar app) still finds Homebrew's az.
        assert_eq!(
            find_az(Some("/usr/bin:/bin"), on("/opt/homebrew/bin/az")),
            Some(PathBuf::from("/opt/homebrew/bin/az"))
        );
        assert_eq!(
            find_az(None, on("/usr/local/bin/az")),
            Some(PathBuf::from("/usr/local/bin/az"))
        );
        assert_eq!(find_az(Some("/a"), |_| false), None);
    }

    #[test]
    fn arguments_name_scope_and_tenant() {
        let cli = AzureCli {
            program: PathBuf::from("/opt/homebrew/bin/az"),
            scope: "https://cognitiveservices.azure.com/.default".into(),
            tenant: Some("t-1".into()),
            path_var: None,
        };
        assert_eq!(
            cli.args().join(" "),
            "account get-access-token --output json --scope https://cognitiveservices.azure.com/.default --tenant t-1"
        );
    }

    #[test]
    fn output_with_unix_expiry() {
        let out = br#"{"accessToken":"eyJ0eXAi","expiresOn":"2025-06-01 12:00:00.000000","expires_on":1748779200,"subscription":"s","tenant":"t","tokenType":"Bearer"}"#;
        let (t, life) = parse_output(out, 1748779200 - 3000).expect("token");
        assert_eq!(t.expose(), "eyJ0eXAi");
        assert_eq!(life, Some(Duration::from_secs(3000)));
        let (_, life) =
            parse_output(br#"{"accessToken":"x","expires_on":"1000"}"#, 400).expect("token");
        assert_eq!(life, Some(Duration::from_secs(600)));
    }

    #[test]
    fn output_of_old_az_has_no_reliable_expiry() {
        let (_, life) =
            parse_output(br#"{"accessToken":"x","expiresOn":"2025-06-01 12:00:00.000000"}"#, 0)
                .expect("token");
        assert_eq!(life, None);
        assert!(parse_output(b"not json", 0).is_err());
        assert!(parse_output(br#"{"expires_on":1}"#, 0).is_err());
    }

    #[test]
    fn not_logged_in_says_what_to_run() {
        let msg =
            describe_failure("ERROR: Please run 'az login' to setup account.\n", "/usr/bin/az");
        assert!(
            msg.starts_with(
                "the Azure CLI (/usr/bin/az) could not get a token: Please run 'az login'"
            ),
            "{msg}"
        );
        assert!(msg.contains("Run `az login`"), "{msg}");
    }
}
