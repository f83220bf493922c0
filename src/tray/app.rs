//! Toolkit glue for the menu-bar app (feature `tray`): the tao event loop on the main
//! thread, the tray icon (created once the loop has started, at `StartCause::Init`), native
//! menus rebuilt from `menu::Menu`, the clipboard through arboard, files opened with
//! `open` / `xdg-open`. It maps clicks to controller commands and snapshots to native items;
//! every decision is in `menu` and `controller`.
//!
//! macOS: the app never takes focus at launch (login, Finder, `ai-proxy tray`); only About
//! activates it, to bring its panel to the front. The Copy items that carry the master key
//! mark the clipboard as concealed (clipboard managers skip it). While the gateway serves an
//! App Nap activity is held. When macOS terminates the app (logout, restart) the loop ends
//! with `LoopDestroyed`: the gateway then gets its full grace period to drain.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use tao::event::{Event, StartCause};
use tao::event_loop::{ControlFlow, EventLoopBuilder};
use tokio::sync::mpsc::{self, UnboundedSender};
#[cfg(not(target_os = "macos"))]
use tray_icon::menu::AboutMetadata;
use tray_icon::menu::{
    CheckMenuItem, IsMenuItem, Menu as NativeMenu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu,
};
use tray_icon::{Icon as NativeIcon, TrayIcon, TrayIconBuilder};

use super::Options;
use super::controller::{Command, Controller, Publish};
use super::menu::{self, Action, Icon, Item, Snapshot};
use crate::instance::InstanceLock;
use crate::paths::Os;

const VERSION: &str = env!("CARGO_PKG_VERSION");

// The 2x images (44 px): tray-icon draws a macOS status item 22 pt high, so they map one to
// one onto Retina pixels; the glyph is 16 pt across inside (scripts/gen-icons.py).
const RUNNING_PNG: &[u8] = include_bytes!("../../resources/trayTemplate@2x.png");
const STOPPED_PNG: &[u8] = include_bytes!("../../resources/trayStoppedTemplate@2x.png");
const ERROR_PNG: &[u8] = include_bytes!("../../resources/trayErrorTemplate@2x.png");

enum UserEvent {
    Snapshot(Snapshot),
    Menu(String),
}

/// Start the controller on a background runtime and run the event loop on this (the main)
/// thread until the controller reports that it has stopped for Quit or a signal.
pub fn run(opts: Options, lock: Option<InstanceLock>) -> anyhow::Result<ExitCode> {
    let runtime = crate::gateway::runtime_builder().thread_name("ai-proxy-gateway").build()?;
    #[allow(unused_mut)]
    let mut event_loop = EventLoopBuilder::<UserEvent>::with_user_event().build();
    #[cfg(target_os = "macos")]
    {
        use tao::platform::macos::{ActivationPolicy, EventLoopExtMacOS};
        // A menu-bar app: no Dock icon, even when started outside the .app bundle.
        event_loop.set_activation_policy(ActivationPolicy::Accessory);
        // Do not steal focus from the front app at launch.
        event_loop.set_activate_ignoring_other_apps(false);
    }

    let proxy = event_loop.create_proxy();
    MenuEvent::set_event_handler(Some(move |e: MenuEvent| {
        let _ = proxy.send_event(UserEvent::Menu(e.id.0));
    }));

    let proxy = event_loop.create_proxy();
    let logs = opts
        .log_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "stderr".to_owned());
    let announce = super::announcer(VERSION, logs);
    let publish: Publish = Box::new(move |s: Snapshot| {
        announce(&s);
        let _ = proxy.send_event(UserEvent::Snapshot(s));
    });
    let (commands, command_rx) = mpsc::unbounded_channel();
    let controller = runtime
        .spawn(Controller::new(opts.loader, opts.login, opts.grace, publish).run(command_rx));
    let on_signal = commands.clone();
    runtime.spawn(async move {
        crate::server::shutdown_signal().await;
        let _ = on_signal.send(Command::Quit);
    });
    // SIGHUP (`systemctl --user reload`, `kill -HUP`) is the menu's Reload.
    let on_hangup = commands.clone();
    runtime.spawn(async move {
        let mut hangups = crate::server::hangup_signals();
        while hangups.recv().await.is_some() {
            if on_hangup.send(Command::Reload).is_err() {
                break;
            }
        }
    });
    let _ = commands.send(Command::Start);

    let mut ui = Ui {
        tray: None,
        shown: None,
        snapshot: Snapshot { offer_cli: OFFER_CLI, ..Snapshot::initial() },
        icons: Icons::decode(),
        clipboard: None,
        commands,
        log_file: opts.log_file,
        runtime: Some(runtime),
        controller: Some(controller),
        grace: opts.grace,
        #[cfg(target_os = "macos")]
        activity: None,
        _lock: lock,
    };
    event_loop.run(move |event, _, control_flow| match event {
        Event::NewEvents(StartCause::Init) => {
            *control_flow = ControlFlow::Wait;
            ui.create_tray();
        }
        Event::UserEvent(UserEvent::Snapshot(s)) => {
            let exiting = s.exiting;
            ui.show(s);
            if exiting {
                // Sticky: nothing sets control_flow after this.
                *control_flow = ControlFlow::Exit;
            }
        }
        Event::UserEvent(UserEvent::Menu(id)) => ui.clicked(&id),
        Event::LoopDestroyed => ui.shutdown(),
        _ => {}
    })
}

struct Ui {
    tray: Option<TrayIcon>,
    /// The menu currently shown (rebuilt only when it changes).
    shown: Option<menu::Menu>,
    snapshot: Snapshot,
    icons: Icons,
    clipboard: Option<arboard::Clipboard>,
    commands: UnboundedSender<Command>,
    log_file: Option<PathBuf>,
    runtime: Option<tokio::runtime::Runtime>,
    /// The controller task: it ends after the gateway has drained.
    controller: Option<tokio::task::JoinHandle<()>>,
    grace: Duration,
    /// Held while the gateway serves (no App Nap).
    #[cfg(target_os = "macos")]
    activity: Option<super::macos::Activity>,
    _lock: Option<InstanceLock>,
}

/// The id of the About item where the app shows the panel itself (macOS).
#[cfg(target_os = "macos")]
const ABOUT_ID: &str = "about";

impl Ui {
    fn create_tray(&mut self) {
        let m = menu::build(&self.snapshot, VERSION);
        let native = native_menu(&m);
        let mut builder = TrayIconBuilder::new()
            .with_menu(Box::new(native))
            .with_tooltip(&m.tooltip)
            .with_autosave_name("ai-proxy");
        if let Some(icon) = self.icons.get(m.icon) {
            #[cfg(target_os = "macos")]
            {
                builder = builder.with_icon_templated(icon);
            }
            #[cfg(not(target_os = "macos"))]
            {
                builder = builder.with_icon(icon);
            }
        }
        // The Linux backend loads libappindicator at run time and panics when it is missing.
        match std::panic::catch_unwind(AssertUnwindSafe(move || builder.build())) {
            Ok(Ok(tray)) => {
                self.tray = Some(tray);
                self.shown = Some(m);
            }
            Ok(Err(e)) => {
                tracing::error!("cannot create the menu-bar icon: {e}; the gateway keeps running")
            }
            Err(_) => tracing::error!(
                "cannot create the menu-bar icon: no AppIndicator library (install libayatana-appindicator3-1); the gateway keeps running"
            ),
        }
    }

    fn show(&mut self, s: Snapshot) {
        #[cfg(target_os = "macos")]
        {
            let serving = matches!(s.status, menu::Status::Running { .. });
            if serving && self.activity.is_none() {
                self.activity =
                    Some(super::macos::Activity::begin("AI Proxy is serving API requests"));
            } else if !serving {
                self.activity = None;
            }
        }
        self.snapshot = Snapshot { offer_cli: OFFER_CLI, ..s };
        let Some(tray) = &self.tray else { return };
        let m = menu::build(&self.snapshot, VERSION);
        if self.shown.as_ref() == Some(&m) {
            return;
        }
        tray.set_menu(Some(Box::new(native_menu(&m))));
        if self.shown.as_ref().map(|s| s.icon) != Some(m.icon)
            && let Some(icon) = self.icons.get(m.icon)
        {
            #[cfg(target_os = "macos")]
            let r = tray.set_icon_templated(Some(icon));
            #[cfg(not(target_os = "macos"))]
            let r = tray.set_icon(Some(icon));
            if let Err(e) = r {
                tracing::warn!("cannot change the menu-bar icon: {e}");
            }
        }
        let _ = tray.set_tooltip(Some(&m.tooltip));
        self.shown = Some(m);
    }

    fn clicked(&mut self, id: &str) {
        #[cfg(target_os = "macos")]
        if id == ABOUT_ID {
            return super::macos::show_about(menu::APP_NAME, VERSION);
        }
        let Some(action) = Action::from_id(id) else { return };
        let command = match &action {
            Action::Toggle => Command::Toggle,
            Action::Restart => Command::Restart,
            Action::ReloadConfig => Command::Reload,
            Action::Quit => Command::Quit,
            Action::LaunchAtLogin => {
                // The toolkit flipped the checkmark itself; redraw from the real state
                // when the controller answers, even if that state did not change.
                self.shown = None;
                Command::ToggleLaunchAtLogin
            }
            Action::CopyBaseUrl
            | Action::CopyApiKey
            | Action::CopyShellExports
            | Action::CopyAlias(_) => {
                if let Some(text) = menu::copy_text(&action, &self.snapshot) {
                    self.copy(text.expose(), menu::copies_secret(&action));
                }
                return;
            }
            Action::InstallCli => Command::Notice(install_cli()),
            Action::OpenDashboard => {
                if let Some(url) = self.snapshot.url() {
                    let (program, args) =
                        menu::open_url_command(Os::current(), &menu::dashboard_url(url));
                    spawn_detached(&program, &args);
                }
                return;
            }
            Action::OpenLogs => {
                if let Some(f) = &self.log_file {
                    open(f, true);
                }
                return;
            }
            Action::OpenConfigFolder => {
                if let Some(d) = &self.snapshot.config_dir {
                    let _ = std::fs::create_dir_all(d);
                    open(d, false);
                }
                return;
            }
        };
        let _ = self.commands.send(command);
    }

    /// Put `text` on the clipboard; a `secret` is kept out of clipboard history on macOS.
    fn copy(&mut self, text: &str, secret: bool) {
        if self.clipboard.is_none() {
            match arboard::Clipboard::new() {
                Ok(c) => self.clipboard = Some(c),
                Err(e) => return tracing::warn!("no clipboard: {e}"),
            }
        }
        // Kept alive: on X11 the clipboard content is served by this object.
        let Some(c) = self.clipboard.as_mut() else { return };
        #[cfg(target_os = "macos")]
        let r = if secret {
            use arboard::SetExtApple;
            c.set().exclude_from_history().text(text.to_owned())
        } else {
            c.set_text(text.to_owned())
        };
        #[cfg(not(target_os = "macos"))]
        let r = {
            let _ = secret;
            c.set_text(text.to_owned())
        };
        if let Err(e) = r {
            tracing::warn!("cannot copy to the clipboard: {e}");
        }
    }

    /// The loop ended: after Quit (the gateway is already stopped) or because the system
    /// terminates the app (logout: the gateway is still running). Either way the controller
    /// is told to quit and given the grace period to drain open requests.
    fn shutdown(&mut self) {
        self.tray = None;
        #[cfg(target_os = "macos")]
        {
            self.activity = None;
        }
        if let Some(rt) = self.runtime.take() {
            if let Some(task) = self.controller.take() {
                let _ = self.commands.send(Command::Quit);
                let wait = self.grace + Duration::from_secs(2);
                // The timer is made inside the runtime (it needs its time driver).
                if rt.block_on(async move { tokio::time::timeout(wait, task).await }).is_err() {
                    tracing::warn!(
                        "the gateway did not stop within {}s; exiting anyway",
                        wait.as_secs()
                    );
                }
            }
            rt.shutdown_timeout(Duration::from_secs(1));
        }
        self._lock = None;
        tracing::info!("menu-bar app exited");
    }
}

/// "Install Command Line Tool…" is offered on macOS, where the app's binary is inside the
/// bundle and not on the PATH.
const OFFER_CLI: bool = cfg!(target_os = "macos");

/// Link this binary onto the PATH (`service::cli_link`); the outcome as one line.
fn install_cli() -> String {
    use crate::service::cli_link;
    let Ok(program) = std::env::current_exe() else {
        return "Install Command Line Tool: cannot find this binary's path".into();
    };
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
        return "Install Command Line Tool: HOME is not set".into();
    };
    let dir = cli_link::choose_dir(cli_link::writable(Path::new("/usr/local/bin")), &home);
    // An app started from Finder has a minimal PATH; /usr/local/bin is on every terminal's
    // (/etc/paths).
    let path = format!("/usr/local/bin:{}", std::env::var("PATH").unwrap_or_default());
    match cli_link::install(&program, &dir) {
        Ok(done) => {
            let line = cli_link::describe(&done, Some(&path));
            tracing::info!("Install Command Line Tool: {line}");
            line
        }
        Err(e) => {
            tracing::warn!("Install Command Line Tool: {e}");
            format!("Install Command Line Tool: {e}")
        }
    }
}

/// Open a file or folder with the desktop's viewer, without waiting for it.
fn open(target: &Path, is_log: bool) {
    let (program, args) = menu::open_command(Os::current(), target, is_log);
    spawn_detached(&program, &args);
}

/// Run a command without waiting for it.
fn spawn_detached(program: &str, args: &[String]) {
    match std::process::Command::new(program).args(args).spawn() {
        // Reap it in the background so no zombie is left.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => tracing::warn!("cannot run {program}: {e}"),
    }
}

fn native_menu(m: &menu::Menu) -> NativeMenu {
    let root = NativeMenu::new();
    for item in &m.items {
        if let Err(e) = root.append(native_item(item).as_ref()) {
            tracing::warn!("cannot add a menu item: {e}");
        }
    }
    root
}

fn native_item(item: &Item) -> Box<dyn IsMenuItem> {
    let t = |s: &str| menu::toolkit_text(s);
    match item {
        Item::Text(text) => Box::new(MenuItem::new(t(text), false, None)),
        Item::Separator => Box::new(PredefinedMenuItem::separator()),
        Item::Button { text, action, enabled } => {
            Box::new(MenuItem::with_id(action.id(), t(text), *enabled, None))
        }
        Item::Check { text, action, checked, enabled } => {
            Box::new(CheckMenuItem::with_id(action.id(), t(text), *enabled, *checked, None))
        }
        Item::Submenu { text, enabled, items } => {
            let sub = Submenu::new(t(text), *enabled);
            for child in items {
                if let Err(e) = sub.append(native_item(child).as_ref()) {
                    tracing::warn!("cannot add a menu item: {e}");
                }
            }
            Box::new(sub)
        }
        // AppKit's About item does not activate the app, so its panel would open behind
        // the front app's windows: the app shows it itself (`macos::show_about`).
        #[cfg(target_os = "macos")]
        Item::About { text, .. } => Box::new(MenuItem::with_id(ABOUT_ID, t(text), true, None)),
        #[cfg(not(target_os = "macos"))]
        Item::About { text, name, version } => Box::new(PredefinedMenuItem::about(
            Some(&t(text)),
            Some(AboutMetadata {
                name: Some(name.clone()),
                version: Some(version.clone()),
                ..AboutMetadata::default()
            }),
        )),
    }
}

/// The three state icons, decoded once.
struct Icons {
    running: Option<(Vec<u8>, u32, u32)>,
    stopped: Option<(Vec<u8>, u32, u32)>,
    error: Option<(Vec<u8>, u32, u32)>,
}

impl Icons {
    fn decode() -> Icons {
        Icons {
            running: decode_png(RUNNING_PNG),
            stopped: decode_png(STOPPED_PNG),
            error: decode_png(ERROR_PNG),
        }
    }

    fn get(&self, which: Icon) -> Option<NativeIcon> {
        let (rgba, w, h) = match which {
            Icon::Running => self.running.clone()?,
            Icon::Stopped => self.stopped.clone()?,
            Icon::Error => self.error.clone()?,
        };
        NativeIcon::from_rgba(rgba, w, h).map_err(|e| tracing::warn!("bad tray icon: {e}")).ok()
    }
}

/// RGBA pixels of an embedded 8-bit RGBA PNG.
fn decode_png(bytes: &[u8]) -> Option<(Vec<u8>, u32, u32)> {
    let decoded = (|| {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
        let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
        if info.color_type != png::ColorType::Rgba || info.bit_depth != png::BitDepth::Eight {
            return Err(format!("{:?}/{:?} is not 8-bit RGBA", info.color_type, info.bit_depth));
        }
        buf.truncate(info.buffer_size());
        Ok((buf, info.width, info.height))
    })();
    decoded.map_err(|e| tracing::warn!("cannot decode a tray icon: {e}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_icons_are_44px_templates_with_a_16pt_glyph() {
        for png in [RUNNING_PNG, STOPPED_PNG, ERROR_PNG] {
            let (rgba, w, h) = decode_png(png).expect("decodes");
            assert_eq!((w, h), (44, 44));
            assert_eq!(rgba.len(), 44 * 44 * 4);
            // Template images: black pixels, the shape is in the alpha channel only.
            assert!(rgba.chunks(4).all(|p| p[..3] == [0, 0, 0]));
            assert!(rgba.chunks(4).any(|p| p[3] == 255) && rgba.chunks(4).any(|p| p[3] == 0));
            // The glyph's extent: about 16 pt (32 px) of the 22 pt canvas, centred.
            let inked: Vec<usize> =
                (0..44).filter(|x| (0..44).any(|y| rgba[(y * 44 + x) * 4 + 3] > 127)).collect();
            let (first, last) = (inked[0], inked[inked.len() - 1]);
            assert!((30..=33).contains(&(last - first + 1)), "glyph {first}..={last}");
            assert!(first.abs_diff(43 - last) <= 1, "centred: {first}..={last}");
        }
        assert_ne!(decode_png(RUNNING_PNG), decode_png(STOPPED_PNG));
        assert_ne!(decode_png(STOPPED_PNG), decode_png(ERROR_PNG));
    }
}
