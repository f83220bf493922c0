//! The Host and Origin allow-lists: which callers reach the gateway and which get a 403.

use std::net::{IpAddr, Ipv4Addr};

use super::*;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn host(policy: &AccessPolicy, authority: &str, bound: IpAddr) -> Result<(), Refusal> {
    policy.check_host(authority, bound)
}

#[test]
fn this_machine_by_loopback_name_or_address_is_allowed() {
    let p = AccessPolicy::default();
    for a in [
        "localhost",
        "localhost:4000",
        "LOCALHOST:4000",
        "localhost.:4000",
        "app.localhost:4000",
        "127.0.0.1",
        "127.0.0.1:4000",
        "127.1.2.3:4000",
        "[::1]:4000",
        "[::1]",
        "[::ffff:127.0.0.1]:4000",
    ] {
        assert_eq!(host(&p, a, LOOPBACK), Ok(()), "{a}");
    }
}

#[test]
fn other_hosts_and_malformed_ones_are_refused_on_loopback() {
    let p = AccessPolicy::default();
    for a in [
        "attacker.com",
        "attacker.com:4000",
        "localhost.attacker.com:4000",
        "127.0.0.1.nip.io:4000",
        "10.0.0.5:4000",
        "[::2]:4000",
        "::1",
        "localhost:abc",
        "localhost:",
        "user@localhost:4000",
        "localhost:4000/x",
        "(not ASCII)",
    ] {
        assert!(matches!(host(&p, a, LOOPBACK), Err(Refusal::Host(_))), "{a}");
    }
    for a in ["", "  ", ":4000"] {
        assert_eq!(host(&p, a, LOOPBACK), Err(Refusal::NoHost), "{a:?}");
    }
}

#[test]
fn a_network_bind_allows_address_literals_and_this_machines_names_only() {
    let p = AccessPolicy::default();
    let lan = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20));
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    assert_eq!(host(&p, "192.168.1.20:4000", lan), Ok(()));
    assert_eq!(host(&p, "10.1.2.3:4000", any), Ok(()));
    assert_eq!(host(&p, "[fe80::1]:4000", any), Ok(()));
    assert!(host(&p, "attacker.com:4000", any).is_err());
    if let Some(name) = machine_names().first() {
        assert_eq!(host(&p, &format!("{name}:4000"), any), Ok(()));
        assert_eq!(host(&p, &format!("{}.:4000", name.to_ascii_uppercase()), any), Ok(()));
        // On loopback, the machine's own name is not needed (and not allowed).
        assert!(host(&p, &format!("{name}:4000"), LOOPBACK).is_err() || is_loopback_name(name));
    }
}

#[test]
fn configured_hosts_are_allowed_exactly_or_by_suffix() {
    let p = AccessPolicy {
        allowed_hosts: vec!["gw.corp.example".into(), "*.ngrok-free.app".into()],
        ..AccessPolicy::default()
    };
    assert_eq!(host(&p, "gw.corp.example", LOOPBACK), Ok(()));
    assert_eq!(host(&p, "GW.corp.example:443", LOOPBACK), Ok(()));
    assert_eq!(host(&p, "abc.ngrok-free.app", LOOPBACK), Ok(()));
    assert!(host(&p, "ngrok-free.app", LOOPBACK).is_err());
    assert!(host(&p, "evilngrok-free.app", LOOPBACK).is_err());
    assert!(host(&p, "gw.corp.example.evil.com", LOOPBACK).is_err());
    let any = AccessPolicy { allowed_hosts: vec!["*".into()], ..AccessPolicy::default() };
    assert_eq!(host(&any, "anything.example", LOOPBACK), Ok(()));
}

#[test]
fn local_origins_are_allowed_foreign_ones_refused() {
    let p = AccessPolicy::default();
    for o in [
        "http://localhost:3000",
        "https://localhost",
        "http://127.0.0.1:8080",
        "http://[::1]:5173",
        "http://app.localhost:3000/",
    ] {
        assert_eq!(p.check_origin(o), Ok(()), "{o}");
    }
    for o in [
        "http://evil.example",
        "null",
        "file://",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
        "chrome-extension://abcdef",
        "",
    ] {
        assert!(matches!(p.check_origin(o), Err(Refusal::Origin(_))), "{o}");
    }
    let p = AccessPolicy {
        allowed_origins: vec!["https://chat.example.com".into()],
        ..AccessPolicy::default()
    };
    assert_eq!(p.check_origin("https://chat.example.com"), Ok(()));
    assert_eq!(p.check_origin("https://Chat.Example.com/"), Ok(()));
    assert!(p.check_origin("http://chat.example.com").is_err());
    assert!(p.check_origin("https://chat.example.com.evil.io").is_err());
}

#[test]
fn refusals_say_what_to_set() {
    assert!(Refusal::Host("a.example".into()).message().contains("general_settings.allowed_hosts"));
    assert!(
        Refusal::Origin("https://x".into()).message().contains("general_settings.allowed_origins")
    );
    assert!(Refusal::NoHost.message().contains("Host"));
}
