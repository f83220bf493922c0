//! AppKit calls the toolkits do not make (feature `tray`, macOS only; type-checked on Linux
//! by scripts/check-macos, never run there): the About panel brought to the front (the app
//! starts without taking focus, see `app.rs`), and an App Nap activity while the gateway
//! serves, so macOS does not throttle a menu-bar app whose only work is network I/O.

use objc2::MainThreadMarker;
use objc2::rc::Retained;
use objc2::runtime::{AnyObject, NSObjectProtocol, ProtocolObject};
use objc2_app_kit::{
    NSAboutPanelOptionApplicationName, NSAboutPanelOptionApplicationVersion, NSApplication,
};
use objc2_foundation::{NSActivityOptions, NSDictionary, NSProcessInfo, NSString};

/// Activate the app and show the standard About panel with `name` and `version` in front
/// of other apps' windows. Must run on the main thread (menu clicks do); elsewhere it does
/// nothing.
pub fn show_about(name: &str, version: &str) {
    let Some(mtm) = MainThreadMarker::new() else {
        tracing::warn!("About: not on the main thread");
        return;
    };
    let app = NSApplication::sharedApplication(mtm);
    let name = NSString::from_str(name);
    let version = NSString::from_str(version);
    let objects: [&AnyObject; 2] = [&name, &version];
    // SAFETY: the option keys are immutable NSString constants exported by AppKit.
    let keys = unsafe { [NSAboutPanelOptionApplicationName, NSAboutPanelOptionApplicationVersion] };
    let options = NSDictionary::from_slices(&keys, &objects);
    // `activate` is macOS 14+; this call works on every release the app supports (11+).
    #[allow(deprecated)]
    app.activateIgnoringOtherApps(true);
    // SAFETY: both options take NSString values, which is what the dictionary holds.
    unsafe { app.orderFrontStandardAboutPanelWithOptions(&options) };
}

/// An App Nap exemption: user-initiated work that still lets the Mac sleep when idle. Ends
/// when dropped.
pub struct Activity(Retained<ProtocolObject<dyn NSObjectProtocol>>);

impl Activity {
    pub fn begin(reason: &str) -> Activity {
        let reason = NSString::from_str(reason);
        let token = NSProcessInfo::processInfo().beginActivityWithOptions_reason(
            NSActivityOptions::UserInitiatedAllowingIdleSystemSleep,
            &reason,
        );
        Activity(token)
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        // SAFETY: the token came from beginActivityWithOptions:reason: and is ended once.
        unsafe { NSProcessInfo::processInfo().endActivity(&self.0) };
    }
}
