//! Unit tests of profile validation, and real tests that load filters in forked children.
//!
//! A forked child of the (multi-threaded) test harness may only make system calls, which
//! is exactly the contract of [`Compiled::load`] and the `caps` child functions; so the
//! children below do nothing but raw syscalls and report results as plain bytes on a pipe.

use super::*;
use crate::caps::CapsPlan;
use oci_spec::runtime::{LinuxSeccompArg, LinuxSyscall};
use std::collections::HashSet;
use std::os::fd::{AsRawFd, RawFd};

fn rule(names: &[&str], action: LinuxSeccompAction) -> LinuxSyscall {
    let mut r = LinuxSyscall::default();
    r.set_names(names.iter().map(|n| n.to_string()).collect());
    r.set_action(action);
    r
}

fn arg(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> LinuxSeccompArg {
    let mut b = oci_spec::runtime::LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value);
    if let Some(v) = value_two {
        b = b.value_two(v);
    }
    b.build().expect("arg")
}

fn profile(default: LinuxSeccompAction, rules: Vec<LinuxSyscall>) -> LinuxSeccomp {
    let mut p = LinuxSeccomp::default();
    p.set_default_action(default);
    p.set_syscalls(Some(rules));
    p
}

fn errno_rule(names: &[&str], errno: u32) -> LinuxSyscall {
    let mut r = rule(names, LinuxSeccompAction::ScmpActErrno);
    r.set_errno_ret(Some(errno));
    r
}

// ---------------------------------------------------------------- validation

#[test]
fn docker_default_compiles() {
    let compiled = compile(&docker_default()).expect("Docker's profile compiles");
    assert!(!compiled.needs_notify());
    assert_eq!(compiled.flags(), 0);
    assert!(compiled.instructions() > 100, "{}", compiled.instructions());
    for name in compiled.skipped() {
        assert!(NEWER_SYSCALLS.contains(&name.as_str()), "{name}");
    }
}

#[test]
fn docker_default_resolves_capabilities() {
    let names = |p: &LinuxSeccomp| -> Vec<(String, LinuxSeccompAction, bool)> {
        p.syscalls()
            .iter()
            .flatten()
            .flat_map(|r| {
                let has_args = r.args().as_ref().is_some_and(|a| !a.is_empty());
                r.names()
                    .iter()
                    .map(move |n| (n.clone(), r.action(), has_args))
            })
            .collect()
    };
    let default = names(&docker_default());
    let unconditional_allow = |list: &[(String, LinuxSeccompAction, bool)], n: &str| {
        list.iter()
            .any(|(name, a, args)| name == n && *a == LinuxSeccompAction::ScmpActAllow && !args)
    };
    assert!(!unconditional_allow(&default, "mount"));
    assert!(!unconditional_allow(&default, "unshare"));
    assert!(!unconditional_allow(&default, "clone"));
    assert!(unconditional_allow(&default, "chroot")); // CAP_SYS_CHROOT is a default cap
    assert!(unconditional_allow(&default, "read"));
    #[cfg(target_arch = "x86_64")]
    assert!(unconditional_allow(&default, "arch_prctl"));
    assert!(!default.iter().any(|(n, ..)| n == "keyctl"));
    assert!(
        default
            .iter()
            .any(|(n, a, _)| n == "clone3" && *a == LinuxSeccompAction::ScmpActErrno)
    );

    let mut caps: HashSet<Capability> = crate::caps::docker_default().into_iter().collect();
    caps.insert(Capability::SysAdmin);
    caps.remove(&Capability::SysChroot);
    let admin = names(&docker_default_for(&caps));
    assert!(unconditional_allow(&admin, "mount"));
    assert!(unconditional_allow(&admin, "unshare"));
    assert!(unconditional_allow(&admin, "clone3"));
    assert!(!admin.iter().any(|(n, ..)| n == "chroot"));
    assert!(
        !admin
            .iter()
            .any(|(n, a, _)| n == "clone3" && *a != LinuxSeccompAction::ScmpActAllow)
    );
    compile(&docker_default_for(&caps)).expect("the CAP_SYS_ADMIN variant compiles");
}

use oci_spec::runtime::Capability;

#[test]
fn unknown_syscall_names_the_rule() {
    let p = profile(
        LinuxSeccompAction::ScmpActAllow,
        vec![
            errno_rule(&["getppid"], 1),
            errno_rule(&["read", "no_such_syscall"], 1),
        ],
    );
    match compile(&p) {
        Err(SeccompError::UnknownSyscall { rule, name }) => {
            assert_eq!(rule, 1);
            assert_eq!(name, "no_such_syscall");
        }
        other => panic!("expected UnknownSyscall, got {other:?}"),
    }
    let msg = compile(&p).expect_err("error").to_string();
    assert!(
        msg.contains("syscalls[1]") && msg.contains("no_such_syscall"),
        "{msg}"
    );
}

#[test]
fn syscalls_newer_than_libseccomp_are_skipped_not_refused() {
    let p = profile(
        LinuxSeccompAction::ScmpActErrno,
        vec![rule(
            &["read", "futex_waitv", "cachestat"],
            LinuxSeccompAction::ScmpActAllow,
        )],
    );
    let compiled = compile(&p).expect("compiles");
    for name in compiled.skipped() {
        assert!(
            ["futex_waitv", "cachestat"].contains(&name.as_str()),
            "{name}"
        );
    }
}

#[test]
fn empty_names_are_refused() {
    let p = profile(
        LinuxSeccompAction::ScmpActAllow,
        vec![errno_rule(&["read"], 1), errno_rule(&[], 1)],
    );
    assert!(matches!(
        compile(&p),
        Err(SeccompError::NoNames { rule: 1 })
    ));
}

#[test]
fn argument_index_out_of_range_names_the_rule() {
    let mut r = errno_rule(&["personality"], 1);
    r.set_args(Some(vec![
        arg(0, LinuxSeccompOperator::ScmpCmpEq, 0, None),
        arg(6, LinuxSeccompOperator::ScmpCmpEq, 0, None),
    ]));
    let p = profile(LinuxSeccompAction::ScmpActAllow, vec![r]);
    match compile(&p) {
        Err(e @ SeccompError::BadArgIndex { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("syscalls[0]") && msg.contains("args[1]"),
                "{msg}"
            );
        }
        other => panic!("expected BadArgIndex, got {other:?}"),
    }
}

#[test]
fn conflicting_rules_are_refused_with_both_indexes() {
    let p = profile(
        LinuxSeccompAction::ScmpActErrno,
        vec![
            rule(&["read", "write"], LinuxSeccompAction::ScmpActAllow),
            rule(&["close"], LinuxSeccompAction::ScmpActAllow),
            rule(&["write"], LinuxSeccompAction::ScmpActKillProcess),
        ],
    );
    match compile(&p) {
        Err(SeccompError::Conflict {
            first,
            second,
            name,
            ..
        }) => {
            assert_eq!((first, second, name.as_str()), (0, 2, "write"));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    // runc's leniency: the first rule wins, the later one is reported.
    let c = compile_with(&p, &CompileOptions::runc_compatible()).expect("first wins");
    assert_eq!(c.shadowed().len(), 1);
    assert!(
        c.shadowed()[0].contains("syscalls[0] and syscalls[2]"),
        "{:?}",
        c.shadowed()
    );
    // The same syscall with the same action twice is only redundant.
    let p = profile(
        LinuxSeccompAction::ScmpActErrno,
        vec![
            rule(&["read"], LinuxSeccompAction::ScmpActAllow),
            rule(&["read"], LinuxSeccompAction::ScmpActAllow),
        ],
    );
    compile(&p).expect("duplicates are fine");
    // Different conditions are not a conflict.
    let mut a = errno_rule(&["personality"], 1);
    a.set_args(Some(vec![arg(0, LinuxSeccompOperator::ScmpCmpEq, 1, None)]));
    let mut b = errno_rule(&["personality"], 2);
    b.set_args(Some(vec![arg(0, LinuxSeccompOperator::ScmpCmpEq, 2, None)]));
    compile(&profile(LinuxSeccompAction::ScmpActAllow, vec![a, b])).expect("no conflict");
}

#[test]
fn architectures_are_checked() {
    let mut p = profile(LinuxSeccompAction::ScmpActAllow, vec![]);
    p.set_architectures(Some(vec![
        Arch::ScmpArchNative,
        Arch::ScmpArchX86_64,
        Arch::ScmpArchX86,
        Arch::ScmpArchAarch64,
    ]));
    compile(&p).expect("known architectures");

    // LoongArch came with libseccomp 2.6; older libraries must refuse it by index.
    p.set_architectures(Some(vec![Arch::ScmpArchX86, Arch::ScmpArchLoongarch64]));
    let version = libseccomp::ScmpVersion::current().expect("version");
    let result = compile(&p);
    if (version.major, version.minor) < (2, 6) {
        match result {
            Err(e @ SeccompError::BadArchitecture { index: 1, .. }) => {
                assert!(e.to_string().contains("architectures[1]"), "{e}");
            }
            other => panic!("expected BadArchitecture, got {other:?}"),
        }
    } else {
        result.expect("libseccomp 2.6 knows LoongArch");
    }
}

#[test]
fn bad_errno_and_notify_misuse_are_refused() {
    let p = profile(
        LinuxSeccompAction::ScmpActAllow,
        vec![errno_rule(&["read"], 70_000)],
    );
    assert!(matches!(compile(&p), Err(SeccompError::BadErrno { .. })));

    let mut p = profile(LinuxSeccompAction::ScmpActAllow, vec![]);
    p.set_default_errno_ret(Some(100_000));
    assert!(matches!(compile(&p), Err(SeccompError::BadErrno { .. })));

    let p = profile(
        LinuxSeccompAction::ScmpActAllow,
        vec![rule(&["getppid"], LinuxSeccompAction::ScmpActNotify)],
    );
    match compile(&p) {
        Err(e @ SeccompError::BadNotify(_)) => assert!(e.to_string().contains("listenerPath")),
        other => panic!("expected BadNotify, got {other:?}"),
    }
    let p = profile(LinuxSeccompAction::ScmpActNotify, vec![]);
    assert!(matches!(compile(&p), Err(SeccompError::BadNotify(_))));
}

#[test]
fn flags_map_to_kernel_bits() {
    let mut p = profile(
        LinuxSeccompAction::ScmpActAllow,
        vec![errno_rule(&["getppid"], 1)],
    );
    p.set_flags(Some(vec![
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
    ]));
    let c = compile(&p).expect("compiles");
    assert_eq!(c.flags(), FLAG_LOG | FLAG_SPEC_ALLOW | FLAG_TSYNC);

    let mut r = rule(&["getppid"], LinuxSeccompAction::ScmpActNotify);
    r.set_errno_ret(None);
    p.set_syscalls(Some(vec![r]));
    p.set_listener_path(Some("/run/agent.sock".into()));
    p.set_listener_metadata(Some("meta".into()));
    let c = compile(&p).expect("compiles");
    assert!(c.needs_notify());
    assert_eq!(
        c.flags(),
        FLAG_LOG
            | FLAG_SPEC_ALLOW
            | FLAG_TSYNC
            | FLAG_TSYNC_ESRCH
            | FLAG_NEW_LISTENER
            | FLAG_WAIT_KILLABLE_RECV
    );
    assert_eq!(c.listener_path(), Some(Path::new("/run/agent.sock")));
    assert_eq!(c.listener_metadata(), Some("meta"));
}

#[test]
fn json_errors_name_the_rule() {
    let json = br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["read"],"action":"SCMP_ACT_ALLOW"},
        {"names":["write"],"action":"SCMP_ACT_BOGUS"}]}"#;
    let msg = from_json(json).expect_err("bad action").to_string();
    assert!(
        msg.contains("syscalls[1]") && msg.contains("write"),
        "{msg}"
    );

    let json = br#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_VAX"]}"#;
    let msg = from_json(json).expect_err("bad arch").to_string();
    assert!(msg.contains("architectures[1]"), "{msg}");

    assert!(from_json(b"[1,2]").is_err());
    assert!(from_json(b"{").is_err());

    let json = serde_json::to_vec(&docker_default()).expect("serialize");
    assert_eq!(from_json(&json).expect("round trip"), docker_default());
}

// ---------------------------------------------------------------- real filters

/// Under `BERTH_REQUIRE_PRIVILEGED=1` a missing precondition fails instead of skipping.
fn require_root(what: &str) -> bool {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var("BERTH_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
        "BERTH_REQUIRE_PRIVILEGED=1 but this test needs root to {what}"
    );
    eprintln!("skipped: needs root to {what}");
    false
}

/// The errno of the last failed call, or 0 when `rc` is not an error.
fn err_of(rc: libc::c_long) -> i32 {
    if rc < 0 { Errno::last_raw() } else { 0 }
}

fn write_all(fd: RawFd, bytes: &[u8]) {
    let mut done = 0;
    while done < bytes.len() {
        // SAFETY: writes from a live buffer.
        let n = unsafe { libc::write(fd, bytes[done..].as_ptr().cast(), bytes.len() - done) };
        if n <= 0 {
            return;
        }
        done += n as usize;
    }
}

/// Copy `path` (a NUL-terminated byte string) into `fd`, with stack buffers only.
fn copy_file(path: &core::ffi::CStr, fd: RawFd) {
    // SAFETY: valid path; the fd is closed below.
    let src = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if src < 0 {
        return;
    }
    let mut buf = [0u8; 1024];
    loop {
        // SAFETY: reads into a live stack buffer.
        let n = unsafe { libc::read(src, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        write_all(fd, &buf[..n as usize]);
    }
    // SAFETY: closes the fd opened above.
    unsafe { libc::close(src) };
}

struct Child {
    pid: libc::pid_t,
    out: std::fs::File,
}

impl Child {
    /// Fork; the child runs `body` with the write end of a pipe and exits with its result.
    fn spawn(body: impl FnOnce(RawFd) -> i32) -> Child {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: the child only makes system calls until it exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let w = fds[1];
            // Drop every inherited fd but the pipe, so other tests' pipes see EOF in time.
            // SAFETY: close_range on fd numbers; no Rust object in the child uses them.
            unsafe {
                libc::syscall(libc::SYS_close_range, 3u32, (w - 1) as u32, 0u32);
                libc::syscall(libc::SYS_close_range, (w + 1) as u32, u32::MAX, 0u32);
            }
            let code = body(w);
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        // SAFETY: closes our copy of the write end; the read end is owned by the File.
        unsafe { libc::close(fds[1]) };
        let out = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        Child { pid, out }
    }

    fn read_exact(&mut self, buf: &mut [u8]) {
        self.out.read_exact(buf).expect("child wrote its report");
    }

    /// Read the rest of the child's output and its exit code.
    fn finish(mut self) -> (i32, Vec<u8>) {
        let mut rest = Vec::new();
        self.out.read_to_end(&mut rest).expect("read child output");
        let mut status = 0;
        // SAFETY: waits for our own child.
        let rc = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert_eq!(rc, self.pid);
        assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
        (libc::WEXITSTATUS(status), rest)
    }
}

fn i32s(bytes: &[u8]) -> Vec<i32> {
    bytes
        .chunks_exact(4)
        .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn status_field<'a>(status: &'a str, field: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{field} missing in\n{status}"))
}

#[test]
fn docker_default_blocks_namespaces_keys_and_mounts_in_a_real_child() {
    if !require_root("drop capabilities from the bounding set") {
        return;
    }
    let compiled = compile(&docker_default()).expect("compiles");
    let plan = CapsPlan::new(&crate::caps::docker_default_linux_capabilities()).expect("plan");
    let mut child = Child::spawn(|w| {
        if crate::caps::set_no_new_privs().is_err()
            || plan.drop_bounding().is_err()
            || plan.apply_final().is_err()
        {
            return 10;
        }
        if compiled.load().is_err() {
            return 11;
        }
        // SAFETY: every call below is a plain syscall with valid (or deliberately
        // invalid, harmless) arguments; none of them can succeed destructively.
        let results: [i32; 10] = unsafe {
            [
                err_of(libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER)),
                err_of(libc::syscall(
                    libc::SYS_keyctl,
                    0, /* GET_KEYRING_ID */
                    -3,
                    0,
                )),
                // A NULL target: without the filter this is EFAULT, so EPERM proves it.
                err_of(libc::syscall(
                    libc::SYS_mount,
                    c"none".as_ptr(),
                    std::ptr::null::<libc::c_char>(),
                    c"tmpfs".as_ptr(),
                    0,
                    0,
                )),
                err_of(libc::syscall(libc::SYS_getpid)),
                err_of(libc::syscall(libc::SYS_personality, 0xffff_ffffu64)),
                err_of(libc::syscall(
                    libc::SYS_personality,
                    0x6u64, /* PER_BSD */
                )),
                err_of(libc::syscall(
                    libc::SYS_socket,
                    40, /* AF_VSOCK */
                    libc::SOCK_STREAM,
                    0,
                )),
                err_of(libc::syscall(libc::SYS_clone3, 0usize, 0usize)),
                err_of(libc::syscall(libc::SYS_chroot, c"/".as_ptr())),
                err_of(libc::syscall(libc::SYS_setns, -1, 0)),
            ]
        };
        for r in results {
            write_all(w, &r.to_ne_bytes());
        }
        copy_file(c"/proc/self/status", w);
        0
    });
    let mut head = [0u8; 40];
    child.read_exact(&mut head);
    let (code, status) = child.finish();
    assert_eq!(code, 0, "child setup failed at step {code}");
    let r = i32s(&head);
    let eperm = libc::EPERM;
    assert_eq!(r[0], eperm, "unshare");
    assert_eq!(r[1], eperm, "keyctl");
    assert_eq!(r[2], eperm, "mount");
    assert_eq!(r[3], 0, "getpid works");
    assert_eq!(r[4], 0, "personality query works");
    assert_eq!(
        r[5], eperm,
        "personality(PER_BSD) is refused by the argument condition"
    );
    assert_eq!(r[6], eperm, "socket(AF_VSOCK)");
    assert_eq!(r[7], libc::ENOSYS, "clone3 gets ENOSYS (errnoRet)");
    assert_eq!(r[8], 0, "chroot is allowed with CAP_SYS_CHROOT");
    assert_eq!(r[9], eperm, "setns");
    let status = String::from_utf8_lossy(&status);
    assert_eq!(status_field(&status, "Seccomp"), "2");
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    assert_eq!(status_field(&status, "CapEff"), "00000000a80425fb");
    assert_eq!(status_field(&status, "CapBnd"), "00000000a80425fb");
    assert_eq!(status_field(&status, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&status, "CapAmb"), "0000000000000000");
}

/// Load `profile` in a child (with no_new_privs, no root needed) and report, for each
/// `(arg0, arg1)`, the errno `getpriority(arg0, arg1)` failed with.
fn getpriority_errnos(profile: &LinuxSeccomp, calls: &[(u64, u64)]) -> Vec<i32> {
    let compiled = compile(profile).expect("compiles");
    let mut child = Child::spawn(|w| {
        if crate::caps::set_no_new_privs().is_err() || compiled.load().is_err() {
            return 10;
        }
        for &(a, b) in calls {
            // SAFETY: getpriority with arbitrary integers only reads.
            let e = err_of(unsafe { libc::syscall(libc::SYS_getpriority, a, b) });
            write_all(w, &e.to_ne_bytes());
        }
        0
    });
    let mut buf = vec![0u8; calls.len() * 4];
    child.read_exact(&mut buf);
    let (code, _) = child.finish();
    assert_eq!(code, 0, "child setup failed");
    i32s(&buf)
}

#[test]
fn argument_conditions_use_every_operator() {
    const HIT: i32 = 99;
    let calls = [(5, 0), (10, 0), (15, 0)];
    let cases = [
        (
            LinuxSeccompOperator::ScmpCmpNe,
            10,
            None,
            [true, false, true],
        ),
        (
            LinuxSeccompOperator::ScmpCmpLt,
            10,
            None,
            [true, false, false],
        ),
        (
            LinuxSeccompOperator::ScmpCmpLe,
            10,
            None,
            [true, true, false],
        ),
        (
            LinuxSeccompOperator::ScmpCmpEq,
            10,
            None,
            [false, true, false],
        ),
        (
            LinuxSeccompOperator::ScmpCmpGe,
            10,
            None,
            [false, true, true],
        ),
        (
            LinuxSeccompOperator::ScmpCmpGt,
            10,
            None,
            [false, false, true],
        ),
        // value is the mask, valueTwo the value: arg0 & 0b1010 == 0b1010
        (
            LinuxSeccompOperator::ScmpCmpMaskedEq,
            0b1010,
            Some(0b1010),
            [false, true, true],
        ),
    ];
    for (op, value, value_two, expected) in cases {
        let mut r = errno_rule(&["getpriority"], HIT as u32);
        r.set_args(Some(vec![arg(0, op, value, value_two)]));
        let got = getpriority_errnos(&profile(LinuxSeccompAction::ScmpActAllow, vec![r]), &calls);
        let hits: Vec<bool> = got.iter().map(|e| *e == HIT).collect();
        assert_eq!(
            hits, expected,
            "{op:?} {value} {value_two:?}: errnos {got:?}"
        );
    }

    // Two conditions on different arguments are ANDed.
    let mut r = errno_rule(&["getpriority"], HIT as u32);
    r.set_args(Some(vec![
        arg(0, LinuxSeccompOperator::ScmpCmpEq, 10, None),
        arg(1, LinuxSeccompOperator::ScmpCmpEq, 7, None),
    ]));
    let got = getpriority_errnos(
        &profile(LinuxSeccompAction::ScmpActAllow, vec![r]),
        &[(10, 7), (10, 8), (11, 7)],
    );
    assert_eq!(
        got.iter().map(|e| *e == HIT).collect::<Vec<_>>(),
        [true, false, false]
    );

    // Two conditions on the same argument are ORed (as runc does).
    let mut r = errno_rule(&["getpriority"], HIT as u32);
    r.set_args(Some(vec![
        arg(0, LinuxSeccompOperator::ScmpCmpEq, 5, None),
        arg(0, LinuxSeccompOperator::ScmpCmpEq, 15, None),
    ]));
    let got = getpriority_errnos(&profile(LinuxSeccompAction::ScmpActAllow, vec![r]), &calls);
    assert_eq!(
        got.iter().map(|e| *e == HIT).collect::<Vec<_>>(),
        [true, false, true]
    );
}

#[test]
fn errno_ret_and_default_errno_ret_are_returned() {
    // Default action ERRNO(77); the child needs write and exit_group to report.
    let mut p = profile(
        LinuxSeccompAction::ScmpActErrno,
        vec![
            rule(
                &["write", "exit_group", "exit"],
                LinuxSeccompAction::ScmpActAllow,
            ),
            errno_rule(&["getpriority"], 42),
        ],
    );
    p.set_default_errno_ret(Some(77));
    let compiled = compile(&p).expect("compiles");
    let mut child = Child::spawn(|w| {
        if crate::caps::set_no_new_privs().is_err() || compiled.load().is_err() {
            return 10;
        }
        // SAFETY: plain syscalls.
        let r = unsafe {
            [
                err_of(libc::syscall(libc::SYS_getpriority, 0, 0)),
                err_of(libc::syscall(libc::SYS_getppid)),
            ]
        };
        for e in r {
            write_all(w, &e.to_ne_bytes());
        }
        0
    });
    let mut buf = [0u8; 8];
    child.read_exact(&mut buf);
    let (code, _) = child.finish();
    assert_eq!(code, 0);
    assert_eq!(i32s(&buf), [42, 77]);
}

#[test]
fn flags_are_accepted_by_the_kernel() {
    let mut p = profile(
        LinuxSeccompAction::ScmpActAllow,
        vec![errno_rule(&["getppid"], 5)],
    );
    p.set_flags(Some(vec![
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    ]));
    let compiled = compile(&p).expect("compiles");
    let child = Child::spawn(|_| {
        if crate::caps::set_no_new_privs().is_err() {
            return 10;
        }
        match compiled.load() {
            Ok(None) => {}
            _ => return 11,
        }
        // SAFETY: plain syscall.
        if err_of(unsafe { libc::syscall(libc::SYS_getppid) }) != 5 {
            return 12;
        }
        0
    });
    let (code, _) = child.finish();
    assert_eq!(code, 0);
}

#[test]
fn loading_without_no_new_privs_or_cap_sys_admin_is_a_typed_error() {
    // As root the load would succeed, so drop CAP_SYS_ADMIN first when root.
    let compiled = compile(&profile(
        LinuxSeccompAction::ScmpActAllow,
        vec![errno_rule(&["getppid"], 5)],
    ))
    .expect("compiles");
    let child = Child::spawn(|_| {
        let none = CapsPlan::with_last_cap(&crate::caps::empty(), 40).expect("empty plan");
        if none.apply_final().is_err() {
            return 10;
        }
        match compiled.load() {
            Err(LoadError {
                errno: Errno::EACCES,
            }) => 0,
            Ok(_) => 11,
            Err(_) => 12,
        }
    });
    let (code, _) = child.finish();
    assert_eq!(code, 0, "expected EACCES from seccomp(2)");
    assert!(
        LoadError {
            errno: Errno::EACCES
        }
        .to_string()
        .contains("no_new_privs")
    );
}

#[test]
fn notify_listener_lets_a_supervisor_answer() {
    if !require_root("take the child's listener fd with pidfd_getfd") {
        return;
    }
    let mut p = profile(
        LinuxSeccompAction::ScmpActAllow,
        vec![rule(&["getppid"], LinuxSeccompAction::ScmpActNotify)],
    );
    p.set_listener_path(Some("/nonexistent/agent.sock".into()));
    let compiled = compile(&p).expect("compiles");
    assert!(compiled.needs_notify());
    let mut child = Child::spawn(|w| {
        if crate::caps::set_no_new_privs().is_err() {
            return 10;
        }
        let Ok(Some(fd)) = compiled.load() else {
            return 11;
        };
        write_all(w, &fd.as_raw_fd().to_ne_bytes());
        // Blocks until the supervisor answers.
        // SAFETY: plain syscall.
        let v = unsafe { libc::syscall(libc::SYS_getppid) };
        write_all(w, &(v as i64).to_ne_bytes());
        0
    });
    let mut fd_bytes = [0u8; 4];
    child.read_exact(&mut fd_bytes);
    let child_fd = i32::from_ne_bytes(fd_bytes);
    // SAFETY: pidfd_open/pidfd_getfd on our own child.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.pid, 0) };
    assert!(pidfd >= 0, "pidfd_open: {}", Errno::last());
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    let listener = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), child_fd, 0) };
    assert!(listener >= 0, "pidfd_getfd: {}", Errno::last());
    let listener = unsafe { OwnedFd::from_raw_fd(listener as RawFd) };

    // Wait (bounded) for the notification.
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: polls one valid fd.
    let ready = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    if ready != 1 {
        // SAFETY: kill our own child so the test does not hang.
        unsafe { libc::kill(child.pid, libc::SIGKILL) };
        panic!("no seccomp notification within 10 s");
    }
    let req = libseccomp::ScmpNotifReq::receive(listener.as_raw_fd()).expect("receive");
    assert_eq!(req.pid, child.pid as u32);
    assert_eq!(
        req.data.syscall,
        ScmpSyscall::from_name("getppid").expect("getppid")
    );
    libseccomp::ScmpNotifResp::new_val(req.id, 4242, libseccomp::ScmpNotifRespFlags::empty())
        .respond(listener.as_raw_fd())
        .expect("respond");
    let mut v = [0u8; 8];
    child.read_exact(&mut v);
    let (code, _) = child.finish();
    assert_eq!(code, 0);
    assert_eq!(
        i64::from_ne_bytes(v),
        4242,
        "the supervisor's answer is the syscall's result"
    );
}

#[test]
fn first_wins_keeps_the_earlier_rule_in_a_real_child() {
    // podman's resolved profile allows setns and later refuses it; runc keeps the ALLOW.
    let p = profile(
        LinuxSeccompAction::ScmpActAllow,
        vec![errno_rule(&["getppid"], 7), errno_rule(&["getppid"], 9)],
    );
    assert!(matches!(compile(&p), Err(SeccompError::Conflict { .. })));
    let compiled = compile_with(&p, &CompileOptions::runc_compatible()).expect("compiles");
    let child = Child::spawn(|_| {
        if crate::caps::set_no_new_privs().is_err() || compiled.load().is_err() {
            return 10;
        }
        // SAFETY: plain syscall.
        err_of(unsafe { libc::syscall(libc::SYS_getppid) })
    });
    let (code, _) = child.finish();
    assert_eq!(code, 7, "the first rule's errno");
}

fn program_of(c: &Compiled) -> Vec<(u16, u8, u8, u32)> {
    c.program
        .iter()
        .map(|i| (i.code, i.jt, i.jf, i.k))
        .collect()
}

#[test]
fn the_cache_returns_the_same_program_and_never_another_profiles() {
    let dir = tempfile::tempdir().expect("cache dir");
    let opts = CompileOptions::runc_compatible();
    let profile = docker_default();
    let fresh = compile_with(&profile, &opts).expect("compiles");
    let first = compile_cached_on_disk(&profile, &opts, dir.path()).expect("miss");
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read cache")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "one entry written: {files:?}");
    let hit = compile_cached_on_disk(&profile, &opts, dir.path()).expect("hit");
    assert_eq!(program_of(&first), program_of(&fresh));
    assert_eq!(program_of(&hit), program_of(&fresh));
    assert_eq!(
        (hit.flags(), hit.needs_notify()),
        (fresh.flags(), fresh.needs_notify())
    );
    assert_eq!(hit.skipped(), fresh.skipped());

    // A planted entry under the same name but for other inputs is not used.
    let text = std::fs::read_to_string(&files[0]).expect("read entry");
    let mut entry: serde_json::Value = serde_json::from_str(&text).expect("entry json");
    entry["key"] = serde_json::json!("something else");
    entry["program"] = serde_json::json!("0600000000000000"); // RET KILL
    std::fs::write(&files[0], entry.to_string()).expect("plant");
    let again = compile_cached_on_disk(&profile, &opts, dir.path()).expect("recompiles");
    assert_eq!(program_of(&again), program_of(&fresh));
    // Garbage is ignored too, and the entry is rewritten.
    std::fs::write(&files[0], b"not json").expect("garbage");
    let again = compile_cached_on_disk(&profile, &opts, dir.path()).expect("recompiles");
    assert_eq!(program_of(&again), program_of(&fresh));
    assert!(std::fs::read(&files[0]).expect("entry").starts_with(b"{"));

    // Another profile gets its own entry, and errors are not cached.
    let mut other = profile.clone();
    other.set_default_errno_ret(Some(38));
    compile_cached_on_disk(&other, &opts, dir.path()).expect("other profile");
    assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 2);
    let bad = profile_with_unknown();
    assert!(compile_cached_on_disk(&bad, &opts, dir.path()).is_err());
    assert!(compile_cached_on_disk(&bad, &opts, dir.path()).is_err());
}

#[test]
fn a_profile_compiled_once_is_served_from_memory() {
    let dir = tempfile::tempdir().expect("cache dir");
    let opts = CompileOptions::runc_compatible();
    let mut profile = docker_default();
    // A profile no other test uses, so the in-process memo starts without it.
    profile.set_default_errno_ret(Some(71));
    let fresh = compile_with(&profile, &opts).expect("compiles");
    let first = compile_cached(&profile, &opts, dir.path()).expect("miss");
    assert_eq!(program_of(&first), program_of(&fresh));
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read cache")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "one entry written: {files:?}");
    // With the file gone, the same process still gets the program, without compiling
    // (and so without writing the file again).
    std::fs::remove_file(&files[0]).expect("remove entry");
    let hit = compile_cached(&profile, &opts, dir.path()).expect("memo hit");
    assert_eq!(program_of(&hit), program_of(&fresh));
    assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 0);
    // Another profile is never answered with this one.
    let mut other = profile.clone();
    other.set_default_errno_ret(Some(72));
    let other_c = compile_cached(&other, &opts, dir.path()).expect("other");
    assert_eq!(
        program_of(&other_c),
        program_of(&compile_with(&other, &opts).expect("other compiles"))
    );
    assert_ne!(program_of(&other_c), program_of(&hit));
}

fn profile_with_unknown() -> LinuxSeccomp {
    profile(
        LinuxSeccompAction::ScmpActAllow,
        vec![errno_rule(&["no_such_syscall"], 1)],
    )
}

mod round_trip {
    use super::*;
    use proptest::prelude::*;

    fn action() -> impl Strategy<Value = LinuxSeccompAction> {
        prop_oneof![
            Just(LinuxSeccompAction::ScmpActAllow),
            Just(LinuxSeccompAction::ScmpActErrno),
            Just(LinuxSeccompAction::ScmpActKillProcess),
            Just(LinuxSeccompAction::ScmpActKillThread),
            Just(LinuxSeccompAction::ScmpActTrap),
            Just(LinuxSeccompAction::ScmpActLog),
            Just(LinuxSeccompAction::ScmpActTrace),
        ]
    }

    fn op() -> impl Strategy<Value = LinuxSeccompOperator> {
        prop_oneof![
            Just(LinuxSeccompOperator::ScmpCmpNe),
            Just(LinuxSeccompOperator::ScmpCmpLt),
            Just(LinuxSeccompOperator::ScmpCmpLe),
            Just(LinuxSeccompOperator::ScmpCmpEq),
            Just(LinuxSeccompOperator::ScmpCmpGe),
            Just(LinuxSeccompOperator::ScmpCmpGt),
            Just(LinuxSeccompOperator::ScmpCmpMaskedEq),
        ]
    }

    fn syscall_rule() -> impl Strategy<Value = LinuxSyscall> {
        let names = prop::sample::subsequence(
            vec![
                "read",
                "write",
                "getppid",
                "personality",
                "socket",
                "mkdirat",
                "bogus_call",
            ],
            1..4,
        );
        let args =
            prop::collection::vec((0usize..7, any::<u64>(), op(), any::<Option<u64>>()), 0..3);
        (names, action(), prop::option::of(0u32..70_000), args).prop_map(
            |(names, action, errno, args)| {
                let mut r = rule(&names, action);
                r.set_errno_ret(errno);
                if !args.is_empty() {
                    r.set_args(Some(
                        args.into_iter()
                            .map(|(i, v, o, v2)| arg(i, o, v, v2))
                            .collect(),
                    ));
                }
                r
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn json_round_trip_and_compile_never_panics(
            default in action(),
            rules in prop::collection::vec(syscall_rule(), 0..5),
        ) {
            let p = profile(default, rules);
            let json = serde_json::to_vec(&p).expect("serialize");
            let back = from_json(&json).expect("our own JSON reads back");
            prop_assert_eq!(&back, &p);
            // Either a program or a typed error; both modes agree on success of validation
            // apart from conflicts.
            match compile(&p) {
                Ok(c) => prop_assert!(c.instructions() >= 1 && c.instructions() <= BPF_MAXINSNS),
                Err(SeccompError::Conflict { .. }) => {
                    // First-wins never reports a conflict (a later rule may still be bad).
                    let lenient = compile_with(&p, &CompileOptions::runc_compatible());
                    let conflict = matches!(lenient, Err(SeccompError::Conflict { .. }));
                    prop_assert!(!conflict, "first-wins reported a conflict");
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
