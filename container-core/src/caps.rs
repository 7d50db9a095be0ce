//! Capabilities: the five sets of `process.capabilities`, applied in the child.
//!
//! As with seccomp, the parent does the thinking and the child only makes system calls:
//! [`CapsPlan::new`] turns the spec's sets into bit masks (and reads which capabilities the
//! running kernel knows), and the child calls, in this order:
//!
//! 1. [`CapsPlan::drop_bounding`] while still root with full capabilities (dropping from
//!    the bounding set needs `CAP_SETPCAP`);
//! 2. [`keep_caps_on_setuid`] before `setuid`/`setgid` to a non-root user, so the permitted
//!    set survives the change of user;
//! 3. [`CapsPlan::apply_final`] after the change of user: `capset` of effective, permitted
//!    and inheritable, then the ambient set, then [`clear_keep_caps`].
//!
//! The child functions are raw `prctl`/`capset` calls on precomputed masks: no allocation,
//! so they are safe after `fork`. Inheritable and ambient are set to exactly what the spec
//! lists and never more; an ambient capability the kernel would refuse (not in both
//! permitted and inheritable) is left out and reported by [`CapsPlan::ignored_ambient`].
//!
//! ```
//! use container_core::caps;
//! let spec = caps::docker_default_linux_capabilities();
//! let plan = caps::CapsPlan::with_last_cap(&spec, 40).expect("valid sets");
//! assert_eq!(plan.effective(), 0xa80425fb); // Docker's CapEff
//! ```

use nix::errno::Errno;
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

/// `_LINUX_CAPABILITY_VERSION_3`.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Docker's default capabilities: the 14 a `docker run` container gets.
pub fn docker_default() -> Vec<Capability> {
    vec![
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fsetid,
        Capability::Fowner,
        Capability::Mknod,
        Capability::NetRaw,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::SysChroot,
        Capability::Kill,
        Capability::AuditWrite,
    ]
}

/// `process.capabilities` as Docker sets it: bounding, effective and permitted hold
/// [`docker_default`]; inheritable and ambient are empty.
pub fn docker_default_linux_capabilities() -> LinuxCapabilities {
    let set: Capabilities = docker_default().into_iter().collect();
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    caps.set_inheritable(Some(Capabilities::new()));
    caps.set_ambient(Some(Capabilities::new()));
    caps
}

/// The kernel's number for a capability (`CAP_CHOWN` is 0, …, `CAP_CHECKPOINT_RESTORE` 40).
pub fn number(cap: Capability) -> u32 {
    match cap {
        Capability::Chown => 0,
        Capability::DacOverride => 1,
        Capability::DacReadSearch => 2,
        Capability::Fowner => 3,
        Capability::Fsetid => 4,
        Capability::Kill => 5,
        Capability::Setgid => 6,
        Capability::Setuid => 7,
        Capability::Setpcap => 8,
        Capability::LinuxImmutable => 9,
        Capability::NetBindService => 10,
        Capability::NetBroadcast => 11,
        Capability::NetAdmin => 12,
        Capability::NetRaw => 13,
        Capability::IpcLock => 14,
        Capability::IpcOwner => 15,
        Capability::SysModule => 16,
        Capability::SysRawio => 17,
        Capability::SysChroot => 18,
        Capability::SysPtrace => 19,
        Capability::SysPacct => 20,
        Capability::SysAdmin => 21,
        Capability::SysBoot => 22,
        Capability::SysNice => 23,
        Capability::SysResource => 24,
        Capability::SysTime => 25,
        Capability::SysTtyConfig => 26,
        Capability::Mknod => 27,
        Capability::Lease => 28,
        Capability::AuditWrite => 29,
        Capability::AuditControl => 30,
        Capability::Setfcap => 31,
        Capability::MacOverride => 32,
        Capability::MacAdmin => 33,
        Capability::Syslog => 34,
        Capability::WakeAlarm => 35,
        Capability::BlockSuspend => 36,
        Capability::AuditRead => 37,
        Capability::Perfmon => 38,
        Capability::Bpf => 39,
        Capability::CheckpointRestore => 40,
    }
}

/// `process.capabilities` with every set empty (`LinuxCapabilities::default()` is not
/// empty: oci-spec fills in a few capabilities).
pub fn empty() -> LinuxCapabilities {
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(Capabilities::new()));
    caps.set_effective(Some(Capabilities::new()));
    caps.set_permitted(Some(Capabilities::new()));
    caps.set_inheritable(Some(Capabilities::new()));
    caps.set_ambient(Some(Capabilities::new()));
    caps
}

/// The highest capability number the running kernel knows (`/proc/sys/kernel/cap_last_cap`).
pub fn last_cap() -> Result<u32, CapsError> {
    let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .map_err(|e| CapsError::LastCap(e.to_string()))?;
    text.trim()
        .parse()
        .map_err(|e| CapsError::LastCap(format!("{:?}: {e}", text.trim())))
}

/// The spec's capability sets are inconsistent, or the kernel could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapsError {
    /// A capability is effective without being permitted: `capset` would refuse it.
    #[error("capabilities: {cap} is in effective but not in permitted")]
    EffectiveNotPermitted {
        /// The capability, as written in specs (`CAP_…`).
        cap: String,
    },
    /// `/proc/sys/kernel/cap_last_cap` could not be read.
    #[error("capabilities: reading /proc/sys/kernel/cap_last_cap: {0}")]
    LastCap(String),
}

/// A capability system call failed in the child. Plain data, built without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("capabilities: {step}{}: {errno}", cap_suffix(*.cap))]
pub struct CapsApplyError {
    /// What was being done (`"drop from the bounding set"`, `"capset"`, …).
    pub step: &'static str,
    /// The capability number involved, if one.
    pub cap: Option<u32>,
    /// The kernel's error.
    pub errno: Errno,
}

fn cap_suffix(cap: Option<u32>) -> String {
    cap.map(|c| format!(" of capability {c}"))
        .unwrap_or_default()
}

/// The capability sets of a spec as masks, ready for the child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapsPlan {
    bounding: u64,
    effective: u64,
    permitted: u64,
    inheritable: u64,
    ambient: u64,
    last_cap: u32,
    unsupported: Vec<Capability>,
    ignored_ambient: Vec<Capability>,
}

impl CapsPlan {
    /// Build the plan for `spec` on the running kernel. An absent set means an empty one.
    pub fn new(spec: &LinuxCapabilities) -> Result<Self, CapsError> {
        Self::with_last_cap(spec, last_cap()?)
    }

    /// Build the plan for a kernel whose highest capability is `last_cap`. Capabilities
    /// above it are left out (the kernel cannot grant them) and listed by
    /// [`CapsPlan::unsupported`].
    pub fn with_last_cap(spec: &LinuxCapabilities, last_cap: u32) -> Result<Self, CapsError> {
        let last_cap = last_cap.min(63);
        let mut unsupported = Vec::new();
        let mut mask = |set: &Option<Capabilities>| -> u64 {
            let mut m = 0u64;
            for cap in set.iter().flatten() {
                let n = number(*cap);
                if n > last_cap {
                    if !unsupported.contains(cap) {
                        unsupported.push(*cap);
                    }
                } else {
                    m |= 1 << n;
                }
            }
            m
        };
        let bounding = mask(spec.bounding());
        let effective = mask(spec.effective());
        let permitted = mask(spec.permitted());
        let inheritable = mask(spec.inheritable());
        let requested_ambient = mask(spec.ambient());
        unsupported.sort_by_key(|c| number(*c));
        if let Some(cap) = spec
            .effective()
            .iter()
            .flatten()
            .find(|c| number(**c) <= last_cap && permitted & (1 << number(**c)) == 0)
        {
            return Err(CapsError::EffectiveNotPermitted {
                cap: format!("CAP_{cap}"),
            });
        }
        // The kernel raises an ambient capability only if it is permitted and inheritable.
        let ambient = requested_ambient & permitted & inheritable;
        let mut ignored_ambient: Vec<Capability> = spec
            .ambient()
            .iter()
            .flatten()
            .filter(|c| {
                let n = number(**c);
                n <= last_cap && ambient & (1 << n) == 0
            })
            .copied()
            .collect();
        ignored_ambient.sort_by_key(|c| number(*c));
        Ok(CapsPlan {
            bounding,
            effective,
            permitted,
            inheritable,
            ambient,
            last_cap,
            unsupported,
            ignored_ambient,
        })
    }

    /// The bounding set as a mask (bit N = capability N, as in `/proc/<pid>/status`).
    pub fn bounding(&self) -> u64 {
        self.bounding
    }

    /// The effective set as a mask: what `CapEff` shows for a process that keeps it.
    pub fn effective(&self) -> u64 {
        self.effective
    }

    /// The permitted set as a mask.
    pub fn permitted(&self) -> u64 {
        self.permitted
    }

    /// The inheritable set as a mask.
    pub fn inheritable(&self) -> u64 {
        self.inheritable
    }

    /// The ambient set that will be raised, as a mask.
    pub fn ambient(&self) -> u64 {
        self.ambient
    }

    /// Capabilities the spec lists that the running kernel does not know (left out).
    pub fn unsupported(&self) -> &[Capability] {
        &self.unsupported
    }

    /// Ambient capabilities left out because they are not both permitted and inheritable.
    pub fn ignored_ambient(&self) -> &[Capability] {
        &self.ignored_ambient
    }

    /// Drop every capability outside the bounding set from the calling process's bounding
    /// set (needs `CAP_SETPCAP`; call before changing user).
    pub fn drop_bounding(&self) -> Result<(), CapsApplyError> {
        for cap in 0..=self.last_cap {
            if self.bounding & (1 << cap) != 0 {
                continue;
            }
            // SAFETY: prctl with integer arguments only.
            let rc = unsafe {
                libc::prctl(
                    libc::PR_CAPBSET_DROP,
                    libc::c_ulong::from(cap),
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            };
            if rc < 0 {
                let errno = Errno::last();
                // EINVAL: the kernel does not know this capability; nothing to drop.
                if errno != Errno::EINVAL {
                    return Err(CapsApplyError {
                        step: "drop from the bounding set",
                        cap: Some(cap),
                        errno,
                    });
                }
            }
        }
        Ok(())
    }

    /// Set effective, permitted and inheritable to the spec's sets, then the ambient set.
    /// Call after the change of user (see [`keep_caps_on_setuid`]).
    pub fn apply_final(&self) -> Result<(), CapsApplyError> {
        capset(self.effective, self.permitted, self.inheritable)?;
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        // EINVAL: a kernel without ambient capabilities, which is fine when none are asked.
        if rc < 0 && (Errno::last() != Errno::EINVAL || self.ambient != 0) {
            return Err(CapsApplyError {
                step: "clear the ambient set",
                cap: None,
                errno: Errno::last(),
            });
        }
        for cap in 0..=self.last_cap {
            if self.ambient & (1 << cap) == 0 {
                continue;
            }
            // SAFETY: prctl with integer arguments only.
            let rc = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    libc::c_ulong::from(cap),
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            };
            if rc < 0 {
                return Err(CapsApplyError {
                    step: "raise in the ambient set",
                    cap: Some(cap),
                    errno: Errno::last(),
                });
            }
        }
        Ok(())
    }
}

fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<(), CapsApplyError> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        Data {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        Data {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and data are valid, properly laid out _LINUX_CAPABILITY_VERSION_3
    // structures that live across the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    if rc < 0 {
        return Err(CapsApplyError {
            step: "capset",
            cap: None,
            errno: Errno::last(),
        });
    }
    Ok(())
}

fn prctl_flag(
    option: libc::c_int,
    value: libc::c_ulong,
    step: &'static str,
) -> Result<(), CapsApplyError> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe {
        libc::prctl(
            option,
            value,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if rc < 0 {
        return Err(CapsApplyError {
            step,
            cap: None,
            errno: Errno::last(),
        });
    }
    Ok(())
}

/// `prctl(PR_SET_KEEPCAPS, 1)`: keep the permitted set across `setuid` to a non-root user.
pub fn keep_caps_on_setuid() -> Result<(), CapsApplyError> {
    prctl_flag(libc::PR_SET_KEEPCAPS, 1, "set PR_SET_KEEPCAPS")
}

/// `prctl(PR_SET_KEEPCAPS, 0)`: undo [`keep_caps_on_setuid`] once the user is changed.
pub fn clear_keep_caps() -> Result<(), CapsApplyError> {
    prctl_flag(libc::PR_SET_KEEPCAPS, 0, "clear PR_SET_KEEPCAPS")
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`, for `process.noNewPrivileges` (set it before loading
/// a seccomp filter as a process without `CAP_SYS_ADMIN`).
pub fn set_no_new_privs() -> Result<(), CapsApplyError> {
    prctl_flag(libc::PR_SET_NO_NEW_PRIVS, 1, "set PR_SET_NO_NEW_PRIVS")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(caps: &[Capability]) -> Option<Capabilities> {
        Some(caps.iter().copied().collect())
    }

    #[test]
    fn empty_is_empty() {
        let plan = CapsPlan::with_last_cap(&empty(), 40).expect("valid");
        assert_eq!(
            (
                plan.bounding(),
                plan.effective(),
                plan.permitted(),
                plan.ambient()
            ),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn docker_default_masks_match_docker_capeff() {
        let plan = CapsPlan::with_last_cap(&docker_default_linux_capabilities(), 40)
            .expect("docker default is consistent");
        assert_eq!(plan.effective(), 0xa80425fb);
        assert_eq!(plan.bounding(), 0xa80425fb);
        assert_eq!(plan.permitted(), 0xa80425fb);
        assert_eq!(plan.inheritable(), 0);
        assert_eq!(plan.ambient(), 0);
        assert_eq!(docker_default().len(), 14);
    }

    #[test]
    fn effective_outside_permitted_is_refused() {
        let mut spec = empty();
        spec.set_effective(set(&[Capability::Chown, Capability::SysAdmin]));
        spec.set_permitted(set(&[Capability::Chown]));
        let err = CapsPlan::with_last_cap(&spec, 40).expect_err("must be refused");
        assert_eq!(
            err,
            CapsError::EffectiveNotPermitted {
                cap: "CAP_SYS_ADMIN".into()
            }
        );
        assert!(err.to_string().contains("CAP_SYS_ADMIN"));
    }

    #[test]
    fn ambient_never_exceeds_permitted_and_inheritable() {
        let mut spec = empty();
        spec.set_permitted(set(&[Capability::Chown, Capability::Kill]));
        spec.set_inheritable(set(&[Capability::Kill]));
        spec.set_ambient(set(&[Capability::Chown, Capability::Kill]));
        let plan = CapsPlan::with_last_cap(&spec, 40).expect("valid");
        assert_eq!(plan.ambient(), 1 << 5);
        assert_eq!(plan.ignored_ambient(), &[Capability::Chown]);
        assert_eq!(plan.inheritable(), 1 << 5);
    }

    #[test]
    fn capabilities_unknown_to_the_kernel_are_left_out() {
        let mut spec = empty();
        spec.set_bounding(set(&[Capability::Chown, Capability::CheckpointRestore]));
        let plan = CapsPlan::with_last_cap(&spec, 37).expect("valid");
        assert_eq!(plan.bounding(), 1);
        assert_eq!(plan.unsupported(), &[Capability::CheckpointRestore]);
    }

    #[test]
    fn numbers_are_distinct_and_dense() {
        let all = [
            Capability::AuditControl,
            Capability::AuditRead,
            Capability::AuditWrite,
            Capability::BlockSuspend,
            Capability::Bpf,
            Capability::CheckpointRestore,
            Capability::Chown,
            Capability::DacOverride,
            Capability::DacReadSearch,
            Capability::Fowner,
            Capability::Fsetid,
            Capability::IpcLock,
            Capability::IpcOwner,
            Capability::Kill,
            Capability::Lease,
            Capability::LinuxImmutable,
            Capability::MacAdmin,
            Capability::MacOverride,
            Capability::Mknod,
            Capability::NetAdmin,
            Capability::NetBindService,
            Capability::NetBroadcast,
            Capability::NetRaw,
            Capability::Perfmon,
            Capability::Setgid,
            Capability::Setfcap,
            Capability::Setpcap,
            Capability::Setuid,
            Capability::SysAdmin,
            Capability::SysBoot,
            Capability::SysChroot,
            Capability::SysModule,
            Capability::SysNice,
            Capability::SysPacct,
            Capability::SysPtrace,
            Capability::SysRawio,
            Capability::SysResource,
            Capability::SysTime,
            Capability::SysTtyConfig,
            Capability::Syslog,
            Capability::WakeAlarm,
        ];
        let mut nums: Vec<u32> = all.iter().map(|c| number(*c)).collect();
        nums.sort_unstable();
        assert_eq!(nums, (0..=40).collect::<Vec<u32>>());
        // Cross-check a few against the `caps` crate's table.
        for cap in all {
            let name = format!("CAP_{cap}");
            let theirs: caps::Capability = name.parse().expect("caps knows the name");
            assert_eq!(u32::from(theirs.index()), number(cap), "{name}");
        }
    }

    #[test]
    fn last_cap_reads_the_kernel() {
        let n = last_cap().expect("cap_last_cap is readable");
        assert!((37..64).contains(&n), "{n}");
    }
}
