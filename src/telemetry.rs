//! Logging setup: human-readable lines on stderr and in a size-rotated file in the per-user
//! log folder (the same file for `serve` and `tray`), level from `RUST_LOG` (default `info`).
//! Secrets never reach a log line: they are `Secret`s, which print as `***`, and every
//! formatted line passes through `crate::redact` on its way to stderr or the file
//! ([`Redacting`]), which masks credentials that arrive inside other text (an upstream error
//! echoing a header, a URL with a password).

mod rotate;

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use rotate::RotatingFile;

use crate::config::Env;
use crate::paths::{Os, UserDirs};
use crate::utc;

/// The current log file's name inside the log folder.
pub const LOG_FILE_NAME: &str = "ai-proxy.log";
/// A log file is rotated before it grows past this size.
pub const MAX_LOG_BYTES: u64 = 5 * 1024 * 1024;
/// The current file plus rotated ones (`ai-proxy.log.1` …) never exceed this count.
pub const MAX_LOG_FILES: usize = 5;

/// Where log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The log folder; `None` logs to stderr only.
    pub dir: Option<PathBuf>,
    /// Whether lines also go to stderr (off for launchd/systemd jobs, whose stderr file is
    /// not rotated; it then only catches crashes).
    pub stderr: bool,
}

impl Destination {
    /// `AI_PROXY_LOG_DIR` (a folder, or `off`), else the platform log folder;
    /// `AI_PROXY_LOG_STDERR=0` keeps stderr quiet when a file is written.
    pub fn from_env(env: &Env, os: Os) -> Destination {
        let dir = match env.get("AI_PROXY_LOG_DIR") {
            Some(v) if v.eq_ignore_ascii_case("off") => None,
            Some(v) if !v.trim().is_empty() => Some(PathBuf::from(v)),
            _ => UserDirs::from_env(env, os).map(|d| d.log_dir()),
        };
        let quiet = env.get("AI_PROXY_LOG_STDERR").is_some_and(|v| {
            matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "off" | "false" | "no")
        });
        Destination { stderr: !(quiet && dir.is_some()), dir }
    }

    /// The current log file, if files are written.
    pub fn file(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(LOG_FILE_NAME))
    }
}

static ACTIVE: OnceLock<String> = OnceLock::new();

/// Where log lines go, for the start-up line.
pub fn describe_destination() -> String {
    ACTIVE.get().cloned().unwrap_or_else(|| "stderr".to_owned())
}

/// Install the global subscriber once (destination from the process environment); later
/// calls are no-ops.
pub fn init() {
    init_with(&Destination::from_env(&Env::from_process(), Os::current()));
}

/// Install the global subscriber once for `dest`. A log folder that cannot be written is
/// reported on stderr and logging continues there.
pub fn init_with(dest: &Destination) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let file = dest.dir.as_ref().and_then(|dir| {
        match RotatingFile::open(dir, LOG_FILE_NAME, MAX_LOG_BYTES, MAX_LOG_FILES) {
            Ok(f) => Some(Arc::new(f)),
            Err(e) => {
                eprintln!(
                    "warning: cannot write logs to {}: {e}; logging to stderr only",
                    dir.display()
                );
                None
            }
        }
    });
    let described = match &file {
        Some(f) => f.path().display().to_string(),
        None => "stderr".to_owned(),
    };
    let to_stderr = dest.stderr || file.is_none();
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A terminal gets colours, so its lines are formatted on their own (tracing escapes
    // control characters in them).
    let colour_layer = (to_stderr && terminal).then(|| {
        tracing_subscriber::fmt::layer()
            .with_ansi(true)
            .with_writer(Redacting(std::io::stderr))
            .with_timer(LogTime)
            .with_target(false)
    });
    // Every plain-text destination (the file, redirected stderr: nohup, a login job's file)
    // shares one formatted, escaped and redacted line: formatting and redaction were a fifth
    // of a request's CPU when each destination did its own.
    let plain = PlainLines { stderr: to_stderr && !terminal, file };
    let plain_layer = (plain.stderr || plain.file.is_some()).then(|| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_ansi_sanitization(false)
            .with_writer(plain)
            .with_timer(LogTime)
            .with_target(false)
    });
    let installed =
        tracing_subscriber::registry().with(filter).with(colour_layer).with(plain_layer).try_init();
    if installed.is_ok() {
        let _ = ACTIVE.set(described);
    }
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Run `fut` as the handling of request `id`: log lines written inside it can name the id
/// ([`request_id`]), whichever module writes them.
pub fn with_request_id<F: std::future::Future>(
    id: String,
    fut: F,
) -> impl std::future::Future<Output = F::Output> {
    REQUEST_ID.scope(id, fut)
}

/// The id of the request being handled on this task, or `-` outside one.
pub fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_else(|_| "-".to_owned())
}

/// Text a client chose, made safe for a log line: control characters (CR, LF, ESC, …),
/// quotes and backslashes are escaped, so a model name cannot end a line or forge another.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.escape_debug().to_string())
}

/// A `MakeWriter` whose writers pass each formatted line through `crate::redact` (the fmt
/// layer writes one whole event per `write`).
#[derive(Clone)]
pub struct Redacting<M>(pub M);

impl<'a, M> tracing_subscriber::fmt::MakeWriter<'a> for Redacting<M>
where
    M: tracing_subscriber::fmt::MakeWriter<'a>,
{
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }
}

/// See [`Redacting`].
pub struct RedactingWriter<W>(W);

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = text_of(buf);
        self.0.write_all(crate::redact::redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A formatted line as text: tracing writes UTF-8, checked here with the standard library's
/// word-at-a-time validation (`from_utf8_lossy`'s byte-by-byte walk was about a tenth of
/// what writing a line cost); anything else is read lossily.
fn text_of(buf: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(buf) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(buf),
    }
}

/// The timestamp at the start of every line: the text of tracing's default timer
/// (`2026-12-06T20:07:07.123456Z`), written by [`utc::Micros`] instead of through `fmt`
/// (a tenth of the cost of the request line).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogTime;

impl FormatTime for LogTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        match utc::Micros::of(std::time::SystemTime::now()) {
            Some(t) => w.write_str(t.as_str()),
            None => tracing_subscriber::fmt::time::SystemTime.format_time(w),
        }
    }
}

/// The plain-text destinations of log lines, written with one formatted line each: control
/// characters escaped ([`escape_controls`], in place of tracing's own escaping, which is off
/// for this layer), then redacted.
pub struct PlainLines {
    /// Whether lines go to stderr (not a terminal).
    pub stderr: bool,
    pub file: Option<Arc<RotatingFile>>,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for PlainLines {
    type Writer = PlainLineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        PlainLineWriter(self)
    }
}

/// See [`PlainLines`].
pub struct PlainLineWriter<'a>(&'a PlainLines);

impl Write for PlainLineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = text_of(buf);
        let escaped = escape_controls(&text);
        let line = crate::redact::redact(&escaped);
        // Both destinations are tried; the first failure is reported.
        let to_stderr = match self.0.stderr {
            true => std::io::stderr().write_all(line.as_bytes()),
            false => Ok(()),
        };
        let to_file = match &self.0.file {
            Some(f) => (&**f).write_all(line.as_bytes()),
            None => Ok(()),
        };
        to_stderr.and(to_file).map(|()| buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &self.0.file {
            Some(f) => (&**f).flush(),
            None => Ok(()),
        }
    }
}

/// `text` with the characters a terminal acts on escaped the way tracing escapes them in
/// messages (ESC, BEL, BS, FF and DEL as `\x1b` …, C1 controls as `\u{9b}` …), so a line
/// read with `cat` or `tail` cannot move the cursor or recolour the screen. Newlines and tabs
/// stay. Borrowed when there is nothing to escape (one byte scan).
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    // U+0080..U+009F are 0xC2 0x80..0x9F in UTF-8: a line without 0xC2 has none.
    if !text.bytes().any(|b| matches!(b, 0x1b | 0x07 | 0x08 | 0x0c | 0x7f | 0xc2)) {
        return std::borrow::Cow::Borrowed(text);
    }
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        // Writing to a String cannot fail.
        let _ = match c {
            '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' => write!(out, "\\x{:02x}", c as u32),
            '\u{80}'..='\u{9f}' => write!(out, "\\u{{{:x}}}", c as u32),
            c => {
                out.push(c);
                Ok(())
            }
        };
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_defaults_to_the_platform_log_folder_and_stderr() {
        let env = Env::from_vars([("HOME", "/home/ann")]);
        let d = Destination::from_env(&env, Os::Linux);
        assert_eq!(d.dir, Some(PathBuf::from("/home/ann/.local/state/ai-proxy")));
        assert_eq!(d.file(), Some(PathBuf::from("/home/ann/.local/state/ai-proxy/ai-proxy.log")));
        assert!(d.stderr);
        let d = Destination::from_env(&env, Os::MacOs);
        assert_eq!(d.file(), Some(PathBuf::from("/home/ann/Library/Logs/ai-proxy/ai-proxy.log")));
    }

    #[test]
    fn client_text_cannot_break_a_log_line() {
        assert_eq!(printable("gpt-4o"), "gpt-4o");
        assert_eq!(
            printable("x\r\n2026-01-01 INFO forged line\u{1b}[31m"),
            "x\\r\\n2026-01-01 INFO forged line\\u{1b}[31m"
        );
        assert_eq!(printable("a\"b"), "a\\\"b");
    }

    #[tokio::test]
    async fn the_request_id_is_visible_inside_its_scope_only() {
        assert_eq!(request_id(), "-");
        let inside = with_request_id("req_x".to_owned(), async { request_id() }).await;
        assert_eq!(inside, "req_x");
    }

    #[test]
    fn log_lines_are_redacted_on_their_way_out() {
        let mut out = Vec::new();
        let mut w = RedactingWriter(&mut out);
        w.write_all(b"WARN retrying error=upstream said: Authorization: Bearer sk-abcdef123456\n")
            .expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "WARN retrying error=upstream said: Authorization: Bearer ***\n"
        );
    }

    /// Lines captured in memory, for comparing what the layers write.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_start_with_the_time_as_tracings_default_timer_writes_it() {
        let line = |ours: bool| {
            let out = Captured::default();
            let sink = out.clone();
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || sink.clone())
                .with_target(false);
            let before = std::time::SystemTime::now();
            match ours {
                true => tracing::subscriber::with_default(
                    tracing_subscriber::registry().with(layer.with_timer(LogTime)),
                    || tracing::info!("hello"),
                ),
                false => tracing::subscriber::with_default(
                    tracing_subscriber::registry().with(layer),
                    || tracing::info!("hello"),
                ),
            }
            let after = std::time::SystemTime::now();
            let text = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf8");
            (text, before, after)
        };
        let stamp = |t| utc::Micros::of(t).expect("a four-digit year").as_str().to_owned();
        let (ours, before, after) = line(true);
        // Same-length RFC 3339 texts sort as the times they name.
        let time = &ours[..27];
        assert!(stamp(before).as_str() <= time && time <= stamp(after).as_str(), "{ours}");
        let (theirs, _, _) = line(false);
        let shape = |s: &str| {
            s.bytes().map(|b| if b.is_ascii_digit() { b'9' } else { b }).collect::<Vec<_>>()
        };
        assert_eq!(shape(&ours), shape(&theirs));
    }

    #[test]
    fn control_characters_are_escaped_as_tracing_escapes_them() {
        let message = "model=a\u{1b}[31mred\u{7} b\u{8}\u{c}\u{7f} c\u{9b}2J d\u{85} é\tü ok";
        let ours = escape_controls(message);
        assert_eq!(ours, "model=a\\x1b[31mred\\x07 b\\x08\\x0c\\x7f c\\u{9b}2J d\\u{85} é\tü ok");
        assert!(matches!(escape_controls("plain line é ü\n"), std::borrow::Cow::Borrowed(_)));
        // The same event through tracing's own escaping and through ours gives the same line.
        let line = |sanitize: bool| {
            let out = Captured::default();
            let sink = out.clone();
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_ansi_sanitization(sanitize)
                .without_time()
                .with_writer(move || sink.clone())
                .with_target(false);
            let subscriber = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(subscriber, || tracing::warn!("{message}"));
            let bytes = out.0.lock().expect("lock").clone();
            String::from_utf8(bytes).expect("utf8")
        };
        assert_eq!(escape_controls(&line(false)), line(true));
    }

    #[test]
    fn plain_lines_reach_the_file_once_escaped_and_redacted() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file =
            Arc::new(RotatingFile::open(tmp.path(), LOG_FILE_NAME, 1 << 20, 2).expect("open"));
        let plain = PlainLines { stderr: false, file: Some(file.clone()) };
        let mut w = tracing_subscriber::fmt::MakeWriter::make_writer(&plain);
        w.write_all(b"WARN upstream said: Authorization: Bearer sk-abcdef123456 \x1b[2J\n")
            .expect("write");
        w.flush().expect("flush");
        assert_eq!(
            std::fs::read_to_string(file.path()).expect("read"),
            "WARN upstream said: Authorization: Bearer *** \\x1b[2J\n"
        );
    }

    #[test]
    fn destination_overrides() {
        let env = Env::from_vars([
            ("HOME", "/h"),
            ("AI_PROXY_LOG_DIR", "/var/tmp/l"),
            ("AI_PROXY_LOG_STDERR", "0"),
        ]);
        let d = Destination::from_env(&env, Os::Linux);
        assert_eq!(d, Destination { dir: Some("/var/tmp/l".into()), stderr: false });

        // Logs must go somewhere: without a file, stderr stays on.
        let env = Env::from_vars([
            ("HOME", "/h"),
            ("AI_PROXY_LOG_DIR", "off"),
            ("AI_PROXY_LOG_STDERR", "0"),
        ]);
        assert_eq!(Destination::from_env(&env, Os::Linux), Destination { dir: None, stderr: true });
        let env = Env::from_vars([("AI_PROXY_LOG_STDERR", "0")]);
        assert_eq!(Destination::from_env(&env, Os::Linux), Destination { dir: None, stderr: true });
    }
}
