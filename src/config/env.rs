//! Where `os.environ/NAME` values come from: the process environment, then the `.env` file,
//! then the config's `environment_variables`, then the secret store.
//!
//! The process environment is snapshotted once, so nothing in the gateway reads or writes
//! global environment state after start-up, and tests build an [`Env`] from plain maps.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A store that can answer for a variable name (the Keychain, keyutils, a test map).
pub trait SecretLookup: Send + Sync {
    fn lookup(&self, name: &str) -> Option<String>;
    /// Short name for logs, e.g. "keychain".
    fn label(&self) -> &'static str;
    /// Why the last lookup of `name` found nothing although the store may hold it (a locked
    /// keyring, a store error); `None` when the store simply has no such item.
    fn failure(&self, _name: &str) -> Option<String> {
        None
    }
    /// The names the store holds, when it can list them (`secrets list` shows them all).
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Which source a value came from, for the start-up log (never the value itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Process,
    DotEnv(PathBuf),
    ConfigFile,
    Store(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Process => f.write_str("env"),
            Origin::DotEnv(p) => write!(f, ".env ({})", p.display()),
            Origin::ConfigFile => f.write_str("config environment_variables"),
            Origin::Store(label) => f.write_str(label),
        }
    }
}

#[derive(Clone, Default)]
pub struct Env {
    process: HashMap<String, String>,
    dotenv: HashMap<String, String>,
    dotenv_path: Option<PathBuf>,
    config_vars: HashMap<String, String>,
    store: Option<Arc<dyn SecretLookup>>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: show names only.
        let mut names: Vec<&String> = self.process.keys().chain(self.dotenv.keys()).collect();
        names.sort();
        f.debug_struct("Env").field("names", &names).finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read env file {path}: {reason}")]
pub struct DotEnvError {
    pub path: PathBuf,
    pub reason: String,
}

impl Env {
    /// A snapshot of the current process environment.
    pub fn from_process() -> Self {
        Env { process: std::env::vars().collect(), ..Env::default() }
    }

    /// An environment made of the given variables only (tests, tools).
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            process: vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            ..Env::default()
        }
    }

    /// Load a `.env` file (KEY=VALUE lines, `export` prefixes, quotes, `#` comments).
    /// Variables already in the process environment keep their value.
    pub fn load_dotenv(&mut self, path: &Path) -> Result<(), DotEnvError> {
        let iter = dotenvy::from_path_iter(path)
            .map_err(|e| DotEnvError { path: path.to_owned(), reason: e.to_string() })?;
        let mut vars = HashMap::new();
        for item in iter {
            let (k, v) =
                item.map_err(|e| DotEnvError { path: path.to_owned(), reason: e.to_string() })?;
            vars.insert(k, v);
        }
        self.dotenv = vars;
        self.dotenv_path = Some(path.to_owned());
        Ok(())
    }

    /// Values from the config file's `environment_variables` section.
    pub fn set_config_vars(&mut self, vars: HashMap<String, String>) {
        self.config_vars = vars;
    }

    pub fn set_store(&mut self, store: Arc<dyn SecretLookup>) {
        self.store = Some(store);
    }

    pub fn dotenv_path(&self) -> Option<&Path> {
        self.dotenv_path.as_deref()
    }

    /// Names defined in the loaded `.env`, sorted.
    pub fn dotenv_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.dotenv.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The value `.env` gives `name` (whatever the environment says).
    pub fn dotenv_value(&self, name: &str) -> Option<&str> {
        self.dotenv.get(name).map(String::as_str)
    }

    /// The store's label, if a store is attached.
    pub fn store_label(&self) -> Option<&'static str> {
        self.store.as_ref().map(|s| s.label())
    }

    /// The value of `name`, or `None` if unset (an empty value counts as unset).
    pub fn get(&self, name: &str) -> Option<String> {
        self.lookup(name).map(|(v, _)| v)
    }

    /// The value of `name` and where it came from. A value that is a secret (a
    /// secret-sounding name, a URL with a password, anything from the secret store) is
    /// remembered for redaction (`crate::redact`) as it is read.
    pub fn lookup(&self, name: &str) -> Option<(String, Origin)> {
        let found = self.lookup_unredacted(name)?;
        if matches!(found.1, Origin::Store(_)) || crate::secrets::dotenv::is_secret(name, &found.0)
        {
            crate::redact::remember(&found.0);
            if let Ok(url) = url::Url::parse(found.0.trim())
                && let Some(password) = url.password()
            {
                crate::redact::remember(password);
                if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8() {
                    crate::redact::remember(&decoded);
                }
            }
        }
        Some(found)
    }

    fn lookup_unredacted(&self, name: &str) -> Option<(String, Origin)> {
        let nonempty = |v: &String| !v.is_empty();
        if let Some(v) = self.process.get(name).filter(|v| nonempty(v)) {
            return Some((v.clone(), Origin::Process));
        }
        if let Some(v) = self.dotenv.get(name).filter(|v| nonempty(v)) {
            let path = self.dotenv_path.clone().unwrap_or_default();
            return Some((v.clone(), Origin::DotEnv(path)));
        }
        if let Some(v) = self.config_vars.get(name).filter(|v| nonempty(v)) {
            return Some((v.clone(), Origin::ConfigFile));
        }
        let store = self.store.as_ref()?;
        store.lookup(name).filter(|v| !v.is_empty()).map(|v| (v, Origin::Store(store.label())))
    }

    /// Why the secret store could not answer for `name`, if it failed (see [`SecretLookup::failure`]).
    pub fn store_failure(&self, name: &str) -> Option<String> {
        self.store.as_ref()?.failure(name)
    }

    /// The names the attached secret store holds, where it can list them.
    pub fn store_names(&self) -> Vec<String> {
        self.store.as_ref().map(|s| s.names()).unwrap_or_default()
    }

    /// Like [`Env::get`] but tries each name in turn (e.g. `GEMINI_PROXY`, `VERTEX_PROXY`).
    pub fn first_of(&self, names: &[&str]) -> Option<(String, String)> {
        names.iter().find_map(|n| self.get(n).map(|v| ((*n).to_owned(), v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Store;
    impl SecretLookup for Store {
        fn lookup(&self, name: &str) -> Option<String> {
            (name == "FROM_STORE" || name == "EVERYWHERE").then(|| format!("store-{name}"))
        }
        fn label(&self) -> &'static str {
            "keychain"
        }
    }

    #[test]
    fn process_wins_over_dotenv_over_config_over_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "# comment\nEVERYWHERE=dotenv\nexport FROM_DOTENV=\"quoted value\"\nEMPTY=\n",
        )
        .expect("write");
        let mut env = Env::from_vars([("EVERYWHERE", "process"), ("EMPTY", "")]);
        env.load_dotenv(&path).expect("load");
        env.set_config_vars(HashMap::from([("FROM_CONFIG".to_owned(), "cfg".to_owned())]));
        env.set_store(Arc::new(Store));

        assert_eq!(env.lookup("EVERYWHERE"), Some(("process".into(), Origin::Process)));
        assert_eq!(
            env.lookup("FROM_DOTENV"),
            Some(("quoted value".into(), Origin::DotEnv(path.clone())))
        );
        assert_eq!(env.lookup("FROM_CONFIG"), Some(("cfg".into(), Origin::ConfigFile)));
        assert_eq!(
            env.lookup("FROM_STORE"),
            Some(("store-FROM_STORE".into(), Origin::Store("keychain")))
        );
        assert_eq!(env.get("EMPTY"), None, "empty values count as unset");
        assert_eq!(env.get("NOWHERE"), None);
    }

    #[test]
    fn debug_shows_names_not_values() {
        let env = Env::from_vars([("AZURE_CLIENT_SECRET", "hunter2")]);
        let shown = format!("{env:?}");
        assert!(shown.contains("AZURE_CLIENT_SECRET"));
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn unreadable_dotenv_names_the_file() {
        let mut env = Env::default();
        let err = env.load_dotenv(Path::new("/nonexistent/.env")).expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/.env"), "{err}");
    }
}
