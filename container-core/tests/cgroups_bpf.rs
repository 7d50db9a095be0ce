//! The cgroup v2 device controller for real, as root: device programs compiled from OCI
//! rules are attached to directories of this host's cgroup2 mount (here the hybrid
//! `/sys/fs/cgroup/unified`, which takes `BPF_CGROUP_DEVICE` programs like a pure v2
//! host does). A forked child moves itself into the cgroup and tries the accesses; the
//! kernel answers `EPERM` where the program denies. Update swaps the program (the old
//! one is gone from the kernel), and removing the cgroup frees its program.
//!
//! Every test works in its own cgroup (`berth-bpf-<pid>-<n>`) and removes it.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use container_core::cgroups::ebpf::{self, DeviceFilter, Insn};
use container_core::cgroups::{Cgroup, CgroupError, Layout, devices};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};

/// The host's cgroup2 mount point, or None (skipped, or failed under
/// BERTH_REQUIRE_PRIVILEGED=1).
fn unified() -> Option<PathBuf> {
    if !berth_tests::require_root("attach BPF programs to cgroups") {
        return None;
    }
    let u = Layout::host()
        .expect("host layout")
        .unified()
        .map(|h| h.mount_point.clone());
    if !berth_tests::require(u.is_some(), "no cgroup2 mount on this host") {
        return None;
    }
    u
}

/// A cgroup2 directory for one test, removed (with sub-directories) on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(mount: &Path) -> Dir {
        let d = mount.join(berth_tests::unique_name("berth-bpf"));
        std::fs::create_dir(&d).expect("mkdir cgroup");
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(&self.0) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
    serde_json::from_str(json).expect("rules json")
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).expect("path without NUL")
}

/// What the child tries.
enum Op {
    /// open(path, flags), closed again.
    Open(CString, i32),
    /// mknod(path, type, major, minor), unlinked again.
    Mknod(CString, libc::mode_t, u32, u32),
}

fn open(p: &str, flags: i32) -> Op {
    Op::Open(cstr(Path::new(p)), flags)
}

/// Fork a child that joins `cgroup` (writing 0 to its cgroup.procs) and runs `ops`;
/// returns each op's errno (0: it worked).
fn probe(cgroup: &Path, ops: &[Op]) -> Vec<i32> {
    assert!(ops.len() <= 16);
    let procs = std::fs::OpenOptions::new()
        .write(true)
        .open(cgroup.join("cgroup.procs"))
        .expect("open cgroup.procs");
    let mut fds = [0i32; 2];
    // SAFETY: a two-int array for pipe2.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: the kernel just returned these descriptors.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child only makes async-signal-safe system calls on data prepared
    // before the fork, and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        let mut out = [0i32; 17];
        // SAFETY: plain system calls on valid buffers and descriptors (see above).
        unsafe {
            if libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1) != 1 {
                out[0] = -1;
                out[1] = *libc::__errno_location();
            } else {
                for (i, op) in ops.iter().enumerate() {
                    let rc = match op {
                        Op::Open(p, flags) => {
                            let fd = libc::open(p.as_ptr(), *flags | libc::O_CLOEXEC);
                            if fd >= 0 {
                                libc::close(fd);
                            }
                            fd
                        }
                        Op::Mknod(p, typ, ma, mi) => {
                            let rc = libc::mknod(p.as_ptr(), *typ | 0o600, libc::makedev(*ma, *mi));
                            if rc == 0 {
                                libc::unlink(p.as_ptr());
                            }
                            rc
                        }
                    };
                    out[i + 1] = if rc < 0 { *libc::__errno_location() } else { 0 };
                }
            }
            let n = std::mem::size_of_val(&out);
            libc::write(w.as_raw_fd(), out.as_ptr().cast(), n);
            libc::_exit(0);
        }
    }
    drop(w);
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::from(r), &mut buf).expect("read results");
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let out: Vec<i32> = buf
        .chunks_exact(4)
        .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(out.len(), 17, "child reported {} bytes", buf.len());
    assert_ne!(
        out[0],
        -1,
        "child could not join {}: errno {}",
        cgroup.display(),
        out[1]
    );
    out[1..=ops.len()].to_vec()
}

fn mknod_in(dir: &Path, name: &str, typ: libc::mode_t, ma: u32, mi: u32) -> PathBuf {
    let p = dir.join(name);
    // SAFETY: valid C string.
    let rc = unsafe { libc::mknod(cstr(&p).as_ptr(), typ | 0o600, libc::makedev(ma, mi)) };
    assert_eq!(rc, 0, "mknod {}", p.display());
    p
}

/// Wait (bounded) until the kernel has freed program `id`.
fn wait_gone(id: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !ebpf::program_exists(id).expect("query program id") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

const EPERM: i32 = libc::EPERM;

#[test]
fn rules_decide_open_and_mknod_by_type_number_and_access() {
    let Some(mount) = unified() else { return };
    let cg = Dir::new(&mount);
    let tmp = tempfile::tempdir().expect("tempdir");
    let blk7 = mknod_in(tmp.path(), "blk7", libc::S_IFBLK, 7, 0);
    let chr7 = mknod_in(tmp.path(), "chr7", libc::S_IFCHR, 7, 0);
    let id = ebpf::apply(
        &cg.0,
        &rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                {"allow": true, "type": "c", "major": 1, "access": "m"},
                {"allow": true, "type": "b", "major": 7, "access": "rwm"},
                {"allow": true, "type": "c", "minor": 9, "access": "r"}]"#,
        ),
    )
    .expect("apply")
    .expect("a restricting program is attached");
    assert_eq!(ebpf::attached(&cg.0).expect("query"), vec![id]);

    let node = |n: &str| cstr(&tmp.path().join(n));
    let ops = [
        open("/dev/null", libc::O_RDWR),             // c 1:3 rw
        open("/dev/zero", libc::O_RDONLY),           // c 1:5: only m
        open("/dev/full", libc::O_WRONLY),           // c 1:7: only m
        Op::Mknod(node("n1"), libc::S_IFCHR, 1, 5),  // c 1:* m
        Op::Mknod(node("n2"), libc::S_IFCHR, 1, 3),  // c 1:3: m by c 1:*
        Op::Mknod(node("n3"), libc::S_IFBLK, 1, 3),  // block 1:3: nothing
        Op::Mknod(node("n4"), libc::S_IFBLK, 7, 9),  // b 7:* m
        Op::Open(cstr(&blk7), libc::O_RDONLY),       // b 7:* r
        Op::Open(cstr(&chr7), libc::O_RDONLY),       // char 7: nothing
        open("/dev/urandom", libc::O_RDONLY),        // c *:9 r (1:9)
        open("/dev/urandom", libc::O_WRONLY),        // c *:9 has no w
        Op::Mknod(node("n5"), libc::S_IFCHR, 10, 9), // c 10:9: no m
    ];
    let got = probe(&cg.0, &ops);
    assert_eq!(got[..7], [0, EPERM, EPERM, 0, 0, EPERM, 0], "{got:?}");
    // The block node may have no driver behind it: only the filter's EPERM matters.
    assert_ne!(got[7], EPERM, "b 7:0 is allowed: {got:?}");
    assert_eq!(got[8..], [EPERM, 0, EPERM, EPERM], "{got:?}");

    // Outside the cgroup nothing changed.
    std::fs::File::open("/dev/zero").expect("the test itself still opens /dev/zero");
}

#[test]
fn update_replaces_the_program_and_frees_the_old_one() {
    let Some(mount) = unified() else { return };
    let cg = Dir::new(&mount);
    let null_zero = [
        open("/dev/null", libc::O_RDONLY),
        open("/dev/zero", libc::O_RDONLY),
    ];
    let a = ebpf::apply(
        &cg.0,
        &rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3}]"#,
        ),
    )
    .expect("apply A")
    .expect("program A");
    assert_eq!(probe(&cg.0, &null_zero), [0, EPERM]);

    let b = ebpf::apply(
        &cg.0,
        &rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 5}]"#,
        ),
    )
    .expect("apply B")
    .expect("program B");
    assert_ne!(a, b);
    assert_eq!(ebpf::attached(&cg.0).expect("query"), vec![b], "A detached");
    assert!(
        wait_gone(a),
        "program {a} still loaded after its replacement"
    );
    assert_eq!(probe(&cg.0, &null_zero), [EPERM, 0]);

    // Rules that allow everything leave no program at all.
    let none = ebpf::apply(&cg.0, &rules(r#"[{"allow": true, "access": "rwm"}]"#))
        .expect("apply allow-all");
    assert_eq!(none, None);
    assert!(ebpf::attached(&cg.0).expect("query").is_empty());
    assert!(wait_gone(b));
    assert_eq!(probe(&cg.0, &null_zero), [0, 0]);
}

/// The path a pure cgroup v2 host takes: `Cgroup::create_in` on a v2-only layout (the
/// real cgroup2 mount) turns the container's device rules, with runc's default allows,
/// into a program; `apply` (update) swaps it; `delete` frees it with the cgroup.
#[test]
fn cgroup_on_a_v2_layout_enforces_devices_through_create_update_delete() {
    let Some(mount) = unified() else { return };
    let layout = Layout::v2_at(&mount).expect("v2 layout");
    let parent = Dir::new(&mount);
    let path = format!(
        "/{}/ctr",
        parent.0.file_name().expect("name").to_string_lossy()
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let chr7 = mknod_in(tmp.path(), "vcs", libc::S_IFCHR, 7, 0);
    let deny_all = rules(r#"[{"allow": false, "access": "rwm"}]"#);
    let mut r = LinuxResources::default();
    r.set_devices(Some(devices::with_default_allows(&deny_all, &[])));
    let cg = Cgroup::create_in(&layout, &path, Some(&r)).expect("create");
    let dir = cg.unified_dir().expect("cgroup2 dir").to_path_buf();
    let ids = ebpf::attached(&dir).expect("query");
    assert_eq!(ids.len(), 1, "{ids:?}");
    let ops = [
        open("/dev/null", libc::O_RDWR),
        open("/dev/zero", libc::O_RDONLY),
        open("/dev/urandom", libc::O_RDONLY),
        Op::Open(cstr(&chr7), libc::O_RDONLY),
        Op::Mknod(cstr(&tmp.path().join("n")), libc::S_IFBLK, 8, 0),
    ];
    assert_eq!(probe(&dir, &ops), [0, 0, 0, EPERM, EPERM]);

    // update: only /dev/null now.
    let mut u = LinuxResources::default();
    u.set_devices(Some(rules(
        r#"[{"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]"#,
    )));
    cg.apply(&u).expect("update");
    let after = ebpf::attached(&dir).expect("query");
    assert_eq!(after.len(), 1);
    assert_ne!(after, ids);
    assert_eq!(probe(&dir, &ops[..2]), [0, EPERM]);

    cg.delete().expect("delete");
    assert!(!dir.exists());
    assert!(
        wait_gone(after[0]),
        "the program went with the cgroup (prog id {})",
        after[0]
    );
}

#[test]
fn a_program_the_verifier_refuses_is_an_error_with_its_log() {
    let Some(mount) = unified() else { return };
    let cg = Dir::new(&mount);
    // `exit` without setting r0.
    let bad = DeviceFilter::from_instructions(vec![Insn {
        code: 0x95,
        dst: 0,
        src: 0,
        off: 0,
        imm: 0,
    }]);
    let e = ebpf::apply_filter(&cg.0, &bad).expect_err("verifier refuses");
    match &e {
        CgroupError::Bpf { op, path, log, .. } => {
            assert_eq!(*op, "BPF_PROG_LOAD");
            assert_eq!(path, &cg.0);
            assert!(log.contains("R0"), "verifier log names R0: {log:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("verifier"), "{e}");
    assert!(ebpf::attached(&cg.0).expect("query").is_empty());
}

#[test]
fn device_rules_on_a_plain_directory_are_a_typed_error() {
    if !berth_tests::require_root("call bpf(2)") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let e = ebpf::apply(tmp.path(), &rules(r#"[{"allow": false}]"#)).expect_err("not a cgroup");
    assert!(
        matches!(&e, CgroupError::Bpf { path, .. } if path == tmp.path()),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(&tmp.path().display().to_string()),
        "{e}"
    );
}
