//! `ai-proxy service install-cli` / `uninstall-cli` and the tray's "Install Command Line
//! Tool…": a symlink named `ai-proxy` on the PATH pointing at this binary (inside the .app,
//! `AI Proxy.app/Contents/MacOS/ai-proxy`). The terminal then runs the app's own signed
//! binary, so the Keychain sees one code signature for the CLI and the menu-bar app and asks
//! once (see README "Keychain and code signing"). Plain file operations, tested on Linux.

use std::io;
use std::path::{Path, PathBuf};

/// The name of the link.
pub const LINK_NAME: &str = "ai-proxy";

/// Where the link goes: `/usr/local/bin` when this user can write there (it is on every
/// macOS PATH), else `~/.local/bin` (created; the caller says when it is not on PATH).
pub fn choose_dir(usr_local_writable: bool, home: &Path) -> PathBuf {
    if usr_local_writable { PathBuf::from("/usr/local/bin") } else { home.join(".local/bin") }
}

/// Whether this user can create files in `dir` (an existing directory).
pub fn writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".ai-proxy-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(_) => false,
    }
}

/// What installing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    Created(PathBuf),
    /// The link already pointed here.
    Unchanged(PathBuf),
    /// A link pointing elsewhere (an older build) was replaced; the old target.
    Replaced {
        link: PathBuf,
        old: PathBuf,
    },
}

/// Create or update `dir/ai-proxy` → `program`. A regular file of that name (a copy
/// installed by `cargo install`, Homebrew, …) is not touched: the error says what to do.
pub fn install(program: &Path, dir: &Path) -> Result<Installed, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let link = dir.join(LINK_NAME);
    let old = match std::fs::symlink_metadata(&link) {
        Ok(m) if m.file_type().is_symlink() => std::fs::read_link(&link).ok(),
        Ok(_) => {
            return Err(format!(
                "{} exists and is not a link (another ai-proxy installed there?): remove it first, or keep using it",
                link.display()
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot inspect {}: {e}", link.display())),
    };
    if old.as_deref() == Some(program) {
        return Ok(Installed::Unchanged(link));
    }
    if old.is_some() {
        std::fs::remove_file(&link)
            .map_err(|e| format!("cannot replace {}: {e}", link.display()))?;
    }
    symlink(program, &link).map_err(|e| format!("cannot create {}: {e}", link.display()))?;
    Ok(match old {
        Some(old) => Installed::Replaced { link, old },
        None => Installed::Created(link),
    })
}

/// Remove `dir/ai-proxy` if it is a link to `program`; `Ok(false)` when there was none. A
/// link elsewhere or a regular file is left alone (the error says so).
pub fn uninstall(program: &Path, dir: &Path) -> Result<bool, String> {
    let link = dir.join(LINK_NAME);
    match std::fs::symlink_metadata(&link) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("cannot inspect {}: {e}", link.display())),
        Ok(m) if !m.file_type().is_symlink() => {
            Err(format!("{} is not a link made by ai-proxy: left alone", link.display()))
        }
        Ok(_) => {
            let target = std::fs::read_link(&link).unwrap_or_default();
            if target != program {
                return Err(format!(
                    "{} points at {}, not at this binary: left alone",
                    link.display(),
                    target.display()
                ));
            }
            std::fs::remove_file(&link)
                .map_err(|e| format!("cannot remove {}: {e}", link.display()))?;
            Ok(true)
        }
    }
}

/// Whether `dir` is on the PATH value `path`.
pub fn on_path(dir: &Path, path: Option<&str>) -> bool {
    path.unwrap_or_default().split(':').any(|d| Path::new(d) == dir)
}

/// One line for the terminal or the menu about an install.
pub fn describe(result: &Installed, path: Option<&str>) -> String {
    let (link, what) = match result {
        Installed::Created(l) => (l, format!("installed {}", l.display())),
        Installed::Unchanged(l) => (l, format!("{} is already installed", l.display())),
        Installed::Replaced { link, old } => {
            (link, format!("updated {} (it pointed at {})", link.display(), old.display()))
        }
    };
    let dir = link.parent().unwrap_or(Path::new("/"));
    if on_path(dir, path) {
        format!("{what}: run `ai-proxy` in a terminal")
    } else {
        format!("{what}; add {} to your PATH to run `ai-proxy` in a terminal", dir.display())
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "symbolic links need a Unix system"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_usr_local_bin_when_writable() {
        let home = Path::new("/Users/me");
        assert_eq!(choose_dir(true, home), Path::new("/usr/local/bin"));
        assert_eq!(choose_dir(false, home), Path::new("/Users/me/.local/bin"));
    }

    #[test]
    fn install_update_and_remove_the_link() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let app = tmp.path().join("AI Proxy.app/Contents/MacOS/ai-proxy");
        let older = tmp.path().join("old/ai-proxy");
        let bin = tmp.path().join("bin");
        assert!(!bin.exists());
        assert!(writable(tmp.path()));

        let link = bin.join("ai-proxy");
        assert_eq!(install(&app, &bin), Ok(Installed::Created(link.clone())));
        assert_eq!(std::fs::read_link(&link).expect("link"), app);
        assert_eq!(install(&app, &bin), Ok(Installed::Unchanged(link.clone())));

        // A link from an older build is replaced.
        std::fs::remove_file(&link).expect("rm");
        symlink(&older, &link).expect("old link");
        assert_eq!(
            install(&app, &bin),
            Ok(Installed::Replaced { link: link.clone(), old: older.clone() })
        );
        assert_eq!(std::fs::read_link(&link).expect("link"), app);

        // Removing: only our own link.
        let e = uninstall(&older, &bin).expect_err("not ours");
        assert!(e.contains("not at this binary: left alone"), "{e}");
        assert_eq!(uninstall(&app, &bin), Ok(true));
        assert!(std::fs::symlink_metadata(&link).is_err());
        assert_eq!(uninstall(&app, &bin), Ok(false));
    }

    #[test]
    fn a_regular_file_is_never_replaced() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("ai-proxy");
        std::fs::write(&file, "#!/bin/sh\n").expect("write");
        let app = Path::new("/Applications/AI Proxy.app/Contents/MacOS/ai-proxy");
        let e = install(app, tmp.path()).expect_err("refused");
        assert!(e.contains("exists and is not a link"), "{e}");
        assert!(uninstall(app, tmp.path()).expect_err("refused").contains("left alone"));
        assert_eq!(std::fs::read_to_string(&file).expect("kept"), "#!/bin/sh\n");
    }

    #[test]
    fn the_message_says_when_the_folder_is_not_on_path() {
        let link = PathBuf::from("/Users/me/.local/bin/ai-proxy");
        let done = Installed::Created(link);
        assert_eq!(
            describe(&done, Some("/usr/bin:/bin")),
            "installed /Users/me/.local/bin/ai-proxy; add /Users/me/.local/bin to your PATH to run `ai-proxy` in a terminal"
        );
        assert_eq!(
            describe(&done, Some("/usr/bin:/Users/me/.local/bin")),
            "installed /Users/me/.local/bin/ai-proxy: run `ai-proxy` in a terminal"
        );
    }
}
