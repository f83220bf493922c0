//! Finding the config file and its `.env`: `--config`, `$AI_PROXY_CONFIG`, `./config.yaml`,
//! then the platform config folder; the embedded default when none exists.

use std::path::{Path, PathBuf};

use super::Env;

/// Why a config path was chosen, for the start-up line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A file to read, and which rule chose it.
    File { path: PathBuf, rule: &'static str },
    /// Nothing found: use the embedded default.
    Embedded,
}

/// The per-user config folder: `~/Library/Application Support/ai-proxy` on macOS,
/// `$XDG_CONFIG_HOME/ai-proxy` (default `~/.config/ai-proxy`) elsewhere.
pub fn config_dir(env: &Env) -> Option<PathBuf> {
    let home = env.get("HOME").map(PathBuf::from);
    if cfg!(target_os = "macos") {
        return home.map(|h| h.join("Library/Application Support/ai-proxy"));
    }
    env.get("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".config")))
        .map(|d| d.join("ai-proxy"))
}

/// Apply the search order. An explicit `--config` or `$AI_PROXY_CONFIG` is returned even if
/// it does not exist, so the caller reports the missing file instead of silently falling back.
pub fn find_config(explicit: Option<&Path>, env: &Env, cwd: &Path) -> Found {
    if let Some(p) = explicit {
        return Found::File { path: p.to_owned(), rule: "--config" };
    }
    if let Some(p) = env.get("AI_PROXY_CONFIG") {
        return Found::File { path: PathBuf::from(p), rule: "$AI_PROXY_CONFIG" };
    }
    let local = cwd.join("config.yaml");
    if local.is_file() {
        return Found::File { path: local, rule: "./config.yaml" };
    }
    if let Some(dir) = config_dir(env) {
        let p = dir.join("config.yaml");
        if p.is_file() {
            return Found::File { path: p, rule: "user config folder" };
        }
    }
    Found::Embedded
}

/// The `.env` to load: `--env-file` if given, else `.env` beside the config file (or in the
/// current directory for the embedded config), if it exists.
pub fn find_env_file(explicit: Option<&Path>, config: &Found, cwd: &Path) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_owned());
    }
    let dir = match config {
        Found::File { path, .. } => path.parent().map(Path::to_owned).unwrap_or_default(),
        Found::Embedded => cwd.to_owned(),
    };
    let dir = if dir.as_os_str().is_empty() { cwd.to_owned() } else { dir };
    let candidate = dir.join(".env");
    candidate.is_file().then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_order() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cwd = tmp.path().join("cwd");
        let xdg = tmp.path().join("xdg");
        std::fs::create_dir_all(&cwd).expect("mkdir");
        std::fs::create_dir_all(xdg.join("ai-proxy")).expect("mkdir");
        let env = Env::from_vars([
            ("XDG_CONFIG_HOME", xdg.to_str().expect("utf8")),
            ("HOME", "/nonexistent"),
        ]);

        assert_eq!(find_config(None, &env, &cwd), Found::Embedded);

        let user = xdg.join("ai-proxy/config.yaml");
        std::fs::write(&user, "model_list: []").expect("write");
        if !cfg!(target_os = "macos") {
            assert_eq!(
                find_config(None, &env, &cwd),
                Found::File { path: user.clone(), rule: "user config folder" }
            );
        }

        std::fs::write(cwd.join("config.yaml"), "model_list: []").expect("write");
        assert_eq!(
            find_config(None, &env, &cwd),
            Found::File { path: cwd.join("config.yaml"), rule: "./config.yaml" }
        );

        let env2 = Env::from_vars([("AI_PROXY_CONFIG", "/etc/x.yaml")]);
        assert_eq!(
            find_config(None, &env2, &cwd),
            Found::File { path: "/etc/x.yaml".into(), rule: "$AI_PROXY_CONFIG" }
        );
        assert_eq!(
            find_config(Some(Path::new("/a.yaml")), &env2, &cwd),
            Found::File { path: "/a.yaml".into(), rule: "--config" }
        );
    }

    #[test]
    fn env_file_sits_beside_the_config() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cfg = tmp.path().join("config.yaml");
        let found = Found::File { path: cfg, rule: "--config" };
        assert_eq!(find_env_file(None, &found, tmp.path()), None);
        std::fs::write(tmp.path().join(".env"), "A=1").expect("write");
        assert_eq!(find_env_file(None, &found, Path::new("/")), Some(tmp.path().join(".env")));
        assert_eq!(
            find_env_file(Some(Path::new("/x/.env")), &found, tmp.path()),
            Some(PathBuf::from("/x/.env"))
        );
    }
}
