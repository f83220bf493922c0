//! Files ai-proxy writes (config.yaml, .env, backups): mode 0600 inside a 0700 folder,
//! replaced atomically (temporary file in the same folder, then rename).

use std::io::Write;
use std::path::Path;

/// Create `dir` (and parents) if needed and make it 0700.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Write `contents` to `path` with mode 0600, atomically. The folder is made 0700 only if we
/// create it (an existing folder such as a project checkout keeps its mode).
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::env::current_dir()?,
    };
    if !dir.exists() {
        private_dir(&dir)?;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = open_private(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn files_are_0600_in_a_0700_folder() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("ai-proxy");
        let file = dir.join(".env");
        write_private(&file, "A=1\n").expect("write");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o600);
        write_private(&file, "A=2\n").expect("rewrite");
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "A=2\n");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_dir(&dir).expect("ls").count(), 1, "no temporary file left");
    }
}
