//! Thin wrappers over the raw system calls the container setup needs.
//!
//! These run in the forked child as well as in the parent, so they avoid locks and keep
//! allocation to the `CString`s the caller hands in.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;

/// Turn a `-1` return into the errno.
pub(crate) fn cvt(ret: libc::c_int) -> Result<libc::c_int, Errno> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// Same as [`cvt`] for `syscall(2)` results.
pub(crate) fn cvt_long(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// A path as a C string (paths with NUL bytes are refused with EINVAL).
pub(crate) fn cpath(path: &Path) -> Result<CString, Errno> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// `/proc/self/fd/<fd>`: lets a mount target or source be an fd resolved safely before.
pub(crate) fn fd_path(fd: RawFd) -> CString {
    // Digits only: cannot contain NUL.
    CString::new(format!("/proc/self/fd/{fd}")).unwrap_or_default()
}

/// mount(2).
pub(crate) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: MsFlags,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    let p = |c: Option<&CStr>| c.map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is a valid NUL-terminated string or null.
    cvt(unsafe {
        libc::mount(
            p(source),
            target.as_ptr(),
            p(fstype),
            flags.bits(),
            p(data).cast(),
        )
    })
    .map(drop)
}

/// Mark every fd from `first` up as close-on-exec (CVE-2024-21626: nothing of the host
/// reaches the container's program).
pub(crate) fn cloexec_from(first: RawFd) -> Result<(), Errno> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with CLOEXEC only changes fd flags.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    })
    .map(drop)
}

/// Close every fd except those in `keep` (sorted by the callee) and 0..`low`.
pub(crate) fn close_all_except(low: RawFd, keep: &mut [RawFd]) {
    keep.sort_unstable();
    let mut next = low;
    for &fd in keep.iter() {
        if fd < next {
            continue;
        }
        if fd > next {
            // SAFETY: closing fds this (forked, single-threaded) process does not use.
            unsafe {
                libc::syscall(
                    libc::SYS_close_range,
                    next as libc::c_uint,
                    (fd - 1) as libc::c_uint,
                    0 as libc::c_uint,
                )
            };
        }
        next = fd + 1;
    }
    // SAFETY: as above.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            next as libc::c_uint,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        )
    };
}

/// Clear close-on-exec on `fd`.
pub(crate) fn clear_cloexec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: fcntl on an fd number; fails with EBADF if not open.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) }).map(drop)
}

/// dup `fd` to a number >= `min`, close-on-exec.
pub(crate) fn dup_above(fd: RawFd, min: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new fd we own.
    let n = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: n is a fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// dup2(2).
pub(crate) fn dup2(from: RawFd, to: RawFd) -> Result<(), Errno> {
    // SAFETY: plain dup2.
    cvt(unsafe { libc::dup2(from, to) }).map(drop)
}

/// open(2) returning an OwnedFd.
pub(crate) fn open(path: &CStr, flags: libc::c_int, mode: libc::mode_t) -> Result<OwnedFd, Errno> {
    // SAFETY: path is NUL-terminated.
    let fd = cvt(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    // SAFETY: fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Write all of `data` to `fd`.
pub(crate) fn write_all(fd: RawFd, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        // SAFETY: data is a valid buffer.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = Errno::last();
            if e == Errno::EINTR {
                continue;
            }
            return Err(e);
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// `statfs` magic number of the file system `fd` is on.
pub(crate) fn fs_magic(fd: &OwnedFd) -> Result<i64, Errno> {
    // SAFETY: zeroed statfs is a valid out buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and buffer.
    cvt(unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) })?;
    Ok(st.f_type as i64)
}

/// Mount flags that are locked on a mount (nosuid, nodev, noexec, ro, atime) as MsFlags,
/// read with fstatvfs: a remount must keep them or fail with EPERM in a user namespace.
pub(crate) fn locked_flags(fd: RawFd) -> Result<MsFlags, Errno> {
    // SAFETY: zeroed statvfs is a valid out buffer.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and buffer.
    cvt(unsafe { libc::fstatvfs(fd, &mut st) })?;
    let mut f = MsFlags::empty();
    let m = st.f_flag;
    for (st_flag, ms) in [
        (libc::ST_NOSUID, MsFlags::MS_NOSUID),
        (libc::ST_NODEV, MsFlags::MS_NODEV),
        (libc::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (libc::ST_NOATIME, MsFlags::MS_NOATIME),
        (libc::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (libc::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if m & st_flag != 0 {
            f |= ms;
        }
    }
    Ok(f)
}

/// Start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat), and its
/// state letter. None when the process does not exist.
pub(crate) fn proc_stat(pid: i32) -> Option<(u64, char, i32)> {
    let data = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let text = String::from_utf8_lossy(&data);
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    // after ")" the fields are 3.., start time is field 22 -> index 22-3 = 19 from state.
    let start = after.split_whitespace().nth(19)?.parse().ok()?;
    Some((start, state, ppid))
}
