//! Finding the secrets in a `.env` and rewriting the file without them (`secrets import`).
//!
//! Pure text in, text out: the caller stores the values and writes the file.

use super::Secret;
use crate::config::validate::placeholder;

/// Name parts that mark a value as a secret.
const SECRET_NAME_PARTS: &[&str] = &["KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "PWD", "PASS"];

/// Last name parts that mark a setting about secrets rather than a secret.
const NOT_SECRET_LAST_PARTS: &[&str] = &["FILE", "PATH", "DIR", "STORE"];

/// Names that end in a secret part but hold something else.
const NOT_SECRET: &[&str] = &["GOOGLE_APPLICATION_CREDENTIALS", "SSH_AUTH_SOCK", "OLDPWD", "PWD"];

/// Whether `NAME=value` holds a secret: a secret-sounding name (`*_KEY`, `*_SECRET`,
/// `*_TOKEN`, `*_PASSWORD`, …), or a URL with a password in it (a proxy URL such as
/// `http://user:pass@proxy:8080`).
pub fn is_secret(name: &str, value: &str) -> bool {
    if value.trim().is_empty() {
        return false;
    }
    if url_has_password(value) {
        return true;
    }
    if NOT_SECRET.contains(&name) {
        return false;
    }
    let upper = name.to_ascii_uppercase();
    // Where a secret is, or which store holds them, is not itself secret (`*_KEY_FILE`,
    // `AI_PROXY_SECRET_STORE`).
    if upper.rsplit('_').next().is_some_and(|last| NOT_SECRET_LAST_PARTS.contains(&last)) {
        return false;
    }
    upper.split('_').any(|part| SECRET_NAME_PARTS.contains(&part))
}

/// `scheme://user:password@host…`
pub fn url_has_password(value: &str) -> bool {
    url::Url::parse(value.trim()).is_ok_and(|u| u.password().is_some_and(|p| !p.is_empty()))
}

/// The outcome of splitting a `.env`.
#[derive(Debug, Default)]
pub struct Split {
    /// The file without the moved lines (each replaced by a comment naming the variable).
    pub kept: String,
    /// The variables to move into the store, in file order.
    pub moved: Vec<(String, Secret<String>)>,
    /// Secret-looking variables left in place because they hold a template placeholder.
    pub placeholders: Vec<String>,
}

/// Split `.env` text: every secret-looking assignment moves; everything else (comments,
/// blank lines, non-secret variables) is kept as written. `store` names the destination
/// in the comment left behind.
pub fn split(text: &str, store: &str) -> Split {
    let mut out = Split::default();
    for line in text.split_inclusive('\n') {
        let Some((name, value)) = assignment(line) else {
            out.kept.push_str(line);
            continue;
        };
        if !is_secret(&name, &value) {
            out.kept.push_str(line);
            continue;
        }
        if placeholder(&value).is_some() {
            out.placeholders.push(name);
            out.kept.push_str(line);
            continue;
        }
        out.kept
            .push_str(&format!("# {name}: moved to the {store} store (ai-proxy secrets import)\n"));
        out.moved.push((name, Secret::new(value)));
    }
    out
}

/// `[export ]NAME=value [# comment]` with the value unquoted, as dotenv reads it.
pub fn assignment(line: &str) -> Option<(String, String)> {
    let t = line.trim();
    if t.starts_with('#') || t.is_empty() {
        return None;
    }
    let t = t.strip_prefix("export ").map(str::trim_start).unwrap_or(t);
    let (name, rest) = t.split_once('=')?;
    let name = name.trim();
    if crate::secrets::store::check_name(name).is_err() {
        return None;
    }
    let parsed =
        dotenvy::from_read_iter(std::io::Cursor::new(format!("{name}={rest}"))).next()?.ok()?;
    Some((parsed.0, parsed.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_names_and_proxy_passwords() {
        for (n, v) in [
            ("AZURE_CLIENT_SECRET", "s3cr3t"),
            ("DASHSCOPE_API_KEY", "sk-abc"),
            ("LITELLM_MASTER_KEY", "sk-long"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("AZURE_PROXY", "http://bob:hunter2@proxy.corp:8080"),
        ] {
            assert!(is_secret(n, v), "{n}");
        }
        for (n, v) in [
            ("AZURE_CLIENT_ID", "1234"),
            ("VERTEX_PROJECT", "p"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/x.json"),
            ("QWEN_PROXY", "http://proxy.corp:8080"),
            ("LITELLM_PORT", "4000"),
            ("DASHSCOPE_API_KEY", ""),
            ("AI_PROXY_SECRET_STORE", "secret-service"),
            ("SERVICE_ACCOUNT_KEY_FILE", "/k.json"),
        ] {
            assert!(!is_secret(n, v), "{n}");
        }
    }

    #[test]
    fn split_moves_secrets_and_keeps_the_rest_as_written() {
        let text = "# Azure\nAZURE_CLIENT_ID=abc\nexport AZURE_CLIENT_SECRET=\"s3 cr3t\"\nAZURE_PROXY=http://u:p@proxy:8080\n\nDASHSCOPE_API_KEY=您的DashScope_API_KEY\nLITELLM_MASTER_KEY=sk-real # comment\nLITELLM_PORT=4000";
        let s = split(text, "keychain");
        let moved: Vec<(&str, &str)> =
            s.moved.iter().map(|(n, v)| (n.as_str(), v.expose().as_str())).collect();
        assert_eq!(
            moved,
            [
                ("AZURE_CLIENT_SECRET", "s3 cr3t"),
                ("AZURE_PROXY", "http://u:p@proxy:8080"),
                ("LITELLM_MASTER_KEY", "sk-real")
            ]
        );
        assert_eq!(s.placeholders, ["DASHSCOPE_API_KEY"]);
        assert_eq!(
            s.kept,
            "# Azure\nAZURE_CLIENT_ID=abc\n# AZURE_CLIENT_SECRET: moved to the keychain store (ai-proxy secrets import)\n# AZURE_PROXY: moved to the keychain store (ai-proxy secrets import)\n\nDASHSCOPE_API_KEY=您的DashScope_API_KEY\n# LITELLM_MASTER_KEY: moved to the keychain store (ai-proxy secrets import)\nLITELLM_PORT=4000"
        );
    }
}
