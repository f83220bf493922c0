//! The macOS bundle script, checked on any OS with `--binary`: layout, Info.plist keys and
//! the version substituted from Cargo.toml into the repository's top-level Info.plist.
//! (Building, lipo and codesign need a Mac: see .github/workflows/macos.yml.)

use std::path::Path;
use std::process::Command;

use crate::support::bin;

#[test]
fn build_app_assembles_the_bundle() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("packaging/macos/build-app.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--binary")
        .arg(bin())
        .arg("--out")
        .arg(tmp.path())
        .output()
        .expect("run build-app.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let app = tmp.path().join("AI Proxy.app/Contents");
    let exe = app.join("MacOS/ai-proxy");
    assert!(exe.is_file());
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&exe).expect("meta").permissions().mode() & 0o111, 0o111);
    }
    assert_eq!(std::fs::read_to_string(app.join("PkgInfo")).expect("PkgInfo"), "APPL????");
    for icon in ["trayTemplate", "trayStoppedTemplate", "trayErrorTemplate"] {
        for suffix in ["", "@2x"] {
            assert!(app.join(format!("Resources/{icon}{suffix}.png")).is_file(), "{icon}{suffix}");
        }
    }
    // The bundle's Info.plist is the top-level template with the version filled in.
    let template = std::fs::read_to_string(root.join("Info.plist")).expect("top-level Info.plist");
    assert!(!root.join("packaging/macos/Info.plist").exists(), "one Info.plist, at the root");
    assert_eq!(
        std::fs::read_to_string(app.join("Info.plist")).expect("bundle Info.plist"),
        template.replace("__VERSION__", env!("CARGO_PKG_VERSION"))
    );
    let info = plist::Value::from_file(app.join("Info.plist")).expect("Info.plist parses");
    let d = info.as_dictionary().expect("dict");
    let s = |k: &str| d.get(k).and_then(|v| v.as_string()).map(str::to_owned);
    assert_eq!(s("CFBundleShortVersionString").as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(s("CFBundleVersion").as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(s("CFBundleExecutable").as_deref(), Some("ai-proxy"));
    assert_eq!(s("CFBundleIdentifier").as_deref(), Some("com.local.ai-proxy"));
    assert_eq!(s("CFBundlePackageType").as_deref(), Some("APPL"));
    assert_eq!(s("LSMinimumSystemVersion").as_deref(), Some("11.0"));
    assert_eq!(d.get("LSUIElement").and_then(|v| v.as_boolean()), Some(true), "no Dock icon");
    assert_eq!(s("CFBundleIconFile").as_deref(), Some("AppIcon"));
    assert_eq!(d.get("NSAppSleepDisabled").and_then(|v| v.as_boolean()), Some(true), "no App Nap");
    // The icon is made with sips/iconutil, on macOS only; its source is in resources/.
    assert!(root.join("resources/AppIcon.png").is_file());
    assert_eq!(app.join("Resources/AppIcon.icns").is_file(), cfg!(target_os = "macos"));
}
