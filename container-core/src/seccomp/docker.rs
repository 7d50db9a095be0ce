//! Docker's default seccomp profile (moby `profiles/seccomp/default.json`), written out as
//! a table and resolved the way dockerd resolves it: rules carrying `includes`/`excludes`
//! on capabilities, architectures or a minimum kernel are kept or dropped for the
//! capability set, the build's architecture and the running kernel.

use std::collections::HashSet;

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

/// A condition a rule is kept or dropped on.
#[derive(Default)]
struct When {
    /// Capabilities (all of them for `includes`, any for `excludes`).
    caps: &'static [Capability],
    /// Go architecture names (`amd64`, `arm64`, …) as in moby's file.
    arches: &'static [&'static str],
    /// Minimum kernel (major, minor).
    min_kernel: Option<(u32, u32)>,
}

struct Rule {
    names: &'static [&'static str],
    action: LinuxSeccompAction,
    errno: Option<u32>,
    /// (argument index, value, operator)
    args: Args,
    includes: When,
    excludes: When,
}

const ALLOW: LinuxSeccompAction = LinuxSeccompAction::ScmpActAllow;
const EQ: LinuxSeccompOperator = LinuxSeccompOperator::ScmpCmpEq;

/// Syscalls every container may use.
#[rustfmt::skip]
const ALWAYS_ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset",
    "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
    "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat",
    "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
    "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
    "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown",
    "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock",
    "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
    "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_time64", "futex_waitv",
    "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
    "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
    "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
    "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
    "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup",
    "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "membarrier",
    "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect",
    "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
    "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
    "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
    "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
    "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
    "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
    "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
    "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr",
    "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
    "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64",
    "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
    "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
    "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
    "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat",
    "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid",
    "waitpid", "write", "writev",
];

/// The `personality` values Docker allows, one rule each: PER_LINUX, PER_LINUX32, UNAME26,
/// UNAME26|PER_LINUX32, and the query 0xffffffff.
type Args = &'static [(usize, u64, LinuxSeccompOperator)];
const PERSONALITY_ARGS: [Args; 5] = [
    &[(0, 0x0, EQ)],
    &[(0, 0x8, EQ)],
    &[(0, 0x20000, EQ)],
    &[(0, 0x20008, EQ)],
    &[(0, 0xffff_ffff, EQ)],
];

/// The clone flags that create namespaces (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|
/// NEWPID|NEWNET): without CAP_SYS_ADMIN, `clone` is allowed only with none of them.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7e02_0000;

fn rules() -> Vec<Rule> {
    let none = When::default;
    let caps = |caps: &'static [Capability]| When {
        caps,
        ..When::default()
    };
    let arches = |arches: &'static [&'static str]| When {
        arches,
        ..When::default()
    };
    let allow = |names: &'static [&'static str], includes: When| Rule {
        names,
        action: ALLOW,
        errno: None,
        args: &[],
        includes,
        excludes: When::default(),
    };
    let mut rules = vec![
        allow(ALWAYS_ALLOWED, none()),
        allow(
            &["process_vm_readv", "process_vm_writev", "ptrace"],
            When {
                min_kernel: Some((4, 8)),
                ..When::default()
            },
        ),
        Rule {
            names: &["socket"],
            action: ALLOW,
            errno: None,
            // AF_VSOCK (40) is refused.
            args: &[(0, 40, LinuxSeccompOperator::ScmpCmpNe)],
            includes: none(),
            excludes: none(),
        },
    ];
    for args in PERSONALITY_ARGS {
        rules.push(Rule {
            names: &["personality"],
            action: ALLOW,
            errno: None,
            args,
            includes: none(),
            excludes: none(),
        });
    }
    rules.extend([
        allow(&["sync_file_range2", "swapcontext"], arches(&["ppc64le"])),
        allow(
            &[
                "arm_fadvise64_64",
                "arm_sync_file_range",
                "sync_file_range2",
                "breakpoint",
                "cacheflush",
                "set_tls",
            ],
            arches(&["arm", "arm64"]),
        ),
        allow(&["arch_prctl"], arches(&["amd64", "x32"])),
        allow(&["modify_ldt"], arches(&["amd64", "x32", "x86"])),
        allow(
            &[
                "s390_pci_mmio_read",
                "s390_pci_mmio_write",
                "s390_runtime_instr",
            ],
            arches(&["s390", "s390x"]),
        ),
        allow(&["riscv_flush_icache"], arches(&["riscv64"])),
        allow(&["open_by_handle_at"], caps(&[Capability::DacReadSearch])),
        allow(
            &[
                "bpf",
                "clone",
                "clone3",
                "fanotify_init",
                "fsconfig",
                "fsmount",
                "fsopen",
                "fspick",
                "lookup_dcookie",
                "mount",
                "mount_setattr",
                "move_mount",
                "open_tree",
                "perf_event_open",
                "quotactl",
                "quotactl_fd",
                "setdomainname",
                "sethostname",
                "setns",
                "syslog",
                "umount",
                "umount2",
                "unshare",
            ],
            caps(&[Capability::SysAdmin]),
        ),
        Rule {
            names: &["clone"],
            action: ALLOW,
            errno: None,
            args: &[(
                0,
                CLONE_NAMESPACE_FLAGS,
                LinuxSeccompOperator::ScmpCmpMaskedEq,
            )],
            includes: none(),
            excludes: When {
                caps: &[Capability::SysAdmin],
                arches: &["s390", "s390x"],
                min_kernel: None,
            },
        },
        Rule {
            // s390 orders clone's parameters differently.
            names: &["clone"],
            action: ALLOW,
            errno: None,
            args: &[(
                1,
                CLONE_NAMESPACE_FLAGS,
                LinuxSeccompOperator::ScmpCmpMaskedEq,
            )],
            includes: arches(&["s390", "s390x"]),
            excludes: caps(&[Capability::SysAdmin]),
        },
        Rule {
            // ENOSYS, so that libc falls back to clone, which the rule above can inspect.
            names: &["clone3"],
            action: LinuxSeccompAction::ScmpActErrno,
            errno: Some(libc::ENOSYS as u32),
            args: &[],
            includes: none(),
            excludes: caps(&[Capability::SysAdmin]),
        },
        allow(&["reboot"], caps(&[Capability::SysBoot])),
        allow(&["chroot"], caps(&[Capability::SysChroot])),
        allow(
            &["delete_module", "init_module", "finit_module"],
            caps(&[Capability::SysModule]),
        ),
        allow(&["acct"], caps(&[Capability::SysPacct])),
        allow(
            &[
                "kcmp",
                "pidfd_getfd",
                "process_madvise",
                "process_vm_readv",
                "process_vm_writev",
                "ptrace",
            ],
            caps(&[Capability::SysPtrace]),
        ),
        allow(&["iopl", "ioperm"], caps(&[Capability::SysRawio])),
        allow(
            &["settimeofday", "stime", "clock_settime", "clock_settime64"],
            caps(&[Capability::SysTime]),
        ),
        allow(&["vhangup"], caps(&[Capability::SysTtyConfig])),
        allow(
            &[
                "get_mempolicy",
                "mbind",
                "set_mempolicy",
                "set_mempolicy_home_node",
            ],
            caps(&[Capability::SysNice]),
        ),
        allow(&["syslog"], caps(&[Capability::Syslog])),
        allow(&["bpf"], caps(&[Capability::Bpf])),
        allow(&["perf_event_open"], caps(&[Capability::Perfmon])),
    ]);
    rules
}

/// The Go architecture name dockerd compares `arches` with, for this build.
fn go_arch() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "amd64"
    } else if cfg!(target_arch = "aarch64") {
        "arm64"
    } else if cfg!(target_arch = "arm") {
        "arm"
    } else if cfg!(target_arch = "x86") {
        "386"
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        "ppc64le"
    } else if cfg!(target_arch = "s390x") {
        "s390x"
    } else if cfg!(target_arch = "riscv64") {
        "riscv64"
    } else {
        "unknown"
    }
}

/// The `architectures` Docker's `archMap` gives for this build's architecture.
fn architectures() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else if cfg!(target_arch = "s390x") {
        vec![Arch::ScmpArchS390x, Arch::ScmpArchS390]
    } else if cfg!(target_arch = "riscv64") {
        vec![Arch::ScmpArchRiscv64]
    } else {
        vec![Arch::ScmpArchNative]
    }
}

/// (major, minor) of the running kernel, from `uname -r`.
fn kernel_version() -> Option<(u32, u32)> {
    let uts = nix::sys::utsname::uname().ok()?;
    let release = uts.release().to_string_lossy().into_owned();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Docker's default profile for a container with Docker's default capabilities
/// ([`crate::caps::docker_default`]).
pub fn docker_default() -> LinuxSeccomp {
    let caps: HashSet<Capability> = crate::caps::docker_default().into_iter().collect();
    docker_default_for(&caps)
}

/// Docker's default profile resolved for a container whose bounding set is `caps`, as
/// dockerd does it: a rule that `includes` capabilities is kept only if all of them are
/// in `caps`, one that `excludes` capabilities is dropped if any is; the same for the
/// build's architecture and the running kernel's version.
pub fn docker_default_for(caps: &HashSet<Capability>) -> LinuxSeccomp {
    let arch = go_arch();
    let kernel = kernel_version();
    let mut syscalls = Vec::new();
    for rule in rules() {
        let inc = &rule.includes;
        if !inc.caps.iter().all(|c| caps.contains(c)) {
            continue;
        }
        if !inc.arches.is_empty() && !inc.arches.contains(&arch) {
            continue;
        }
        if inc
            .min_kernel
            .is_some_and(|min| kernel.is_none_or(|k| k < min))
        {
            continue;
        }
        let exc = &rule.excludes;
        if exc.caps.iter().any(|c| caps.contains(c)) || exc.arches.contains(&arch) {
            continue;
        }
        if exc
            .min_kernel
            .is_some_and(|min| kernel.is_some_and(|k| k >= min))
        {
            continue;
        }
        let mut call = LinuxSyscall::default();
        call.set_names(rule.names.iter().map(|n| n.to_string()).collect());
        call.set_action(rule.action);
        call.set_errno_ret(rule.errno);
        if !rule.args.is_empty() {
            call.set_args(Some(
                rule.args
                    .iter()
                    .map(|&(index, value, op)| {
                        LinuxSeccompArgBuilder::default()
                            .index(index)
                            .value(value)
                            .op(op)
                            .build()
                            // Every field has a default, so the builder cannot fail.
                            .expect("LinuxSeccompArg from constants")
                    })
                    .collect(),
            ));
        }
        syscalls.push(call);
    }
    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(LinuxSeccompAction::ScmpActErrno);
    profile.set_default_errno_ret(Some(libc::EPERM as u32));
    profile.set_architectures(Some(architectures()));
    profile.set_syscalls(Some(syscalls));
    profile
}
