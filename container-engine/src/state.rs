//! On-disk container records: `containers/<id>/config.v2.json`, a lock per container,
//! a lock for the name space, lookup by name, id or unique id prefix.

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{FileLock, read_json, write_json};
use crate::model::ContainerRecord;
use std::path::{Path, PathBuf};

/// The directory of container records.
#[derive(Debug, Clone)]
pub struct ContainerStore {
    dir: PathBuf,
}

const RECORD: &str = "config.v2.json";

impl ContainerStore {
    /// Open (create) `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).ctx("create directory", dir)?;
        Ok(ContainerStore {
            dir: dir.to_path_buf(),
        })
    }

    /// Directory of one container.
    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Lock the name space (create, rename, remove take it).
    pub fn lock_names(&self) -> Result<FileLock> {
        FileLock::exclusive(&self.dir.join(".names.lock"))
    }

    /// Lock one container for a read-modify-write.
    pub fn lock(&self, id: &str) -> Result<FileLock> {
        FileLock::exclusive(&self.dir.join(format!(".{id}.lock")))
    }

    /// All container ids.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&self.dir).ctx("list", &self.dir)? {
            let entry = entry.ctx("list", &self.dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.len() == 64 && entry.path().join(RECORD).exists() {
                ids.push(name);
            }
        }
        Ok(ids)
    }

    /// Load every record (records that vanish meanwhile are skipped).
    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        let mut out = Vec::new();
        for id in self.ids()? {
            match self.load(&id) {
                Ok(r) => out.push(r),
                Err(Error::NoSuchContainer(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// Load one record by full id.
    pub fn load(&self, id: &str) -> Result<ContainerRecord> {
        let path = self.dir_of(id).join(RECORD);
        if !path.exists() {
            return Err(Error::NoSuchContainer(id.to_string()));
        }
        match read_json(&path) {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::NoSuchContainer(id.to_string()))
            }
            other => other,
        }
    }

    /// Save a record (atomically). The container's directory must exist: a record is
    /// never brought back by a late writer after the container was removed.
    pub fn save(&self, rec: &ContainerRecord) -> Result<()> {
        let dir = self.dir_of(&rec.id);
        if !dir.is_dir() {
            return Err(Error::NoSuchContainer(rec.id.clone()));
        }
        if rec.host_config.auto_remove {
            // a `--rm` container's record is gone when it stops: atomic for readers,
            // but not worth an fsync
            write_json_volatile(&dir.join(RECORD), rec)
        } else {
            write_json(&dir.join(RECORD), rec)
        }
    }

    /// Load, change and save a record under its lock; returns the new record.
    pub fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord> {
        let _lock = self.lock(id)?;
        let mut rec = self.load(id)?;
        f(&mut rec);
        self.save(&rec)?;
        Ok(rec)
    }

    /// Find the id of `name_or_id`: an exact name, a full id, or a unique id prefix.
    pub fn resolve(&self, name_or_id: &str) -> Result<String> {
        let key = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if key.is_empty() {
            return Err(Error::NoSuchContainer(name_or_id.to_string()));
        }
        // a full id: one stat instead of listing every container
        if key.len() == 64
            && key.bytes().all(|b| b.is_ascii_hexdigit())
            && self.dir_of(key).join(RECORD).exists()
        {
            return Ok(key.to_string());
        }
        let ids = self.ids()?;
        if ids.iter().any(|i| i == key) {
            return Ok(key.to_string());
        }
        for id in &ids {
            if self.name_of(id).as_deref() == Some(key) {
                return Ok(id.clone());
            }
        }
        let matches: Vec<&String> = ids.iter().filter(|i| i.starts_with(key)).collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::NoSuchContainer(name_or_id.to_string())),
            _ => Err(Error::Ambiguous(name_or_id.to_string())),
        }
    }

    /// The id holding `name`, if any.
    pub fn id_by_name(&self, name: &str) -> Result<Option<String>> {
        for id in self.ids()? {
            if self.name_of(&id).as_deref() == Some(name) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// The name (without its `/`) in a container's record, reading only that field: the
    /// lookups by name read every record, so they skip building the rest.
    fn name_of(&self, id: &str) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct NameOnly {
            #[serde(rename = "Name", default)]
            name: String,
        }
        let data = std::fs::read(self.dir_of(id).join(RECORD)).ok()?;
        let n: NameOnly = serde_json::from_slice(&data).ok()?;
        Some(n.name.strip_prefix('/').unwrap_or(&n.name).to_string())
    }

    /// Remove a container's directory.
    pub fn remove_dir(&self, id: &str) -> Result<()> {
        let dir = self.dir_of(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &dir, e)),
        }
        let _ = std::fs::remove_file(self.dir.join(format!(".{id}.lock")));
        Ok(())
    }
}

/// Start time (clock ticks after boot) of process `pid`, to tell it from a later process
/// that reuses the pid; None when there is no such process.
pub fn process_start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    // fields after the comm: state is field 3, starttime field 22 → index 19 here
    let fields: Vec<&str> = after.split(' ').collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Is `pid` alive and the same process that started at `start` (0: don't check)?
pub fn process_alive(pid: i32, start: u64) -> bool {
    match process_start_time(pid) {
        Some(s) => start == 0 || s == start,
        None => false,
    }
}

/// Block until process `pid` (which started at `start`, 0: don't check) is gone, or until
/// `timeout` (None: no limit) passes; true when it is gone. Waits on a pidfd (woken by
/// the exit itself, any process, not only children); where the kernel has no
/// `pidfd_open` it polls `/proc` with a short back-off instead.
pub fn wait_gone(pid: i32, start: u64, timeout: Option<std::time::Duration>) -> bool {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::{Duration, Instant};
    if pid <= 0 {
        return true;
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
            return true;
        }
        let mut sleep = Duration::from_millis(1);
        while process_alive(pid, start) {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            std::thread::sleep(sleep);
            sleep = (sleep * 2).min(Duration::from_millis(20));
        }
        return true;
    }
    // SAFETY: a fresh fd that we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // the pidfd names whatever process had the pid when it was opened: check it is ours
    if !process_alive(pid, start) {
        return true;
    }
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                left.as_millis().clamp(1, i32::MAX as u128) as i32
            }
        };
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one pollfd we own.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n > 0 {
            return true;
        }
        if n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return !process_alive(pid, start);
        }
    }
}

/// Write `value` as JSON to `path` by temp file and rename, without fsync: readers never
/// see a partial file, but a crash may lose the write. For state that is rebuilt or
/// removed anyway (a `--rm` container's record, the bundle's `config.json`).
pub(crate) fn write_json_volatile<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        source: e,
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    std::fs::write(&tmp, &data).ctx("write", &tmp)?;
    std::fs::rename(&tmp, path).ctx("rename into place", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_by_name_id_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = ContainerStore::open(dir.path()).expect("open");
        let a = ContainerRecord {
            id: format!("abc{}", "0".repeat(61)),
            name: "/web".into(),
            ..Default::default()
        };
        let b = ContainerRecord {
            id: format!("abd{}", "0".repeat(61)),
            name: "/db".into(),
            ..Default::default()
        };
        std::fs::create_dir_all(s.dir_of(&a.id)).expect("mkdir");
        std::fs::create_dir_all(s.dir_of(&b.id)).expect("mkdir");
        s.save(&a).expect("save");
        s.save(&b).expect("save");
        assert_eq!(s.resolve("web").expect("r"), a.id);
        assert_eq!(s.resolve("/db").expect("r"), b.id);
        assert_eq!(s.resolve("abc").expect("r"), a.id);
        assert!(matches!(s.resolve("ab"), Err(Error::Ambiguous(_))));
        assert!(matches!(s.resolve("zzz"), Err(Error::NoSuchContainer(_))));
        let r = s.update(&a.id, |r| r.restart_count = 3).expect("update");
        assert_eq!(r.restart_count, 3);
        assert_eq!(s.list().expect("list").len(), 2);
        s.remove_dir(&a.id).expect("rm");
        assert_eq!(s.list().expect("list").len(), 1);
    }

    #[test]
    fn wait_gone_blocks_until_the_exit() {
        use std::time::Duration;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        let st = process_start_time(pid).expect("start time");
        // alive: the wait times out
        assert!(!wait_gone(pid, st, Some(Duration::from_millis(50))));
        // a later process with that pid is not the one waited for
        assert!(wait_gone(pid, st + 1, Some(Duration::from_millis(50))));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            // SAFETY: kill of our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        assert!(wait_gone(pid, st, Some(Duration::from_secs(10))));
        killer.join().expect("join");
        child.wait().expect("reap");
        assert!(wait_gone(pid, st, Some(Duration::from_millis(1))));
    }

    #[test]
    fn own_process_is_alive() {
        let me = std::process::id() as i32;
        let st = process_start_time(me).expect("start");
        assert!(process_alive(me, st));
        assert!(!process_alive(me, st + 1));
    }
}
