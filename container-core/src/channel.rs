//! The sync socket between the runtime and the container's init: typed messages
//! (JSON over a `SOCK_SEQPACKET` socketpair, one message per packet) with an optional
//! file descriptor (SCM_RIGHTS) for the console master and the seccomp listener.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, sendmsg,
};
use serde::{Deserialize, Serialize};

use crate::error::{ChildError, ChildErrorKind};

/// Messages on the sync socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Msg {
    /// intermediate -> parent: pid of the container's init (host pid namespace).
    InitPid(i32),
    /// parent -> init: cgroup joined, id maps written; go on. Carries the OCI state
    /// JSON for the hooks run inside the container.
    Go(String),
    /// init -> parent: mounts done, run the prestart/createRuntime hooks now.
    RunHooks,
    /// parent -> init: hooks ran.
    HooksDone,
    /// init -> parent: the pty master (fd attached).
    Console,
    /// init -> parent: the seccomp notify listener (fd attached).
    SeccompFd,
    /// init -> parent: set up, waiting for start (or: exec'd process about to execve).
    Created,
    /// child -> parent: setup failed.
    Error(ChildError),
}

/// One end of the sync socket.
pub(crate) struct Channel {
    fd: OwnedFd,
}

/// A connected pair (parent end, child end), close-on-exec.
pub(crate) fn pair() -> Result<(Channel, Channel), Errno> {
    let (a, b) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Send `msg`, with `fd` attached when given.
    pub(crate) fn send(&self, msg: &Msg, fd: Option<RawFd>) -> Result<(), Errno> {
        let data = serde_json::to_vec(msg).map_err(|_| Errno::EINVAL)?;
        let iov = [IoSlice::new(&data)];
        let fds;
        let cmsgs: &[ControlMessage] = match fd {
            Some(f) => {
                fds = [f];
                &[ControlMessage::ScmRights(&fds)]
            }
            None => &[],
        };
        loop {
            match sendmsg::<()>(
                self.fd.as_raw_fd(),
                &iov,
                cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Err(Errno::EINTR) => continue,
                r => return r.map(drop),
            }
        }
    }

    /// Receive one message; `Err(EPIPE)` when the other side closed.
    pub(crate) fn recv(&self) -> Result<(Msg, Option<OwnedFd>), Errno> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
                Ok(m) => {
                    let mut fd = None;
                    if let Ok(iter) = m.cmsgs() {
                        for c in iter {
                            if let ControlMessageOwned::ScmRights(fds) = c {
                                for f in fds {
                                    // SAFETY: received fds are ours.
                                    let owned = unsafe { OwnedFd::from_raw_fd(f) };
                                    if fd.is_none() {
                                        fd = Some(owned);
                                    }
                                }
                            }
                        }
                    }
                    break (m.bytes, fd);
                }
            }
        };
        if len == 0 {
            return Err(Errno::EPIPE);
        }
        let msg = serde_json::from_slice(&buf[..len]).map_err(|_| Errno::EBADMSG)?;
        Ok((msg, fd))
    }

    /// Child side: wait for `want`, turning anything else into a protocol error.
    pub(crate) fn expect(&self, stage: &str, want: fn(&Msg) -> bool) -> Result<(), ChildError> {
        match self.recv() {
            Ok((m, _)) if want(&m) => Ok(()),
            Ok((m, _)) => Err(ChildError::other(
                stage,
                format!("unexpected message {m:?}"),
                ChildErrorKind::Protocol,
            )),
            Err(e) => Err(ChildError::sys(stage, "read sync socket", e)),
        }
    }
}

/// Send `fd` to the unix socket at `path` (runc's `--console-socket` protocol: the
/// payload is a name, the fd rides in SCM_RIGHTS).
pub(crate) fn send_fd_to_socket(
    path: &std::path::Path,
    fd: RawFd,
    payload: &[u8],
) -> std::io::Result<()> {
    let stream = std::os::unix::net::UnixStream::connect(path)?;
    let iov = [IoSlice::new(payload)];
    let fds = [fd];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(std::io::Error::from)?;
    Ok(())
}
