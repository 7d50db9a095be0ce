//! cgroups as root, on this host's real hierarchies: every resource field lands in its
//! file, update changes it, stats show real usage, device rules block a device, the
//! freezer and kill work on v1 and on the real cgroup2 mount, bad values are typed
//! errors that leave nothing behind. Each test works under its own parent cgroup
//! (`/berth-test-<pid>-<n>`) and removes it; leak checks look for the leaf and parent in
//! every hierarchy.
//!
//! The pure-v2 file-writing logic is also run against `mock-cgroup2`, a temporary
//! directory standing in for a cgroup2 tree (named as a mock below): the kernel files a
//! real tree would have are written by the test.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use container_core::cgroups::{
    Cgroup, CgroupError, CgroupVersion, FreezerState, Hierarchy, Layout, Mode, resources,
};
use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;

const PYTHON: &str = "/usr/bin/python3";

/// A parent cgroup for one test, removed (with anything left under it) on drop.
struct Parent {
    name: String,
    layout: Layout,
}

impl Parent {
    fn new(layout: &Layout) -> Parent {
        Parent {
            name: format!("/{}", berth_tests::unique_name("berth-test")),
            layout: layout.clone(),
        }
    }

    fn child(&self, leaf: &str) -> String {
        format!("{}/{leaf}", self.name)
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.layout
            .hierarchies()
            .iter()
            .map(|h| h.mount_point.join(self.name.trim_start_matches('/')))
            .collect()
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        // A failed test may leave its workers (processes it started, in its own unique
        // cgroup): kill them by pid, then remove leaves and the parent.
        let deadline = Instant::now() + Duration::from_secs(5);
        for d in self.dirs() {
            let leaves: Vec<PathBuf> = std::fs::read_dir(&d)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            for leaf in leaves.iter().chain(std::iter::once(&d)) {
                for pid in std::fs::read_to_string(leaf.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.parse::<i32>().ok())
                {
                    let _ =
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            for leaf in leaves.iter().chain(std::iter::once(&d)) {
                while std::fs::remove_dir(leaf)
                    .is_err_and(|e| e.raw_os_error() == Some(libc::EBUSY))
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
}

/// A loop device over a temporary file, detached on drop: a block device the test may
/// read with O_DIRECT.
struct LoopDev {
    dev: String,
    devno: String,
    _file: tempfile::NamedTempFile,
}

impl LoopDev {
    fn new() -> Option<LoopDev> {
        berth_tests::which("losetup")?;
        let file = tempfile::NamedTempFile::new().ok()?;
        file.as_file().set_len(8 << 20).ok()?;
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(file.path())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let name = dev.trim_start_matches("/dev/");
        let devno = std::fs::read_to_string(format!("/sys/block/{name}/dev"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let l = LoopDev {
            dev,
            devno,
            _file: file,
        };
        (!l.devno.is_empty()).then_some(l)
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

fn host() -> Option<&'static Layout> {
    if !berth_tests::require_root("create cgroups") {
        return None;
    }
    Some(Layout::host().expect("host cgroup layout"))
}

/// The v1 tests need v1 controllers (this host and CI: hybrid).
fn v1_host() -> Option<&'static Layout> {
    let l = host()?;
    if l.mode() == Mode::Unified {
        eprintln!("skipped: pure cgroup v2 host; the v1 file checks do not apply");
        return None;
    }
    Some(l)
}

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("resources json")
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

fn dir_of<'a>(cg: &'a Cgroup, ctl: &str) -> &'a Path {
    cg.controller_dir(ctl)
        .unwrap_or_else(|| panic!("no {ctl} directory"))
        .1
}

fn assert_gone(cg: &Cgroup) {
    for p in cg.paths() {
        assert!(!p.dir.exists(), "{} left behind", p.dir.display());
    }
}

/// A python worker that waits for a line on stdin before `script` runs, so it can be
/// moved into the cgroup first; it prints "ready" when done and then sleeps.
fn worker(script: &str) -> Child {
    Command::new(PYTHON)
        .args(["-c", &format!("import sys,os,time\nsys.stdin.readline()\n{script}\nprint('ready', flush=True)\ntime.sleep(60)")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn python worker")
}

fn go_and_wait_ready(child: &mut Child) {
    let stdin = child.stdin.as_mut().expect("stdin");
    stdin.write_all(b"go\n").expect("release worker");
    stdin.flush().expect("flush");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("read worker");
    assert_eq!(line.trim(), "ready", "worker failed");
}

fn reap(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn block_device() -> Option<(String, String)> {
    // A real disk (not loop/ram/zram), read-only use: its major:minor and /dev path.
    let rd = std::fs::read_dir("/sys/block").ok()?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if ["loop", "ram", "zram", "dm-", "sr"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            continue;
        }
        let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
        if Path::new("/dev").join(&name).exists() {
            return Some((dev.trim().to_string(), format!("/dev/{name}")));
        }
    }
    None
}

#[test]
fn every_resource_field_lands_in_its_v1_file_and_update_changes_it() {
    let Some(layout) = v1_host() else { return };
    let parent = Parent::new(layout);
    let sizes = resources::host_hugepage_sizes();
    let (dev, _) = block_device().unwrap_or(("7:0".into(), String::new()));
    let memsw = Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    // Real-time runtime needs budget in every ancestor: give the test parent some.
    let cpu_parent = layout
        .controller("cpu")
        .expect("cpu")
        .mount_point
        .join(parent.name.trim_start_matches('/'));
    std::fs::create_dir_all(&cpu_parent).expect("cpu parent");
    std::fs::write(cpu_parent.join("cpu.rt_runtime_us"), "20000").expect("parent rt budget");
    // blkio weight files appear in non-root cgroups only (CFQ or BFQ): look in the parent.
    let blkio_parent = layout
        .controller("blkio")
        .expect("blkio")
        .mount_point
        .join(parent.name.trim_start_matches('/'));
    std::fs::create_dir_all(&blkio_parent).expect("blkio parent");
    let weight_file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| blkio_parent.join(f).exists());

    let hugepages: Vec<String> = sizes
        .iter()
        .map(|s| format!(r#"{{"pageSize": "{s}", "limit": 0}}"#))
        .collect();
    let json = format!(
        r#"{{
        "memory": {{"limit": 67108864, "reservation": 33554432, {swap} "swappiness": 10,
                    "kernel": 16777216, "disableOOMKiller": true}},
        "cpu": {{"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0",
                 "realtimePeriod": 1000000, "realtimeRuntime": 10000, "idle": 0}},
        "pids": {{"limit": 42}},
        "blockIO": {{{weight}"throttleReadBpsDevice": [{{"major": {ma}, "minor": {mi}, "rate": 1048576}}],
                     "throttleWriteBpsDevice": [{{"major": {ma}, "minor": {mi}, "rate": 2097152}}],
                     "throttleReadIOPSDevice": [{{"major": {ma}, "minor": {mi}, "rate": 100}}],
                     "throttleWriteIOPSDevice": [{{"major": {ma}, "minor": {mi}, "rate": 200}}]}},
        "hugepageLimits": [{hp}],
        "devices": [{{"allow": false, "access": "rwm"}},
                    {{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}},
                    {{"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"}}]
    }}"#,
        swap = if memsw { r#""swap": 134217728,"# } else { "" },
        ma = dev.split(':').next().unwrap_or("7"),
        mi = dev.split(':').nth(1).unwrap_or("0"),
        hp = hugepages.join(","),
        weight = if weight_file.is_some() {
            r#""weight": 500, "#
        } else {
            ""
        },
    );
    // Hugepage limits: a multiple of each page size.
    let mut r = res(&json);
    let limits: Vec<oci_spec::runtime::LinuxHugepageLimit> = sizes
        .iter()
        .map(|s| {
            serde_json::from_str(&format!(
                r#"{{"pageSize": "{s}", "limit": {}}}"#,
                page_bytes(s) * 4
            ))
            .expect("hugepage limit")
        })
        .collect();
    r.set_hugepage_limits(Some(limits));

    let cg = Cgroup::create(&parent.child("fields"), Some(&r)).expect("create");
    let mem = dir_of(&cg, "memory");
    assert_eq!(read(mem, "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(mem, "memory.soft_limit_in_bytes"), "33554432");
    if memsw {
        assert_eq!(read(mem, "memory.memsw.limit_in_bytes"), "134217728");
    }
    assert_eq!(read(mem, "memory.swappiness"), "10");
    assert!(
        read(mem, "memory.oom_control").contains("oom_kill_disable 1"),
        "{}",
        read(mem, "memory.oom_control")
    );
    let cpu = dir_of(&cg, "cpu");
    assert_eq!(read(cpu, "cpu.shares"), "512");
    assert_eq!(read(cpu, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(read(cpu, "cpu.rt_period_us"), "1000000");
    assert_eq!(read(cpu, "cpu.rt_runtime_us"), "10000");
    let cpuset = dir_of(&cg, "cpuset");
    assert_eq!(read(cpuset, "cpuset.cpus"), "0");
    assert_eq!(read(cpuset, "cpuset.mems"), "0");
    assert_eq!(read(dir_of(&cg, "pids"), "pids.max"), "42");
    let blkio = dir_of(&cg, "blkio");
    assert_eq!(
        read(blkio, "blkio.throttle.read_bps_device"),
        format!("{dev} 1048576")
    );
    assert_eq!(
        read(blkio, "blkio.throttle.write_bps_device"),
        format!("{dev} 2097152")
    );
    assert_eq!(
        read(blkio, "blkio.throttle.read_iops_device"),
        format!("{dev} 100")
    );
    assert_eq!(
        read(blkio, "blkio.throttle.write_iops_device"),
        format!("{dev} 200")
    );
    if let Some(f) = weight_file {
        assert_eq!(read(blkio, f), "500", "{f}");
    }
    let (hv, hdir) = cg.controller_dir("hugetlb").expect("hugetlb");
    for s in &sizes {
        let file = match hv {
            CgroupVersion::V1 => format!("hugetlb.{s}.limit_in_bytes"),
            CgroupVersion::V2 => format!("hugetlb.{s}.max"),
        };
        assert_eq!(read(hdir, &file), (page_bytes(s) * 4).to_string(), "{file}");
    }
    assert_eq!(
        read(dir_of(&cg, "devices"), "devices.list"),
        "c 1:3 rwm\nc 1:5 r"
    );

    // update: only the given fields change; swap ordering works both ways.
    let grow = if memsw {
        r#"{"memory": {"limit": 268435456, "swap": 536870912}, "pids": {"limit": 7}, "cpu": {"quota": 20000}}"#
    } else {
        r#"{"memory": {"limit": 268435456}, "pids": {"limit": 7}, "cpu": {"quota": 20000}}"#
    };
    cg.apply(&res(grow)).expect("grow");
    assert_eq!(read(mem, "memory.limit_in_bytes"), "268435456");
    assert_eq!(read(dir_of(&cg, "pids"), "pids.max"), "7");
    assert_eq!(read(cpu, "cpu.cfs_quota_us"), "20000");
    assert_eq!(read(cpu, "cpu.cfs_period_us"), "100000", "period untouched");
    assert_eq!(read(cpu, "cpu.shares"), "512", "shares untouched");
    if memsw {
        assert_eq!(read(mem, "memory.memsw.limit_in_bytes"), "536870912");
        cg.apply(&res(r#"{"memory": {"limit": 16777216, "swap": 33554432}}"#))
            .expect("shrink: memory first, then memsw");
        assert_eq!(read(mem, "memory.limit_in_bytes"), "16777216");
        assert_eq!(read(mem, "memory.memsw.limit_in_bytes"), "33554432");
        cg.apply(&res(r#"{"memory": {"limit": -1}}"#))
            .expect("unlimited memory also lifts memsw");
        assert_eq!(
            read(mem, "memory.memsw.limit_in_bytes"),
            "9223372036854771712"
        );
    }
    cg.apply(&res(r#"{"pids": {"limit": -1}}"#))
        .expect("pids max");
    assert_eq!(read(dir_of(&cg, "pids"), "pids.max"), "max");

    // What the kernel lacks here is a typed error naming the field, before any write.
    if weight_file.is_none() {
        let e = cg
            .apply(&res(r#"{"blockIO": {"weight": 500}}"#))
            .expect_err("no weight file");
        assert!(
            matches!(&e, CgroupError::Unsupported { field, .. } if field.contains("blockIO.weight")),
            "{e:?}"
        );
    }
    cg.delete().expect("delete");
    assert_gone(&cg);
}

fn page_bytes(size: &str) -> u64 {
    let n: u64 = size[..size.len() - 2].parse().expect("page size number");
    match &size[size.len() - 2..] {
        "KB" => n << 10,
        "MB" => n << 20,
        "GB" => n << 30,
        other => panic!("unit {other}"),
    }
}

#[test]
fn invalid_values_are_typed_errors_and_leave_nothing() {
    let Some(layout) = host() else { return };
    let parent = Parent::new(layout);
    let path = parent.child("bad");
    let leaf_dirs: Vec<PathBuf> = layout
        .hierarchies()
        .iter()
        .map(|h| h.mount_point.join(path.trim_start_matches('/')))
        .collect();
    let nothing_left = || {
        for d in &leaf_dirs {
            assert!(!d.exists(), "{} left behind", d.display());
        }
    };

    let e = Cgroup::create(&path, Some(&res(r#"{"cpu": {"cpus": "3-1"}}"#)))
        .expect_err("descending range");
    match &e {
        CgroupError::InvalidValue { field, value, .. } => {
            assert_eq!(field, "linux.resources.cpu.cpus");
            assert_eq!(value, "3-1");
        }
        other => panic!("{other:?}"),
    }
    nothing_left();

    let e = Cgroup::create(&path, Some(&res(r#"{"memory": {"swappiness": 300}}"#)))
        .expect_err("swappiness");
    assert!(e.to_string().contains("memory.swappiness"), "{e}");
    nothing_left();

    let e = Cgroup::create(
        &path,
        Some(&res(
            r#"{"hugepageLimits": [{"pageSize": "3MB", "limit": 0}]}"#,
        )),
    )
    .expect_err("page size");
    assert!(
        matches!(&e, CgroupError::Unsupported { field, .. } if field.contains("hugepageLimits[0].pageSize")),
        "{e:?}"
    );
    nothing_left();

    // Well-formed but refused by the kernel: the write error names file and value, and
    // the directories made so far are removed.
    if layout.controller("cpuset").is_some() {
        let e = Cgroup::create(&path, Some(&res(r#"{"cpu": {"cpus": "0-4095"}}"#)))
            .expect_err("cpus the host lacks");
        match &e {
            CgroupError::Write { path, value, .. } => {
                assert!(path.ends_with("cpuset.cpus"), "{e}");
                assert_eq!(value, "0-4095");
            }
            other => panic!("{other:?}"),
        }
        nothing_left();
    }
}

#[test]
fn stats_show_real_memory_cpu_pids_blkio_usage() {
    let Some(layout) = host() else { return };
    if !berth_tests::require(Path::new(PYTHON).exists(), "needs /usr/bin/python3") {
        return;
    }
    let parent = Parent::new(layout);
    let loopdev = LoopDev::new();
    if loopdev.is_none() {
        eprintln!("blkio bytes not checked: no loop device could be attached");
    }
    let dev = loopdev.as_ref().map(|l| (l.devno.clone(), l.dev.clone()));
    // v1 kernels keep throttle statistics only for devices with a throttle rule.
    let throttle = match &dev {
        Some((devno, _)) => {
            let (ma, mi) = devno.split_once(':').expect("major:minor");
            format!(
                r#", "blockIO": {{"throttleReadBpsDevice": [{{"major": {ma}, "minor": {mi}, "rate": 1073741824}}]}}"#
            )
        }
        None => String::new(),
    };
    let cg = Cgroup::create(
        &parent.child("stats"),
        Some(&res(&format!(
            r#"{{"memory": {{"limit": 268435456}}, "pids": {{"limit": 64}},
                "cpu": {{"quota": 20000, "period": 100000}}{throttle}}}"#,
        ))),
    )
    .expect("create");
    let read_disk = match &dev {
        Some((_, path)) => format!(
            "fd=os.open('{path}', os.O_RDONLY|os.O_DIRECT)\nimport mmap\nm=mmap.mmap(-1, 1<<20)\nos.readv(fd,[m])\nos.close(fd)"
        ),
        None => String::new(),
    };
    let mut child = worker(&format!(
        "b=b'x'*(48<<20)\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass\n\
         for _ in range(3):\n if os.fork()==0:\n  time.sleep(60)\n  os._exit(0)\n{read_disk}"
    ));
    cg.add_pid(child.id() as i32).expect("add worker");
    go_and_wait_ready(&mut child);

    let s = cg.stats().expect("stats");
    let m = s.memory.expect("memory stats");
    assert!(m.usage >= 48 << 20, "usage {}", m.usage);
    assert!(
        m.max_usage >= m.usage,
        "max {} usage {}",
        m.max_usage,
        m.usage
    );
    assert_eq!(m.limit, 268435456);
    assert_eq!(m.failcnt, 0);
    assert!(
        m.stat.contains_key("rss") || m.stat.contains_key("anon"),
        "{:?}",
        m.stat
    );
    let c = s.cpu.expect("cpu stats");
    assert!(c.usage_total >= 250_000_000, "cpu total {}", c.usage_total);
    assert!(c.usage_user > 0, "user {}", c.usage_user);
    if layout.controller("cpuacct").is_some() {
        let sum: u64 = c.per_cpu.iter().sum();
        assert!(!c.per_cpu.is_empty());
        assert!(
            sum >= c.usage_total * 9 / 10,
            "per cpu {sum} vs {}",
            c.usage_total
        );
    }
    assert!(c.periods > 0 && c.throttled_periods > 0, "{c:?}");
    let p = s.pids.expect("pids stats");
    assert_eq!(p.current, 4, "worker and three children");
    assert_eq!(p.limit, Some(64));
    let pids = cg.pids().expect("pids");
    assert_eq!(pids.len(), 4, "{pids:?}");
    assert!(pids.contains(&(child.id() as i32)));
    if let Some((devno, _)) = &dev {
        let b = s.blkio.expect("blkio stats");
        let d = b
            .devices
            .iter()
            .find(|d| format!("{}:{}", d.major, d.minor) == *devno)
            .unwrap_or_else(|| panic!("no entry for {devno}: {b:?}"));
        assert!(d.read_bytes >= 1 << 20, "{d:?}");
        assert!(d.read_ios >= 1, "{d:?}");
    }
    for (size, h) in &s.hugetlb {
        assert_eq!(h.usage, 0, "{size}");
    }
    cg.kill_all(Signal::SIGKILL).expect("kill all");
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cg.pids().expect("pids").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    cg.delete().expect("delete");
    assert_gone(&cg);
}

#[test]
fn device_deny_blocks_dev_null_on_v1() {
    let Some(layout) = v1_host() else { return };
    if !berth_tests::require(
        layout.controller("devices").map(|h| h.version) == Some(CgroupVersion::V1),
        "no v1 devices hierarchy",
    ) {
        return;
    }
    let parent = Parent::new(layout);
    let cg = Cgroup::create(
        &parent.child("dev"),
        Some(&res(
            r#"{"devices": [{"allow": false, "access": "rwm"},
                            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]}"#,
        )),
    )
    .expect("create");
    let mut child = worker(
        "def probe(p):\n try:\n  open(p,'rb').close(); return 'open'\n except PermissionError: return 'denied'\n\
         print(probe('/dev/null'), probe('/dev/zero'), flush=True)",
    );
    cg.add_pid(child.id() as i32).expect("add");
    child
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("go");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "denied open");
    reap(child);
    cg.delete().expect("delete");
    assert_gone(&cg);
}

#[test]
fn freezer_and_kill_all_on_the_host_hierarchies() {
    let Some(layout) = host() else { return };
    let parent = Parent::new(layout);
    let cg = Cgroup::create(&parent.child("frz"), None).expect("create");
    let mut child = Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    cg.add_pid(child.id() as i32).expect("add");
    assert_eq!(cg.freezer_state().expect("state"), FreezerState::Thawed);
    cg.freeze().expect("freeze");
    assert_eq!(cg.freezer_state().expect("state"), FreezerState::Frozen);
    cg.thaw().expect("thaw");
    assert_eq!(cg.freezer_state().expect("state"), FreezerState::Thawed);
    cg.kill_all(Signal::SIGTERM).expect("kill");
    let st = child.wait().expect("wait");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(libc::SIGTERM));
    cg.delete().expect("delete");
    assert_gone(&cg);
}

/// The v2 code paths on the real cgroup2 mount (hybrid: /sys/fs/cgroup/unified, which has
/// no controllers here, but has cgroup.procs, cgroup.freeze, cgroup.kill and cpu.stat).
#[test]
fn v2_paths_on_the_real_cgroup2_mount() {
    let Some(host) = host() else { return };
    let Some(u) = host.unified() else {
        berth_tests::require(false, "no cgroup2 mount on this host");
        return;
    };
    let layout = Layout::v2_at(&u.mount_point).expect("v2 layout");
    let parent = Parent::new(&layout);
    let cg = Cgroup::create_in(&layout, &parent.child("v2"), None).expect("create");
    assert_eq!(cg.paths().len(), 1);
    assert_eq!(cg.paths()[0].version, CgroupVersion::V2);
    let mut child = worker("t=time.process_time()\nwhile time.process_time()-t<0.1: pass");
    cg.add_pid(child.id() as i32).expect("add via cgroup.procs");
    go_and_wait_ready(&mut child);
    assert_eq!(cg.pids().expect("pids"), vec![child.id() as i32]);
    let s = cg.stats().expect("stats");
    let cpu = s.cpu.expect("cpu.stat is always there on v2");
    assert!(cpu.usage_total >= 50_000_000, "{cpu:?}");
    assert!(cpu.per_cpu.is_empty());

    cg.freeze().expect("freeze via cgroup.freeze");
    assert_eq!(cg.freezer_state().expect("state"), FreezerState::Frozen);
    assert!(read(&cg.paths()[0].dir, "cgroup.events").contains("frozen 1"));
    cg.thaw().expect("thaw");
    assert_eq!(cg.freezer_state().expect("state"), FreezerState::Thawed);

    // SIGKILL goes through cgroup.kill; delete waits for the cgroup to empty.
    let dir = cg.paths()[0].dir.clone();
    cg.kill_all(Signal::SIGKILL).expect("cgroup.kill");
    cg.delete().expect("delete waits until empty");
    assert!(!dir.exists());
    let st = child.wait().expect("wait");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(libc::SIGKILL));
}

/// A directory standing in for a cgroup2 tree: the kernel would create the interface
/// files; here the test writes the ones it reads.
struct MockCgroup2 {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

fn mock_cgroup2(controllers: &str) -> MockCgroup2 {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("mock-cgroup2");
    std::fs::create_dir(&root).expect("mock root");
    std::fs::write(root.join("cgroup.controllers"), controllers).expect("controllers");
    MockCgroup2 { _tmp: tmp, root }
}

#[test]
fn v2_files_written_into_a_mock_cgroup2_tree() {
    let mock = mock_cgroup2("cpuset cpu io memory hugetlb pids rdma\n");
    let layout = Layout::v2_at(&mock.root).expect("mock layout");
    assert_eq!(layout.mode(), Mode::Unified);
    let sizes = resources::host_hugepage_sizes();
    let hp = sizes
        .first()
        .map(|s| format!(r#""hugepageLimits": [{{"pageSize": "{s}", "limit": 0}}],"#))
        .unwrap_or_default();
    let r = res(&format!(
        r#"{{
        "memory": {{"limit": 67108864, "reservation": 16777216, "swap": 134217728, "kernel": 1}},
        "cpu": {{"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000, "idle": 1,
                 "cpus": "0-1", "mems": "0"}},
        "pids": {{"limit": 10}},
        "blockIO": {{"weight": 500,
                     "throttleReadBpsDevice": [{{"major": 8, "minor": 0, "rate": 4096}}]}},
        {hp}
        "rdma": {{"mlx5_0": {{"hcaHandles": 3, "hcaObjects": 100}}}},
        "unified": {{"memory.high": "50000000"}}
    }}"#
    ));
    let cg = Cgroup::create_in(&layout, "/parent/ctr", Some(&r)).expect("create in mock");
    let leaf = mock.root.join("parent/ctr");
    assert_eq!(
        read(&mock.root, "cgroup.subtree_control"),
        "+cpuset +cpu +io +memory +hugetlb +pids +rdma"
    );
    assert_eq!(
        read(&mock.root.join("parent"), "cgroup.subtree_control"),
        "+cpuset +cpu +io +memory +hugetlb +pids +rdma"
    );
    assert!(
        !leaf.join("cgroup.subtree_control").exists(),
        "leaf stays a leaf"
    );
    assert_eq!(read(&leaf, "memory.max"), "67108864");
    assert_eq!(
        read(&leaf, "memory.swap.max"),
        "67108864",
        "swap minus memory"
    );
    assert_eq!(read(&leaf, "memory.low"), "16777216");
    assert_eq!(read(&leaf, "memory.high"), "50000000");
    assert!(!leaf.join("memory.kmem.limit_in_bytes").exists());
    assert_eq!(
        read(&leaf, "cpu.weight"),
        "39",
        "runc: 1 + (1024-2)*9999/262142"
    );
    assert_eq!(read(&leaf, "cpu.max"), "50000 100000");
    assert_eq!(read(&leaf, "cpu.max.burst"), "1000");
    assert_eq!(read(&leaf, "cpu.idle"), "1");
    assert_eq!(read(&leaf, "cpuset.cpus"), "0-1");
    assert_eq!(read(&leaf, "cpuset.mems"), "0");
    assert_eq!(read(&leaf, "pids.max"), "10");
    assert_eq!(
        read(&leaf, "io.weight"),
        "default 4950",
        "runc: 1 + (500-10)*9999/990"
    );
    assert_eq!(read(&leaf, "io.max"), "8:0 rbps=4096");
    assert_eq!(
        read(&leaf, "rdma.max"),
        "mlx5_0 hca_handle=3 hca_object=100"
    );
    if let Some(s) = sizes.first() {
        assert_eq!(read(&leaf, &format!("hugetlb.{s}.max")), "0");
    }

    // update: a new period keeps the quota; -1 means max.
    cg.apply(&res(
        r#"{"cpu": {"period": 200000}, "memory": {"limit": -1}}"#,
    ))
    .expect("update");
    assert_eq!(read(&leaf, "cpu.max"), "50000 200000");
    assert_eq!(read(&leaf, "memory.max"), "max");
    assert_eq!(read(&leaf, "memory.swap.max"), "max");
    cg.apply(&res(r#"{"cpu": {"quota": -1}, "pids": {"limit": -1}}"#))
        .expect("unlimited");
    assert_eq!(read(&leaf, "cpu.max"), "max");
    assert_eq!(read(&leaf, "pids.max"), "max");

    // What v2 lacks but runc accepts (it skips them in fs2) is ignored with a warning
    // naming the field, and no file is written.
    let files_before = dir_listing(&leaf);
    let warnings = capture_warnings(|| {
        cg.apply(&res(
            r#"{"memory": {"swappiness": 10, "disableOOMKiller": true},
                "cpu": {"realtimeRuntime": 1000, "realtimePeriod": 10000}}"#,
        ))
        .expect("v2 ignores swappiness, the OOM switch and real-time bandwidth")
    });
    assert_eq!(dir_listing(&leaf), files_before, "nothing written");
    for field in [
        "memory.swappiness",
        "memory.disableOOMKiller",
        "cpu.realtimeRuntime",
        "cpu.realtimePeriod",
    ] {
        assert!(
            warnings.iter().any(|w| w.contains(field)),
            "no warning names {field}: {warnings:?}"
        );
    }
    // What runc refuses on v2 too is refused before anything is written.
    let e = cg
        .apply(&res(r#"{"blockIO": {"leafWeight": 100}}"#))
        .expect_err("leaf weight");
    assert!(
        matches!(&e, CgroupError::Unsupported { field: f, .. } if f.contains("leafWeight")),
        "{e:?}"
    );
    // Device rules on v2 are a BPF program: a mock directory cannot take one, and the
    // error names the bpf call and the directory.
    let e = cg
        .apply(&res(r#"{"devices": [{"allow": false, "access": "rwm"}]}"#))
        .expect_err("no BPF on a plain directory");
    assert!(
        matches!(&e, CgroupError::Bpf { path, .. } if path == &leaf),
        "{e:?}"
    );
    let e = cg
        .apply(&res(r#"{"memory": {"limit": 100, "swap": 50}}"#))
        .expect_err("swap below memory");
    assert!(matches!(e, CgroupError::InvalidValue { .. }), "{e:?}");
    assert_eq!(read(&leaf, "memory.max"), "max", "nothing written");

    // Stats parse what the kernel would show.
    for (f, v) in [
        ("memory.current", "52428800\n"),
        ("memory.peak", "60000000\n"),
        ("memory.events", "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n"),
        ("memory.stat", "anon 50000000\nfile 2428800\n"),
        ("memory.swap.current", "4096\n"),
        (
            "cpu.stat",
            "usage_usec 300000\nuser_usec 200000\nsystem_usec 100000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 5000\n",
        ),
        ("pids.current", "5\n"),
        (
            "io.stat",
            "8:0 rbytes=1048576 wbytes=4096 rios=16 wios=1 dbytes=0 dios=0\n",
        ),
        ("cgroup.procs", "101\n102\n"),
    ] {
        std::fs::write(leaf.join(f), v).expect("mock stat file");
    }
    for s in &sizes {
        std::fs::write(leaf.join(format!("hugetlb.{s}.current")), "0\n").expect("mock");
        if !leaf.join(format!("hugetlb.{s}.max")).exists() {
            std::fs::write(leaf.join(format!("hugetlb.{s}.max")), "max\n").expect("mock");
        }
        std::fs::write(leaf.join(format!("hugetlb.{s}.events")), "max 2\n").expect("mock");
    }
    let s = cg.stats().expect("stats");
    let m = s.memory.expect("memory");
    assert_eq!(
        (m.usage, m.max_usage, m.limit),
        (52428800, 60000000, u64::MAX)
    );
    assert_eq!((m.failcnt, m.oom_kills, m.swap_usage), (7, 1, Some(4096)));
    let c = s.cpu.expect("cpu");
    assert_eq!(
        (c.usage_total, c.usage_user, c.usage_system),
        (300_000_000, 200_000_000, 100_000_000)
    );
    assert_eq!(
        (c.periods, c.throttled_periods, c.throttled_time),
        (10, 4, 5_000_000)
    );
    let p = s.pids.expect("pids");
    assert_eq!((p.current, p.limit), (5, None));
    let b = s.blkio.expect("io");
    assert_eq!(b.devices.len(), 1);
    assert_eq!(
        (
            b.devices[0].read_bytes,
            b.devices[0].write_bytes,
            b.devices[0].read_ios
        ),
        (1048576, 4096, 16)
    );
    assert_eq!(cg.pids().expect("pids"), vec![101, 102]);
    for s in &sizes {
        let h = &cg.stats().expect("stats").hugetlb[s];
        assert_eq!((h.usage, h.failcnt), (0, 2), "{s}");
    }
}

fn dir_listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Run `f` with a tracing subscriber that keeps every WARN event as text
/// ("message field=value ...").
fn capture_warnings(f: impl FnOnce()) -> Vec<String> {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};

    struct Text(String);
    impl Visit for Text {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!(" {}={:?}", field.name(), value));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
    struct Capture(Arc<Mutex<Vec<String>>>);
    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, e: &tracing::Event<'_>) {
            if *e.metadata().level() == tracing::Level::WARN {
                let mut t = Text(String::new());
                e.record(&mut t);
                self.0.lock().expect("lock").push(t.0);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }
    let out = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::with_default(Capture(out.clone()), f);
    out.lock().expect("lock").clone()
}

/// The fresh-machine hybrid layout: v1 memory, and hugetlb alone on cgroup2 with an empty
/// subtree_control, so `+hugetlb` must be enabled there (mock directories for both).
#[test]
fn hybrid_with_hugetlb_on_cgroup2_enables_it_in_a_mock_tree() {
    let sizes = resources::host_hugepage_sizes();
    if sizes.is_empty() {
        eprintln!("skipped: the kernel offers no huge page sizes");
        return;
    }
    let mock = mock_cgroup2("hugetlb\n");
    let v1_memory = mock.root.parent().expect("tmp").join("mock-v1-memory");
    std::fs::create_dir(&v1_memory).expect("mock v1 root");
    let layout = Layout::new(vec![
        Hierarchy {
            version: CgroupVersion::V1,
            controllers: vec!["memory".into()],
            mount_point: v1_memory.clone(),
            name: String::new(),
        },
        Hierarchy {
            version: CgroupVersion::V2,
            controllers: vec!["hugetlb".into()],
            mount_point: mock.root.clone(),
            name: String::new(),
        },
    ])
    .expect("layout");
    assert_eq!(layout.mode(), Mode::Hybrid);
    assert_eq!(layout.v2_controllers(), ["hugetlb"]);
    let r = res(&format!(
        r#"{{"memory": {{"limit": 1048576}}, "hugepageLimits": [{{"pageSize": "{}", "limit": 0}}]}}"#,
        sizes[0]
    ));
    let cg = Cgroup::create_in(&layout, "/berth/x", Some(&r)).expect("create");
    assert_eq!(read(&mock.root, "cgroup.subtree_control"), "+hugetlb");
    assert_eq!(
        read(&mock.root.join("berth"), "cgroup.subtree_control"),
        "+hugetlb"
    );
    assert_eq!(
        read(
            &mock.root.join("berth/x"),
            &format!("hugetlb.{}.max", sizes[0])
        ),
        "0"
    );
    assert_eq!(
        read(&v1_memory.join("berth/x"), "memory.limit_in_bytes"),
        "1048576"
    );
    assert_eq!(cg.paths().len(), 2);
    let names: Vec<String> = cg.paths().into_iter().map(|p| p.mount_name).collect();
    assert_eq!(names, ["mock-v1-memory", "mock-cgroup2"]);
}

/// A unique directory in a real hierarchy, standing in for its mount point: a layout
/// of such directories gives a real cgroupfs (rmdir of a cgroup with children fails with
/// EBUSY) whose `/berth` nothing else uses. Removed, with what is left under it, on drop.
struct PrivateRoot(PathBuf);

impl PrivateRoot {
    fn new(mount_point: &Path) -> PrivateRoot {
        let d = mount_point.join(berth_tests::unique_name("berth-root"));
        std::fs::create_dir(&d).expect("mkdir private root");
        PrivateRoot(d)
    }
}

impl Drop for PrivateRoot {
    fn drop(&mut self) {
        fn rm(d: &Path) {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    rm(&e.path());
                }
            }
            let _ = std::fs::remove_dir(d);
        }
        rm(&self.0);
    }
}

/// Containers without cgroupsPath live under `/berth`; deleting the last one removes it.
/// Two threads creating and deleting such cgroups at once never fail (a create whose
/// parent vanished under it repeats its mkdir), and the parent is gone at the end.
#[test]
fn empty_default_parent_is_removed_and_creates_survive_the_race() {
    let Some(host) = v1_host() else { return };
    let (Some(v1), Some(v2)) = (host.controller("pids"), host.unified()) else {
        berth_tests::require(false, "needs a v1 pids hierarchy and a cgroup2 mount");
        return;
    };
    let (a, b) = (
        PrivateRoot::new(&v1.mount_point),
        PrivateRoot::new(&v2.mount_point),
    );
    let layout = Layout::new(vec![
        Hierarchy {
            version: CgroupVersion::V1,
            controllers: vec!["pids".into()],
            mount_point: a.0.clone(),
            name: String::new(),
        },
        Hierarchy {
            version: CgroupVersion::V2,
            controllers: Vec::new(),
            mount_point: b.0.clone(),
            name: String::new(),
        },
    ])
    .expect("layout");
    let parents = [
        a.0.join(container_core::cgroups::DEFAULT_PARENT),
        b.0.join(container_core::cgroups::DEFAULT_PARENT),
    ];

    // One container: the parent exists while it does, and goes with it.
    let path = container_core::cgroups::path_for(None, "solo").expect("path");
    let cg = Cgroup::create_in(&layout, &path, None).expect("create");
    assert!(parents.iter().all(|p| p.is_dir()));
    cg.delete().expect("delete");
    assert!(parents.iter().all(|p| !p.exists()), "parent left behind");

    // A sibling keeps the parent.
    let x = Cgroup::create_in(&layout, "/berth/x", None).expect("x");
    let y = Cgroup::create_in(&layout, "/berth/y", None).expect("y");
    x.delete().expect("delete x");
    assert!(parents.iter().all(|p| p.is_dir()), "y still needs it");
    y.delete().expect("delete y");
    assert!(parents.iter().all(|p| !p.exists()));

    // Two threads racing create against delete.
    let errors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..2 {
            let (layout, errors) = (&layout, &errors);
            s.spawn(move || {
                for i in 0..1000 {
                    let path = format!("/berth/t{t}-{i}");
                    let r = Cgroup::create_in(layout, &path, None).and_then(|cg| {
                        if cg.paths().len() != 2 {
                            return Err(CgroupError::NotFound { path: path.clone() });
                        }
                        cg.delete()
                    });
                    if let Err(e) = r {
                        errors.lock().expect("lock").push(format!("{path}: {e}"));
                    }
                }
            });
        }
    });
    let errors = errors.into_inner().expect("lock");
    assert!(errors.is_empty(), "{} failures: {errors:?}", errors.len());
    assert!(
        parents.iter().all(|p| !p.exists()),
        "parent left after every container was deleted"
    );
}
