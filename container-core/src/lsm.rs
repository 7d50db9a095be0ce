//! Linux security modules: `process.apparmorProfile` and `process.selinuxLabel`.
//!
//! [`LsmPlan::new`] runs in the parent: it checks that the host has the module a spec
//! asks for and prepares the bytes to write. A spec that asks for a profile or label the
//! host cannot enforce is refused with [`LsmError::NotEnabled`], which says so plainly
//! (silently running unconfined would be worse). `apparmorProfile: "unconfined"` is
//! accepted everywhere, since it asks for nothing.
//!
//! [`LsmPlan::apply`] runs in the child right before `execve`: it writes to
//! `/proc/thread-self/attr/…/exec`, so the label takes effect at the exec. The child must
//! still see the host's procfs at that moment (or the container's freshly mounted one,
//! which is the same kernel interface), not a path the container controls.

use std::ffi::CString;
use std::path::Path;

use nix::errno::Errno;

/// A Linux security module berth can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lsm {
    /// AppArmor (`apparmorProfile`).
    AppArmor,
    /// SELinux (`selinuxLabel`).
    SeLinux,
}

impl std::fmt::Display for Lsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lsm::AppArmor => "AppArmor",
            Lsm::SeLinux => "SELinux",
        })
    }
}

/// A spec asks for something the host cannot do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LsmError {
    /// The module is not enabled on this host.
    #[error(
        "{field} is {value:?} but {lsm} is not enabled on this host; remove {field} from the spec or enable {lsm}"
    )]
    NotEnabled {
        /// The module.
        lsm: Lsm,
        /// The spec field (`process.apparmorProfile` or `process.selinuxLabel`).
        field: &'static str,
        /// What the spec asked for.
        value: String,
    },
    /// The value cannot be written to the kernel (it holds a NUL byte).
    #[error("{field} {value:?} holds a NUL byte")]
    Invalid {
        /// The spec field.
        field: &'static str,
        /// The value.
        value: String,
    },
}

/// Writing the label in the child failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("setting the {lsm} exec label: {errno}")]
pub struct LsmApplyError {
    /// The module.
    pub lsm: Lsm,
    /// The kernel's error.
    pub errno: Errno,
}

/// True when AppArmor is enabled (module loaded and its securityfs present).
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
        && Path::new("/sys/kernel/security/apparmor").exists()
}

/// True when SELinux is enabled (selinuxfs mounted).
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// What the child writes before exec: (procfs file, contents) per module.
#[derive(Debug, Clone, Default)]
pub struct LsmPlan {
    apparmor: Option<(CString, CString)>,
    selinux: Option<(CString, CString)>,
}

impl LsmPlan {
    /// Check the spec's `apparmorProfile` and `selinuxLabel` against this host.
    pub fn new(
        apparmor_profile: Option<&str>,
        selinux_label: Option<&str>,
    ) -> Result<Self, LsmError> {
        Self::for_host(
            apparmor_profile,
            selinux_label,
            apparmor_enabled(),
            selinux_enabled(),
        )
    }

    /// [`LsmPlan::new`] with the host's modules given (for tests and dry runs).
    pub fn for_host(
        apparmor_profile: Option<&str>,
        selinux_label: Option<&str>,
        apparmor: bool,
        selinux: bool,
    ) -> Result<Self, LsmError> {
        let mut plan = LsmPlan::default();
        let cstring = |field: &'static str, value: String| {
            CString::new(value.clone()).map_err(|_| LsmError::Invalid { field, value })
        };
        match apparmor_profile.filter(|p| !p.is_empty()) {
            None => {}
            Some("unconfined") if !apparmor => {}
            Some(profile) if !apparmor => {
                return Err(LsmError::NotEnabled {
                    lsm: Lsm::AppArmor,
                    field: "process.apparmorProfile",
                    value: profile.to_string(),
                });
            }
            Some(profile) => {
                let file = if Path::new("/proc/thread-self/attr/apparmor/exec").exists() {
                    "/proc/thread-self/attr/apparmor/exec"
                } else {
                    "/proc/thread-self/attr/exec"
                };
                plan.apparmor = Some((
                    cstring("process.apparmorProfile", file.to_string())?,
                    cstring("process.apparmorProfile", format!("exec {profile}"))?,
                ));
            }
        }
        match selinux_label.filter(|l| !l.is_empty()) {
            None => {}
            Some(label) if !selinux => {
                return Err(LsmError::NotEnabled {
                    lsm: Lsm::SeLinux,
                    field: "process.selinuxLabel",
                    value: label.to_string(),
                });
            }
            Some(label) => {
                plan.selinux = Some((
                    cstring("process.selinuxLabel", "/proc/thread-self/attr/exec".into())?,
                    cstring("process.selinuxLabel", label.to_string())?,
                ));
            }
        }
        Ok(plan)
    }

    /// True when [`LsmPlan::apply`] has nothing to do.
    pub fn is_empty(&self) -> bool {
        self.apparmor.is_none() && self.selinux.is_none()
    }

    /// Set the exec labels (child, right before `execve`; no allocation).
    pub fn apply(&self) -> Result<(), LsmApplyError> {
        if let Some((file, data)) = &self.apparmor {
            write_attr(file, data).map_err(|errno| LsmApplyError {
                lsm: Lsm::AppArmor,
                errno,
            })?;
        }
        if let Some((file, data)) = &self.selinux {
            write_attr(file, data).map_err(|errno| LsmApplyError {
                lsm: Lsm::SeLinux,
                errno,
            })?;
        }
        Ok(())
    }
}

fn write_attr(file: &CString, data: &CString) -> Result<(), Errno> {
    // SAFETY: a valid NUL-terminated path; the fd is closed below.
    let fd = unsafe { libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    let bytes = data.as_bytes();
    // SAFETY: writes `bytes.len()` bytes from a live buffer to the fd opened above.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    let result = if n < 0 { Err(Errno::last()) } else { Ok(()) };
    // SAFETY: closes the fd opened above, once.
    unsafe { libc::close(fd) };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_without_apparmor_is_reported_clearly() {
        let err = LsmPlan::for_host(Some("docker-default"), None, false, false)
            .expect_err("must be refused");
        let msg = err.to_string();
        assert!(msg.contains("AppArmor is not enabled"), "{msg}");
        assert!(msg.contains("docker-default"), "{msg}");
    }

    #[test]
    fn a_label_without_selinux_is_reported_clearly() {
        let err = LsmPlan::for_host(None, Some("system_u:system_r:container_t:s0"), true, false)
            .expect_err("must be refused");
        assert!(matches!(
            err,
            LsmError::NotEnabled {
                lsm: Lsm::SeLinux,
                ..
            }
        ));
        assert!(err.to_string().contains("process.selinuxLabel"));
    }

    #[test]
    fn unconfined_and_empty_ask_for_nothing() {
        let plan = LsmPlan::for_host(Some("unconfined"), Some(""), false, false).expect("ok");
        assert!(plan.is_empty());
        plan.apply().expect("nothing to apply");
        let plan = LsmPlan::for_host(None, None, false, false).expect("ok");
        assert!(plan.is_empty());
    }

    #[test]
    fn an_enabled_module_gets_a_plan() {
        let plan = LsmPlan::for_host(Some("my-profile"), None, true, false).expect("ok");
        assert!(!plan.is_empty());
        let (_, data) = plan.apparmor.as_ref().expect("apparmor planned");
        assert_eq!(data.to_str().expect("utf8"), "exec my-profile");
        assert!(matches!(
            LsmPlan::for_host(Some("a\0b"), None, true, false),
            Err(LsmError::Invalid { .. })
        ));
    }

    #[test]
    fn host_detection_matches_this_machine() {
        // The answers must agree with the files they are derived from.
        assert_eq!(
            selinux_enabled(),
            Path::new("/sys/fs/selinux/enforce").exists()
        );
        if !Path::new("/sys/module/apparmor").exists() {
            assert!(!apparmor_enabled());
        }
    }
}
