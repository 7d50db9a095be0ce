//! The cgroup v2 device controller: an eBPF `BPF_PROG_TYPE_CGROUP_DEVICE` program built
//! from the OCI device rules, attached to the container's cgroup2 directory.
//!
//! cgroup v2 has no `devices.allow`/`devices.deny` files. The kernel instead runs every
//! `BPF_CGROUP_DEVICE` program attached to a process's cgroup (and its ancestors) on each
//! device open and `mknod`; the access is refused with `EPERM` unless all of them return
//! 1. runc (`libcontainer/cgroups/devices`) and crun (`ebpf.c`) do the same.
//!
//! # Rule semantics
//!
//! The OCI list is an allowlist applied in order; the program gives what that order
//! means, **per access bit** (r, w, m):
//!
//! * a rule of type `a` (or no type) is a full wildcard, whatever its numbers and access
//!   (as the v1 kernel and runc treat it): it sets the verdict for every device and access,
//!   discarding the rules before it;
//! * otherwise a rule matches a request when the type (`b`/`c`) is equal and its major
//!   and minor are equal or unset/`-1` (any); it decides the access bits it lists;
//! * for each bit of the request the **last** matching rule that lists that bit decides;
//!   a bit no rule decides falls to the last wildcard's verdict, or is denied when the
//!   list has no wildcard (runc and crun on cgroup v2 start from deny too);
//! * the request is allowed when every requested bit is allowed (an `open(O_RDWR)`
//!   asks for r and w at once).
//!
//! This equals runc's result wherever runc accepts the rules, and is defined where runc
//! refuses them (a deny that punches a hole into an earlier wildcard allow, which cgroup
//! v1 would silently ignore). It differs in one corner: `c 1:* r` followed by `c 1:3 w`
//! allows `rw` on 1:3 here (each bit is allowed by some rule), where runc's program asks
//! one rule to cover both bits.
//!
//! The program checks the rules from last to first, keeping the still-undecided access
//! bits in a register: a matching deny rule that lists an undecided bit returns 0; a
//! matching allow rule clears its bits and returns 1 once none is left; after the last
//! check comes the wildcard's (or the default deny) verdict.
//!
//! # Why the instructions are written by hand
//!
//! The program is a straight line of compare-and-branch blocks over ten opcodes, so it is
//! assembled here as raw `struct bpf_insn`s (runc does the same through cilium/ebpf's
//! `asm` package; crun with C macros). That keeps the build free of clang, of a BPF
//! toolchain and of libbpf, and the few `bpf(2)` commands needed (`BPF_PROG_LOAD`,
//! `BPF_PROG_ATTACH`/`DETACH`, `BPF_PROG_QUERY`, `BPF_PROG_GET_FD_BY_ID`,
//! `BPF_OBJ_GET_INFO_BY_FD`) are plain `syscall(SYS_bpf, ...)` calls on `#[repr(C)]`
//! prefixes of `union bpf_attr`. The Rust BPF crates (aya, libbpf-rs) are built around
//! loading compiled object files and would bring far more than these six calls.
//!
//! # Lifecycle
//!
//! [`apply`] loads the program, attaches it with `BPF_F_ALLOW_MULTI`, and only then
//! detaches the programs that were attached before (found with `BPF_PROG_QUERY`), so
//! during an update there is never a moment without a filter. The cgroup holds the only
//! reference to an attached program: removing the cgroup directory frees it.
//!
//! Kernels before 5.11 charge BPF programs to `RLIMIT_MEMLOCK`; berth does not raise
//! that limit (it would be inherited by the container), so loading may fail there with
//! `EPERM` when the limit is low.

use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::CgroupError;

type Result<T, E = CgroupError> = std::result::Result<T, E>;

/// `BPF_DEVCG_DEV_BLOCK`: the request is for a block device.
pub const DEV_BLOCK: u32 = 1;
/// `BPF_DEVCG_DEV_CHAR`: the request is for a character device.
pub const DEV_CHAR: u32 = 2;
/// `BPF_DEVCG_ACC_MKNOD`: `mknod` access.
pub const ACC_MKNOD: u32 = 1;
/// `BPF_DEVCG_ACC_READ`: read access.
pub const ACC_READ: u32 = 2;
/// `BPF_DEVCG_ACC_WRITE`: write access.
pub const ACC_WRITE: u32 = 4;
const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

// Opcodes (class | op | source).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const LD_DW_IMM: u8 = 0x18; // BPF_LD | BPF_DW | BPF_IMM (two slots)
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_X: u8 = 0xbc;
const ALU32_MOV_K: u8 = 0xb4;
const JEQ_K: u8 = 0x15;
const JNE_K: u8 = 0x55;
const JNE_X: u8 = 0x5d;
const EXIT: u8 = 0x95;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// One eBPF instruction (`struct bpf_insn`). A 64-bit immediate load takes two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode: class, operation and source bits.
    pub code: u8,
    /// Destination register (0-10).
    pub dst: u8,
    /// Source register (0-10).
    pub src: u8,
    /// Signed offset: memory displacement or jump distance in instructions.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// The 8 bytes the kernel reads (little-endian host layout of `struct bpf_insn`).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_ne_bytes());
        b[4..8].copy_from_slice(&self.imm.to_ne_bytes());
        b
    }
}

impl fmt::Display for Insn {
    /// The kernel verifier's notation (`r2 = *(u32 *)(r1 +0)`, `if r2 != 0x2 goto pc+5`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (d, s, off, imm) = (self.dst, self.src, self.off, self.imm);
        match self.code {
            LDX_W => write!(f, "r{d} = *(u32 *)(r{s} {off:+})"),
            LD_DW_IMM => write!(f, "r{d} = {:#x} ll (low word)", imm as u32),
            ALU32_AND_K => write!(f, "w{d} &= {:#x}", imm as u32),
            ALU32_RSH_K => write!(f, "w{d} >>= {imm}"),
            ALU32_MOV_X => write!(f, "w{d} = w{s}"),
            ALU32_MOV_K => write!(f, "w{d} = {imm}"),
            JEQ_K => write!(f, "if r{d} == {:#x} goto pc{off:+}", imm as u32),
            JNE_K => write!(f, "if r{d} != {:#x} goto pc{off:+}", imm as u32),
            JNE_X => write!(f, "if r{d} != r{s} goto pc{off:+}"),
            EXIT => write!(f, "exit"),
            0 => write!(f, "(high word {:#x})", imm as u32),
            c => write!(f, "(code {c:#04x})"),
        }
    }
}

/// A rule reduced to what the program compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    typ: u32,
    major: Option<u32>,
    minor: Option<u32>,
    access: u32,
    allow: bool,
}

/// A device program compiled from OCI rules (or given as raw instructions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFilter {
    insns: Vec<Insn>,
    allows_everything: bool,
}

fn field(i: usize, name: &str) -> String {
    format!("linux.resources.devices[{i}].{name}")
}

/// The access bits of an OCI access string (`None`: rwm).
pub fn access_bits(i: usize, access: Option<&str>) -> Result<u32> {
    let Some(a) = access else { return Ok(ACC_ALL) };
    if a.is_empty() {
        return Err(CgroupError::invalid(
            field(i, "access"),
            a,
            "access is a non-empty combination of r, w and m",
        ));
    }
    let mut bits = 0;
    for c in a.chars() {
        bits |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => {
                return Err(CgroupError::invalid(
                    field(i, "access"),
                    a,
                    "access is a non-empty combination of r, w and m",
                ));
            }
        };
    }
    Ok(bits)
}

fn number(i: usize, name: &str, v: Option<i64>) -> Result<Option<u32>> {
    match v {
        None | Some(-1) => Ok(None),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| {
            CgroupError::invalid(
                field(i, name),
                n,
                "must be -1 (any) or a device number below 2^32",
            )
        }),
    }
}

/// Parse the rules: `(default verdict, rules after the last wildcard)`.
fn reduce(rules: &[LinuxDeviceCgroup]) -> Result<(bool, Vec<Rule>)> {
    let mut default = false;
    let mut out = Vec::with_capacity(rules.len());
    for (i, d) in rules.iter().enumerate() {
        let typ = match d.typ() {
            None | Some(LinuxDeviceType::A) => None,
            Some(LinuxDeviceType::C) => Some(DEV_CHAR),
            Some(LinuxDeviceType::B) => Some(DEV_BLOCK),
            Some(t) => {
                return Err(CgroupError::invalid(
                    field(i, "type"),
                    t.as_str(),
                    "device cgroup rules take a (all), c (char) or b (block)",
                ));
            }
        };
        // Check every field even of rules a later wildcard discards.
        let access = access_bits(i, d.access().as_deref())?;
        let major = number(i, "major", d.major())?;
        let minor = number(i, "minor", d.minor())?;
        match typ {
            None => {
                default = d.allow();
                out.clear();
            }
            Some(typ) => out.push(Rule {
                typ,
                major,
                minor,
                access,
                allow: d.allow(),
            }),
        }
    }
    // Rules right after the wildcard that say what it says change nothing.
    let same = out.iter().take_while(|r| r.allow == default).count();
    out.drain(..same);
    Ok((default, out))
}

/// Append `if reg != value goto next` (the caller patches `next`).
fn jne_value(block: &mut Vec<Insn>, reg: u8, value: u32) {
    if let Ok(imm) = i32::try_from(value) {
        block.push(Insn::new(JNE_K, reg, 0, 0, imm));
    } else {
        // A 64-bit compare with an immediate sign-extends it: load the zero-extended
        // value into a scratch register instead.
        block.push(Insn::new(LD_DW_IMM, 1, 0, 0, value as i32));
        block.push(Insn::new(0, 0, 0, 0, 0));
        block.push(Insn::new(JNE_X, reg, 1, 0, 0));
    }
}

fn rule_block(r: &Rule) -> Vec<Insn> {
    let mut b = vec![Insn::new(JNE_K, 2, 0, 0, r.typ as i32)];
    if let Some(m) = r.major {
        jne_value(&mut b, 4, m);
    }
    if let Some(m) = r.minor {
        jne_value(&mut b, 5, m);
    }
    match (r.allow, r.access == ACC_ALL) {
        (_, true) => {}
        (true, false) => {
            // Clear the bits this rule allows; allow once nothing is left undecided.
            b.push(Insn::new(ALU32_AND_K, 3, 0, 0, !r.access as i32));
            b.push(Insn::new(JNE_K, 3, 0, 0, 0));
        }
        (false, false) => {
            // Deny if an undecided bit is one this rule denies.
            b.push(Insn::new(ALU32_MOV_X, 1, 3, 0, 0));
            b.push(Insn::new(ALU32_AND_K, 1, 0, 0, r.access as i32));
            b.push(Insn::new(JEQ_K, 1, 0, 0, 0));
        }
    }
    b.push(Insn::new(ALU32_MOV_K, 0, 0, 0, i32::from(r.allow)));
    b.push(Insn::new(EXIT, 0, 0, 0, 0));
    // Every conditional jump of the block goes to the next block.
    let len = b.len();
    for (i, insn) in b.iter_mut().enumerate() {
        if matches!(insn.code, JNE_K | JNE_X | JEQ_K) {
            insn.off = (len - i - 1) as i16;
        }
    }
    b
}

impl DeviceFilter {
    /// Compile OCI device rules (see the module docs for what they mean). Rules are
    /// checked first: a bad type, access or number is an [`CgroupError::InvalidValue`]
    /// naming `linux.resources.devices[i]`.
    pub fn compile(rules: &[LinuxDeviceCgroup]) -> Result<DeviceFilter> {
        let (default, rules) = reduce(rules)?;
        let mut insns = vec![
            // r2 = device type, w3 = requested access bits, r4 = major, r5 = minor.
            Insn::new(LDX_W, 2, 1, 0, 0),
            Insn::new(ALU32_AND_K, 2, 0, 0, 0xffff),
            Insn::new(LDX_W, 3, 1, 0, 0),
            Insn::new(ALU32_RSH_K, 3, 0, 0, 16),
            Insn::new(LDX_W, 4, 1, 4, 0),
            Insn::new(LDX_W, 5, 1, 8, 0),
            // No access bit asked for: nothing to refuse.
            Insn::new(JNE_K, 3, 0, 2, 0),
            Insn::new(ALU32_MOV_K, 0, 0, 0, 1),
            Insn::new(EXIT, 0, 0, 0, 0),
        ];
        for r in rules.iter().rev() {
            insns.extend(rule_block(r));
        }
        insns.push(Insn::new(ALU32_MOV_K, 0, 0, 0, i32::from(default)));
        insns.push(Insn::new(EXIT, 0, 0, 0, 0));
        Ok(DeviceFilter {
            insns,
            allows_everything: default && rules.is_empty(),
        })
    }

    /// A program from raw instructions (loaded as given; the kernel verifier judges it).
    pub fn from_instructions(insns: Vec<Insn>) -> DeviceFilter {
        DeviceFilter {
            insns,
            allows_everything: false,
        }
    }

    /// The instructions.
    pub fn instructions(&self) -> &[Insn] {
        &self.insns
    }

    /// Whether the rules allow every device and access (then [`apply`] attaches nothing
    /// and only removes earlier programs).
    pub fn allows_everything(&self) -> bool {
        self.allows_everything
    }

    /// One instruction per line, numbered, in the verifier's notation.
    pub fn disassemble(&self) -> String {
        self.insns
            .iter()
            .enumerate()
            .map(|(i, insn)| format!("{i}: {insn}\n"))
            .collect()
    }

    /// Load the program into the kernel (`BPF_PROG_LOAD`, license "Apache"). On failure
    /// the load is repeated with the verifier log on, and the error carries the log.
    pub fn load(&self) -> Result<OwnedFd> {
        let bytes: Vec<u8> = self.insns.iter().flat_map(|i| i.to_bytes()).collect();
        let license = c"Apache";
        let mut name = [0u8; 16];
        name[..9].copy_from_slice(b"berth_dev");
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: self.insns.len() as u32,
            insns: bytes.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 0,
            log_size: 0,
            log_buf: 0,
            kern_version: 0,
            prog_flags: 0,
            prog_name: name,
            prog_ifindex: 0,
            expected_attach_type: 0,
        };
        let errno = match bpf(BPF_PROG_LOAD, &mut attr) {
            Ok(fd) => return Ok(owned(fd)),
            Err(e) => e,
        };
        let mut log = vec![0u8; 1 << 16];
        attr.log_level = 1;
        attr.log_size = log.len() as u32;
        attr.log_buf = log.as_mut_ptr() as u64;
        if let Ok(fd) = bpf(BPF_PROG_LOAD, &mut attr) {
            return Ok(owned(fd));
        }
        let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
        let text = String::from_utf8_lossy(&log[..end]);
        // The verifier's last lines say what it refused.
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(4)..].join("; ");
        Err(CgroupError::Bpf {
            op: "BPF_PROG_LOAD",
            path: PathBuf::new(),
            errno,
            log: tail,
        })
    }
}

#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    pad: u32,
}

#[repr(C)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

#[repr(C)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The first fields of `struct bpf_prog_info`.
#[repr(C)]
#[derive(Default)]
struct ProgInfo {
    typ: u32,
    id: u32,
    tag: [u8; 8],
}

/// `bpf(cmd, attr, sizeof attr)`; every attr struct above has no implicit padding.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<RawFd, Errno> {
    // SAFETY: attr is a live, fully initialised #[repr(C)] prefix of union bpf_attr;
    // the pointers inside it point to buffers that outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as RawFd)
    }
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: a file descriptor the kernel just returned to us, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn bpf_err(op: &'static str, path: &Path, errno: Errno) -> CgroupError {
    CgroupError::Bpf {
        op,
        path: path.to_path_buf(),
        errno,
        log: String::new(),
    }
}

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    let c = crate::sys::cpath(dir).map_err(|e| bpf_err("open cgroup directory", dir, e))?;
    crate::sys::open(&c, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0)
        .map_err(|e| bpf_err("open cgroup directory", dir, e))
}

fn query(dir: &Path, fd: &OwnedFd) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    for _ in 0..8 {
        let mut attr = QueryAttr {
            target_fd: fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            query_flags: 0,
            attach_flags: 0,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            pad: 0,
        };
        match bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            // prog_cnt now says how many there are.
            Err(Errno::ENOSPC) => ids = vec![0u32; attr.prog_cnt as usize + 8],
            Err(e) => return Err(bpf_err("BPF_PROG_QUERY", dir, e)),
        }
    }
    Err(bpf_err("BPF_PROG_QUERY", dir, Errno::ENOSPC))
}

fn prog_fd_by_id(id: u32) -> Result<Option<OwnedFd>, Errno> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        next_id: 0,
        open_flags: 0,
    };
    match bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) {
        Ok(fd) => Ok(Some(owned(fd))),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn prog_id(fd: &OwnedFd) -> Result<u32, Errno> {
    let mut info = ProgInfo::default();
    let mut attr = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of::<ProgInfo>() as u32,
        info: &mut info as *mut ProgInfo as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(info.id)
}

fn attach_call(
    cmd: libc::c_long,
    dir_fd: &OwnedFd,
    prog: &OwnedFd,
    flags: u32,
) -> Result<(), Errno> {
    let mut attr = AttachAttr {
        target_fd: dir_fd.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: flags,
        replace_bpf_fd: 0,
    };
    bpf(cmd, &mut attr).map(|_| ())
}

/// The ids of the device programs attached directly to the cgroup2 directory `dir`
/// (`BPF_PROG_QUERY`, `BPF_CGROUP_DEVICE`).
pub fn attached(dir: &Path) -> Result<Vec<u32>> {
    let fd = open_dir(dir)?;
    query(dir, &fd)
}

/// Whether a BPF program with this id still exists in the kernel.
pub fn program_exists(id: u32) -> Result<bool> {
    prog_fd_by_id(id)
        .map(|fd| fd.is_some())
        .map_err(|e| bpf_err("BPF_PROG_GET_FD_BY_ID", Path::new(""), e))
}

/// Make `rules` the device filter of the cgroup2 directory `dir`: compile and load the
/// program, attach it (`BPF_F_ALLOW_MULTI`), then detach every program that was attached
/// before, so there is no window without a filter. Returns the new program's id, or
/// `None` when the rules allow everything (then only the old programs are removed).
pub fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<Option<u32>> {
    apply_filter(dir, &DeviceFilter::compile(rules)?)
}

/// [`apply`] with an already compiled (or hand-written) program.
pub fn apply_filter(dir: &Path, filter: &DeviceFilter) -> Result<Option<u32>> {
    let dir_fd = open_dir(dir)?;
    let old = query(dir, &dir_fd)?;
    let new = if filter.allows_everything() {
        None
    } else {
        let prog = filter.load().map_err(|e| match e {
            CgroupError::Bpf { op, errno, log, .. } => CgroupError::Bpf {
                op,
                path: dir.to_path_buf(),
                errno,
                log,
            },
            e => e,
        })?;
        attach_call(BPF_PROG_ATTACH, &dir_fd, &prog, BPF_F_ALLOW_MULTI)
            .map_err(|e| bpf_err("BPF_PROG_ATTACH", dir, e))?;
        Some(prog_id(&prog).map_err(|e| bpf_err("BPF_OBJ_GET_INFO_BY_FD", dir, e))?)
    };
    for id in old {
        if Some(id) == new {
            continue;
        }
        match prog_fd_by_id(id) {
            Ok(Some(fd)) => match attach_call(BPF_PROG_DETACH, &dir_fd, &fd, 0) {
                // Detached meanwhile by someone else.
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(bpf_err("BPF_PROG_DETACH", dir, e)),
            },
            Ok(None) => {}
            Err(e) => return Err(bpf_err("BPF_PROG_GET_FD_BY_ID", dir, e)),
        }
    }
    Ok(new)
}

/// The verdict the rules give, computed directly from their meaning (module docs):
/// `typ` is [`DEV_CHAR`] or [`DEV_BLOCK`], `access` a set of `ACC_*` bits. The compiled
/// program returns the same; tests compare the two.
pub fn verdict(
    rules: &[LinuxDeviceCgroup],
    typ: u32,
    major: u32,
    minor: u32,
    access: u32,
) -> Result<bool> {
    // Validate like compile does.
    reduce(rules)?;
    for bit in [ACC_MKNOD, ACC_READ, ACC_WRITE] {
        if access & bit == 0 {
            continue;
        }
        let mut allowed = false;
        for (i, d) in rules.iter().enumerate() {
            let wildcard = matches!(d.typ(), None | Some(LinuxDeviceType::A));
            let matches = wildcard || {
                let t = if d.typ() == Some(LinuxDeviceType::B) {
                    DEV_BLOCK
                } else {
                    DEV_CHAR
                };
                t == typ
                    && number(i, "major", d.major())?.is_none_or(|m| m == major)
                    && number(i, "minor", d.minor())?.is_none_or(|m| m == minor)
                    && access_bits(i, d.access().as_deref())? & bit != 0
            };
            if matches {
                allowed = d.allow();
            }
        }
        if !allowed {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An interpreter of the instruction subset the compiler emits, with the kernel's
    /// semantics (64-bit registers, 32-bit ALU ops zero the upper half, jumps relative
    /// to the next instruction). Anything else is an error, as is running off the end.
    fn run(insns: &[Insn], ctx: [u32; 3]) -> Result<u64, String> {
        let mut reg = [0u64; 11];
        let mut pc = 0usize;
        for _ in 0..10_000 {
            let i = insns.get(pc).ok_or(format!("pc {pc} out of the program"))?;
            let (d, s) = (i.dst as usize, i.src as usize);
            let jump = |cond: bool, pc: usize| -> usize {
                if cond {
                    (pc as isize + 1 + i.off as isize) as usize
                } else {
                    pc + 1
                }
            };
            pc = match i.code {
                LDX_W => {
                    if s != 1 || i.off % 4 != 0 || !(0..12).contains(&i.off) {
                        return Err(format!("bad ctx load {i}"));
                    }
                    reg[d] = u64::from(ctx[i.off as usize / 4]);
                    pc + 1
                }
                LD_DW_IMM => {
                    let hi = insns.get(pc + 1).ok_or("truncated ld_imm64")?;
                    reg[d] = u64::from(i.imm as u32) | (u64::from(hi.imm as u32) << 32);
                    pc + 2
                }
                ALU32_AND_K => {
                    reg[d] = u64::from(reg[d] as u32 & i.imm as u32);
                    pc + 1
                }
                ALU32_RSH_K => {
                    reg[d] = u64::from((reg[d] as u32) >> (i.imm as u32 & 31));
                    pc + 1
                }
                ALU32_MOV_X => {
                    reg[d] = u64::from(reg[s] as u32);
                    pc + 1
                }
                ALU32_MOV_K => {
                    reg[d] = u64::from(i.imm as u32);
                    pc + 1
                }
                JEQ_K => jump(reg[d] == i.imm as i64 as u64, pc),
                JNE_K => jump(reg[d] != i.imm as i64 as u64, pc),
                JNE_X => jump(reg[d] != reg[s], pc),
                EXIT => return Ok(reg[0]),
                c => return Err(format!("opcode {c:#x} not in the subset")),
            };
        }
        Err("no exit within 10000 steps".into())
    }

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).expect("rules json")
    }

    fn check(rs: &[LinuxDeviceCgroup], typ: u32, major: u32, minor: u32, access: u32) -> bool {
        let f = DeviceFilter::compile(rs).expect("compile");
        let got = run(f.instructions(), [(access << 16) | typ, major, minor]).expect("run");
        let want = verdict(rs, typ, major, minor, access).expect("verdict");
        assert_eq!(got == 1, want, "{rs:?} {typ} {major}:{minor} {access}");
        want
    }

    #[test]
    fn default_container_rules() {
        let rs = rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                {"allow": true, "type": "c", "major": 136, "access": "rwm"},
                {"allow": true, "type": "b", "access": "m"}]"#,
        );
        assert!(check(&rs, DEV_CHAR, 1, 3, ACC_READ | ACC_WRITE));
        assert!(!check(&rs, DEV_CHAR, 1, 3, ACC_MKNOD));
        assert!(!check(&rs, DEV_CHAR, 1, 5, ACC_READ));
        assert!(!check(&rs, DEV_BLOCK, 1, 3, ACC_READ));
        assert!(check(&rs, DEV_CHAR, 136, 7, ACC_WRITE));
        assert!(check(&rs, DEV_BLOCK, 8, 0, ACC_MKNOD));
        assert!(!check(&rs, DEV_BLOCK, 8, 0, ACC_READ | ACC_MKNOD));
    }

    #[test]
    fn disassembly_of_one_allow_rule() {
        let f = DeviceFilter::compile(&rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]"#,
        ))
        .expect("compile");
        let want = "\
0: r2 = *(u32 *)(r1 +0)
1: w2 &= 0xffff
2: r3 = *(u32 *)(r1 +0)
3: w3 >>= 16
4: r4 = *(u32 *)(r1 +4)
5: r5 = *(u32 *)(r1 +8)
6: if r3 != 0x0 goto pc+2
7: w0 = 1
8: exit
9: if r2 != 0x2 goto pc+6
10: if r4 != 0x1 goto pc+5
11: if r5 != 0x3 goto pc+4
12: w3 &= 0xfffffff9
13: if r3 != 0x0 goto pc+2
14: w0 = 1
15: exit
16: w0 = 0
17: exit
";
        assert_eq!(f.disassemble(), want);
        assert!(!f.allows_everything());
    }

    #[test]
    fn wildcards_reset_and_allow_all_is_recognised() {
        let f = DeviceFilter::compile(&rules(
            r#"[{"allow": false, "type": "c", "major": 1, "access": "r"},
                {"allow": true, "type": "a", "major": 7, "access": "r"}]"#,
        ))
        .expect("compile");
        assert!(
            f.allows_everything(),
            "an `a` rule is all devices, all access"
        );
        let rs = rules(
            r#"[{"allow": true, "access": "rwm"},
                {"allow": false, "type": "c", "major": 1, "access": "w"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "w"}]"#,
        );
        assert!(check(&rs, DEV_CHAR, 1, 3, ACC_WRITE | ACC_READ));
        assert!(!check(&rs, DEV_CHAR, 1, 5, ACC_WRITE | ACC_READ));
        assert!(check(&rs, DEV_CHAR, 1, 5, ACC_READ));
        assert!(check(&rs, DEV_BLOCK, 1, 5, ACC_WRITE));
    }

    #[test]
    fn large_numbers_compare_unsigned() {
        let rs =
            rules(r#"[{"allow": true, "type": "c", "major": 4294967295, "minor": 3000000000}]"#);
        assert!(check(&rs, DEV_CHAR, u32::MAX, 3_000_000_000, ACC_READ));
        assert!(!check(&rs, DEV_CHAR, u32::MAX, 5, ACC_READ));
        assert!(!check(&rs, DEV_CHAR, 1, 3_000_000_000, ACC_READ));
    }

    #[test]
    fn bad_rules_are_typed_errors() {
        for (json, f) in [
            (
                r#"[{"allow": true, "type": "c", "access": "rx"}]"#,
                "devices[0].access",
            ),
            (
                r#"[{"allow": true, "type": "c", "access": ""}]"#,
                "devices[0].access",
            ),
            (
                r#"[{"allow": true}, {"allow": true, "type": "c", "major": 4294967296}]"#,
                "devices[1].major",
            ),
            (
                r#"[{"allow": true, "type": "b", "minor": -2}]"#,
                "devices[0].minor",
            ),
            (r#"[{"allow": true, "type": "p"}]"#, "devices[0].type"),
        ] {
            let e = DeviceFilter::compile(&rules(json)).expect_err(json);
            assert!(
                matches!(&e, CgroupError::InvalidValue { field, .. } if field.ends_with(f)),
                "{json}: {e}"
            );
        }
    }

    fn arb_rule() -> impl Strategy<Value = LinuxDeviceCgroup> {
        let typ = prop_oneof![
            Just(None),
            Just(Some("a")),
            Just(Some("b")),
            Just(Some("c"))
        ];
        let num = prop_oneof![
            Just(None),
            Just(Some(-1i64)),
            (0i64..3).prop_map(Some),
            Just(Some(3_000_000_000i64)),
        ];
        let access = prop_oneof![
            Just(None),
            (1u32..8).prop_map(|b| {
                let mut s = String::new();
                for (bit, c) in [(1, 'r'), (2, 'w'), (4, 'm')] {
                    if b & bit != 0 {
                        s.push(c);
                    }
                }
                Some(s)
            })
        ];
        (any::<bool>(), typ, num.clone(), num, access).prop_map(|(allow, t, ma, mi, acc)| {
            let mut d = LinuxDeviceCgroup::default();
            d.set_allow(allow);
            d.set_typ(t.map(|t| match t {
                "a" => LinuxDeviceType::A,
                "b" => LinuxDeviceType::B,
                _ => LinuxDeviceType::C,
            }));
            d.set_major(ma);
            d.set_minor(mi);
            d.set_access(acc);
            d
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn program_verdict_equals_rule_semantics(
            rs in proptest::collection::vec(arb_rule(), 0..8),
            block in any::<bool>(),
            major in prop_oneof![0u32..3, Just(3_000_000_000u32)],
            minor in prop_oneof![0u32..3, Just(3_000_000_000u32)],
            access in 0u32..8,
        ) {
            let typ = if block { DEV_BLOCK } else { DEV_CHAR };
            let f = DeviceFilter::compile(&rs).expect("compile");
            let got = run(f.instructions(), [(access << 16) | typ, major, minor]);
            let want = verdict(&rs, typ, major, minor, access).expect("verdict");
            prop_assert_eq!(got, Ok(u64::from(want)), "{}", f.disassemble());
            if f.allows_everything() {
                prop_assert!(want);
            }
        }
    }
}
