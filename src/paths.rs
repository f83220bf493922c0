//! Per-user folders outside the config: logs, state (instance lock), LaunchAgents and
//! systemd user units. Pure functions of the environment and the target OS, so both
//! platforms' layouts are tested on Linux.

use std::path::PathBuf;

use crate::config::Env;

/// The operating-system family whose conventions apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    MacOs,
    Linux,
}

impl Os {
    /// The OS this binary was built for (everything that is not macOS follows Linux/XDG).
    pub fn current() -> Os {
        if cfg!(target_os = "macos") { Os::MacOs } else { Os::Linux }
    }
}

/// The folders of one user, resolved from `HOME` and the XDG variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDirs {
    pub os: Os,
    pub home: PathBuf,
    xdg_state: Option<PathBuf>,
    xdg_config: Option<PathBuf>,
}

impl UserDirs {
    /// `None` when `HOME` is not set (or not absolute): nothing per-user can be placed then.
    pub fn from_env(env: &Env, os: Os) -> Option<UserDirs> {
        let abs = |name: &str| env.get(name).map(PathBuf::from).filter(|p| p.is_absolute());
        Some(UserDirs {
            os,
            home: abs("HOME")?,
            xdg_state: abs("XDG_STATE_HOME"),
            xdg_config: abs("XDG_CONFIG_HOME"),
        })
    }

    /// Log files: `~/Library/Logs/ai-proxy` on macOS, `$XDG_STATE_HOME/ai-proxy`
    /// (default `~/.local/state/ai-proxy`) on Linux.
    pub fn log_dir(&self) -> PathBuf {
        match self.os {
            Os::MacOs => self.home.join("Library/Logs/ai-proxy"),
            Os::Linux => self.xdg_state_home().join("ai-proxy"),
        }
    }

    /// Small runtime state (the instance lock): `~/Library/Application Support/ai-proxy` on
    /// macOS, `$XDG_STATE_HOME/ai-proxy` on Linux.
    pub fn state_dir(&self) -> PathBuf {
        match self.os {
            Os::MacOs => self.home.join("Library/Application Support/ai-proxy"),
            Os::Linux => self.xdg_state_home().join("ai-proxy"),
        }
    }

    /// Where per-user launchd jobs live.
    pub fn launch_agents_dir(&self) -> PathBuf {
        self.home.join("Library/LaunchAgents")
    }

    /// Where per-user systemd units live (`$XDG_CONFIG_HOME/systemd/user`).
    pub fn systemd_user_dir(&self) -> PathBuf {
        self.xdg_config.clone().unwrap_or_else(|| self.home.join(".config")).join("systemd/user")
    }

    fn xdg_state_home(&self) -> PathBuf {
        self.xdg_state.clone().unwrap_or_else(|| self.home.join(".local/state"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macos_layout() {
        let env = Env::from_vars([("HOME", "/Users/ann"), ("XDG_STATE_HOME", "/x")]);
        let d = UserDirs::from_env(&env, Os::MacOs).expect("home");
        assert_eq!(d.log_dir(), PathBuf::from("/Users/ann/Library/Logs/ai-proxy"));
        assert_eq!(d.state_dir(), PathBuf::from("/Users/ann/Library/Application Support/ai-proxy"));
        assert_eq!(d.launch_agents_dir(), PathBuf::from("/Users/ann/Library/LaunchAgents"));
    }

    #[test]
    fn linux_layout_follows_xdg() {
        let env = Env::from_vars([("HOME", "/home/ann")]);
        let d = UserDirs::from_env(&env, Os::Linux).expect("home");
        assert_eq!(d.log_dir(), PathBuf::from("/home/ann/.local/state/ai-proxy"));
        assert_eq!(d.state_dir(), d.log_dir());
        assert_eq!(d.systemd_user_dir(), PathBuf::from("/home/ann/.config/systemd/user"));

        let env = Env::from_vars([
            ("HOME", "/home/ann"),
            ("XDG_STATE_HOME", "/s"),
            ("XDG_CONFIG_HOME", "/c"),
        ]);
        let d = UserDirs::from_env(&env, Os::Linux).expect("home");
        assert_eq!(d.log_dir(), PathBuf::from("/s/ai-proxy"));
        assert_eq!(d.systemd_user_dir(), PathBuf::from("/c/systemd/user"));

        // Relative XDG values are ignored, as the spec says.
        let env = Env::from_vars([("HOME", "/home/ann"), ("XDG_STATE_HOME", "rel")]);
        let d = UserDirs::from_env(&env, Os::Linux).expect("home");
        assert_eq!(d.log_dir(), PathBuf::from("/home/ann/.local/state/ai-proxy"));
    }

    #[test]
    fn no_home_no_dirs() {
        assert_eq!(UserDirs::from_env(&Env::default(), Os::Linux), None);
    }
}
