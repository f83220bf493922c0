//! A log file that rotates by size and keeps a bounded number of files:
//! `ai-proxy.log` (current), `ai-proxy.log.1` (newest old) … `ai-proxy.log.{max_files-1}`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Appends whole lines to `dir/name`; before a write would make the file larger than
/// `max_bytes`, the files are shifted and the oldest is deleted.
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    max_files: usize,
    state: Mutex<State>,
}

struct State {
    file: Option<File>,
    size: u64,
}

impl RotatingFile {
    /// Create the folder if needed and open (append) the current file.
    pub fn open(
        dir: &Path,
        name: &str,
        max_bytes: u64,
        max_files: usize,
    ) -> io::Result<RotatingFile> {
        fs::create_dir_all(dir)?;
        let path = dir.join(name);
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path,
            max_bytes: max_bytes.max(1),
            max_files: max_files.max(1),
            state: Mutex::new(State { file: Some(file), size }),
        })
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `ai-proxy.log.N`.
    pub fn rotated(&self, n: usize) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&self, st: &mut State) -> io::Result<()> {
        st.file = None;
        if self.max_files == 1 {
            remove_if_exists(&self.path)?;
        } else {
            remove_if_exists(&self.rotated(self.max_files - 1))?;
            for n in (1..self.max_files - 1).rev() {
                rename_if_exists(&self.rotated(n), &self.rotated(n + 1))?;
            }
            rename_if_exists(&self.path, &self.rotated(1))?;
        }
        st.file = Some(open_append(&self.path)?);
        st.size = 0;
        Ok(())
    }
}

impl Write for &RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.size > 0 && st.size + buf.len() as u64 > self.max_bytes {
            self.rotate(&mut st)?;
        }
        let file = match st.file.as_mut() {
            Some(f) => f,
            None => {
                // A failed rotation left no file open: try again to open the current one.
                st.file = Some(open_append(&self.path)?);
                st.file.as_mut().ok_or_else(|| io::Error::other("log file not open"))?
            }
        };
        file.write_all(buf)?;
        st.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match st.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn remove_if_exists(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rotates_by_size_and_keeps_a_bounded_number_of_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let log = RotatingFile::open(tmp.path(), "ai-proxy.log", 25, 3).expect("open");
        let mut w = &log;
        for i in 0..20 {
            w.write_all(format!("line {i:02} ........\n").as_bytes()).expect("write");
        }
        // 20-byte lines, 25-byte limit: one line per file, three files at most.
        assert_eq!(files(tmp.path()), ["ai-proxy.log", "ai-proxy.log.1", "ai-proxy.log.2"]);
        let read = |p: PathBuf| fs::read_to_string(p).expect("read");
        assert_eq!(read(log.path().to_owned()), "line 19 ........\n");
        assert_eq!(read(log.rotated(1)), "line 18 ........\n");
        assert_eq!(read(log.rotated(2)), "line 17 ........\n");
    }

    #[test]
    fn appends_to_an_existing_file_and_counts_its_size() {
        let tmp = tempfile::tempdir().expect("tempdir");
        fs::write(tmp.path().join("a.log"), "0123456789\n").expect("seed");
        let log = RotatingFile::open(tmp.path(), "a.log", 30, 2).expect("open");
        let mut w = &log;
        w.write_all(b"abcdefghij\n").expect("write");
        assert_eq!(fs::read_to_string(log.path()).expect("read"), "0123456789\nabcdefghij\n");
        w.write_all(b"klmnopqrst\n").expect("write"); // 33 > 30: rotate first
        assert_eq!(fs::read_to_string(log.path()).expect("read"), "klmnopqrst\n");
        assert_eq!(fs::read_to_string(log.rotated(1)).expect("read"), "0123456789\nabcdefghij\n");
        assert_eq!(files(tmp.path()), ["a.log", "a.log.1"]);
    }

    #[test]
    fn a_single_file_is_truncated_instead_of_kept() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let log = RotatingFile::open(tmp.path(), "a.log", 10, 1).expect("open");
        let mut w = &log;
        w.write_all(b"12345678\n").expect("write");
        w.write_all(b"abcdefgh\n").expect("write");
        assert_eq!(files(tmp.path()), ["a.log"]);
        assert_eq!(fs::read_to_string(log.path()).expect("read"), "abcdefgh\n");
    }

    #[cfg(unix)]
    #[test]
    fn log_files_are_private_to_the_user() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let log = RotatingFile::open(tmp.path(), "a.log", 10, 2).expect("open");
        let mode = fs::metadata(log.path()).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
