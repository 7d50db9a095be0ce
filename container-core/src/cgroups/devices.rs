//! Device access rules.
//!
//! cgroup v1 takes them as text in `devices.allow` / `devices.deny` (see [`rule_text`]).
//! cgroup v2 has no device files: the rules become an eBPF `BPF_CGROUP_DEVICE` program
//! (see [`super::ebpf`]).

use oci_spec::runtime::LinuxDeviceCgroup;

/// The v1 rule text: `"c 1:3 rwm"`, `"a *:* rwm"`; a missing or negative number is `*`,
/// a missing access is `rwm`.
pub fn rule_text(d: &LinuxDeviceCgroup) -> String {
    let num = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    format!(
        "{} {}:{} {}",
        d.typ().unwrap_or_default().as_str(),
        num(d.major()),
        num(d.minor()),
        d.access().as_deref().unwrap_or("rwm")
    )
}

/// runc's rule merge: the spec's rules, then allow (rwm) for the devices every container
/// gets (null, zero, full, random, urandom, tty, console, ptmx, pts, tun) and for each
/// `linux.devices` entry, so a deny-all spec can still create and use its own /dev.
pub fn with_default_allows(
    rules: &[LinuxDeviceCgroup],
    linux_devices: &[oci_spec::runtime::LinuxDevice],
) -> Vec<LinuxDeviceCgroup> {
    use oci_spec::runtime::LinuxDeviceType as T;
    let mut out = rules.to_vec();
    let mut allow = |typ: T, major: Option<i64>, minor: Option<i64>| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some("rwm".into()));
        out.push(d);
    };
    for (ma, mi) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        allow(T::C, Some(ma), Some(mi));
    }
    allow(T::C, Some(136), None);
    for d in linux_devices {
        let typ = match d.typ() {
            T::B => T::B,
            _ => T::C,
        };
        allow(typ, Some(d.major()), Some(d.minor()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_texts() {
        let r: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                {"allow": true, "type": "b", "major": 8, "minor": -1}]"#,
        )
        .expect("rules");
        let t: Vec<String> = r.iter().map(rule_text).collect();
        assert_eq!(t, ["a *:* rwm", "c 1:3 rw", "b 8:* rwm"]);
    }
}
