//! An image from host executables: the programs plus the shared libraries their ELF
//! headers ask for (`PT_INTERP`, `DT_NEEDED`), found the way `ld.so` finds them
//! (`DT_RPATH` unless `DT_RUNPATH`, then `DT_RUNPATH`, `/etc/ld.so.conf`, the default
//! multiarch directories), so a host program runs in a container with no base image.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use object::read::elf::{Dyn, FileHeader, ProgramHeader};

use crate::diff::{DiffOptions, create_layer};
use crate::error::{Error, IoContext, Result};
use crate::image::{HistoryItem, Image, ImageConfig};
use crate::store::Store;

/// What an ELF file needs from the dynamic loader.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ElfDeps {
    /// `PT_INTERP` (the dynamic loader).
    pub interpreter: Option<String>,
    /// `DT_NEEDED` sonames.
    pub needed: Vec<String>,
    /// `DT_RPATH` entries.
    pub rpath: Vec<String>,
    /// `DT_RUNPATH` entries.
    pub runpath: Vec<String>,
    /// True for 64-bit ELF.
    pub is_64: bool,
}

/// Read the dynamic dependencies of an ELF file (`Ok(None)`: not ELF).
pub fn elf_deps(data: &[u8], path: &Path) -> Result<Option<ElfDeps>> {
    let bad = |e: object::read::Error| Error::HostBinary {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    match object::FileKind::parse(data) {
        Ok(object::FileKind::Elf64) => {
            parse::<object::elf::FileHeader64<object::Endianness>>(data, true)
                .map(Some)
                .map_err(bad)
        }
        Ok(object::FileKind::Elf32) => {
            parse::<object::elf::FileHeader32<object::Endianness>>(data, false)
                .map(Some)
                .map_err(bad)
        }
        _ => Ok(None),
    }
}

fn parse<H: FileHeader<Endian = object::Endianness>>(
    data: &[u8],
    is_64: bool,
) -> object::read::Result<ElfDeps> {
    let h = H::parse(data)?;
    let endian = h.endian()?;
    let mut out = ElfDeps {
        is_64,
        ..Default::default()
    };
    for ph in h.program_headers(endian, data)? {
        if let Some(i) = ph.interpreter(endian, data)? {
            out.interpreter = Some(String::from_utf8_lossy(i).into_owned());
        }
    }
    let sections = h.sections(endian, data)?;
    if let Some((dyns, link)) = sections.dynamic(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        for d in dyns {
            let Some(tag) = d.tag32(endian) else { continue };
            if !d.is_string(endian) {
                continue;
            }
            let s = String::from_utf8_lossy(d.string(endian, strings)?).into_owned();
            match tag {
                object::elf::DT_NEEDED => out.needed.push(s),
                object::elf::DT_RPATH => out.rpath.extend(s.split(':').map(String::from)),
                object::elf::DT_RUNPATH => out.runpath.extend(s.split(':').map(String::from)),
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Directories `ld.so` searches after the run paths: `/etc/ld.so.conf` (with its
/// `include`s) and the default multiarch and plain library directories.
pub fn system_library_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    read_ld_conf(Path::new("/etc/ld.so.conf"), &mut dirs, 0);
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        other => other,
    };
    for d in [
        format!("/lib/{arch}"),
        format!("/usr/lib/{arch}"),
        "/lib64".to_string(),
        "/usr/lib64".to_string(),
        "/lib".to_string(),
        "/usr/lib".to_string(),
    ] {
        let p = PathBuf::from(d);
        if !dirs.contains(&p) {
            dirs.push(p);
        }
    }
    dirs
}

fn read_ld_conf(path: &Path, dirs: &mut Vec<PathBuf>, depth: u32) {
    if depth > 4 {
        return;
    }
    let Ok(text) = fs::read_to_string(path) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line.strip_prefix("include") {
            let pattern = pattern.trim();
            let pattern = if pattern.starts_with('/') {
                pattern.to_string()
            } else {
                format!("/etc/{pattern}")
            };
            if let Ok(paths) = glob::glob(&pattern) {
                let mut paths: Vec<PathBuf> = paths.filter_map(|p| p.ok()).collect();
                paths.sort();
                for p in paths {
                    read_ld_conf(&p, dirs, depth + 1);
                }
            }
        } else if line.starts_with('/') {
            let p = PathBuf::from(line);
            if !dirs.contains(&p) {
                dirs.push(p);
            }
        }
    }
}

/// Every file (absolute host path) a set of executables needs: themselves, their
/// loader, and their libraries, transitively.
pub fn closure(executables: &[PathBuf]) -> Result<BTreeSet<PathBuf>> {
    let system = system_library_dirs();
    let mut out = BTreeSet::new();
    let mut queue: Vec<PathBuf> = executables.to_vec();
    while let Some(path) = queue.pop() {
        if !out.insert(path.clone()) {
            continue;
        }
        let data = fs::read(&path).ctx("read host binary", &path)?;
        let Some(deps) = elf_deps(&data, &path)? else {
            continue; // a script or data file: carried as is
        };
        if let Some(i) = &deps.interpreter {
            queue.push(PathBuf::from(i));
        }
        let origin = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let expand = |d: &String| {
            PathBuf::from(
                d.replace("$ORIGIN", &origin.to_string_lossy())
                    .replace("${ORIGIN}", &origin.to_string_lossy()),
            )
        };
        let mut search: Vec<PathBuf> = Vec::new();
        if deps.runpath.is_empty() {
            search.extend(deps.rpath.iter().map(expand));
        }
        search.extend(deps.runpath.iter().map(expand));
        search.extend(system.iter().cloned());
        for soname in &deps.needed {
            if soname.contains('/') {
                queue.push(origin.join(soname));
                continue;
            }
            let found = search.iter().map(|d| d.join(soname)).find(|c| {
                fs::read(c)
                    .ok()
                    .and_then(|d| elf_deps(&d, c).ok().flatten())
                    .is_some_and(|d| d.is_64 == deps.is_64)
            });
            match found {
                Some(f) => queue.push(f),
                None => {
                    return Err(Error::HostBinary {
                        path: path.clone(),
                        reason: format!("needed library {soname} not found in {search:?}"),
                    });
                }
            }
        }
    }
    Ok(out)
}

impl Store {
    /// Build a minimal image holding the host executables `paths` and every shared
    /// library they need, name it `reference`, and return it. Its `Cmd` is the first
    /// executable; it also has `/etc/passwd`, `/etc/group`, `/tmp` and empty
    /// `/dev`, `/proc`, `/sys`.
    pub fn import_host_binaries(
        &self,
        reference: &str,
        paths: &[impl AsRef<Path>],
    ) -> Result<Image> {
        crate::Reference::parse(reference)?;
        let mut exes = Vec::new();
        for p in paths {
            let p = p.as_ref();
            let abs = if p.is_absolute() {
                p.to_path_buf()
            } else {
                find_in_path(p).ok_or_else(|| Error::HostBinary {
                    path: p.to_path_buf(),
                    reason: "not found on PATH".into(),
                })?
            };
            exes.push(abs);
        }
        if exes.is_empty() {
            return Err(Error::HostBinary {
                path: PathBuf::new(),
                reason: "no executables given".into(),
            });
        }
        let files = closure(&exes)?;
        let tmp_root = self.root().join("tmp");
        fs::create_dir_all(&tmp_root).ctx("create directory", &tmp_root)?;
        let stage = tempfile::Builder::new()
            .prefix("hostbin-")
            .tempdir_in(&tmp_root)
            .ctx("create staging directory", &tmp_root)?;
        let root = stage.path();
        for f in &files {
            let rel = f.strip_prefix("/").unwrap_or(f);
            let dst = root.join(rel);
            if let Some(parent) = dst.parent() {
                fs::create_dir_all(parent).ctx("create directory", parent)?;
            }
            fs::copy(f, &dst).ctx("copy host file", f)?;
            let meta = fs::metadata(f).ctx("stat", f)?;
            fs::set_permissions(
                &dst,
                fs::Permissions::from_mode(meta.permissions().mode() & 0o7777),
            )
            .ctx("chmod", &dst)?;
            filetime::set_file_mtime(&dst, filetime::FileTime::from_last_modification_time(&meta))
                .ctx("set mtime", &dst)?;
        }
        for d in ["dev", "proc", "sys", "tmp", "etc", "root"] {
            fs::create_dir_all(root.join(d)).ctx("create directory", root.join(d))?;
        }
        fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))
            .ctx("chmod", root.join("tmp"))?;
        fs::set_permissions(root.join("root"), fs::Permissions::from_mode(0o700))
            .ctx("chmod", root.join("root"))?;
        fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        )
        .ctx("write", root.join("etc/passwd"))?;
        fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")
            .ctx("write", root.join("etc/group"))?;
        // Directories and the generated files get a fixed time: same inputs, same image.
        for e in walkdir::WalkDir::new(root).min_depth(1) {
            let e = e.map_err(|e| Error::io("walk", root, e.into()))?;
            if e.file_type().is_dir() || e.path().starts_with(root.join("etc")) {
                filetime::set_file_mtime(e.path(), filetime::FileTime::from_unix_time(0, 0))
                    .ctx("set mtime", e.path())?;
            }
        }
        let layer = create_layer(self, root, &DiffOptions::default())?;
        let mut config = ImageConfig::default();
        let created = "1970-01-01T00:00:00Z";
        config.raw_mut()["created"] = created.into();
        config.set(
            "Env",
            Some(serde_json::json!([
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            ])),
        );
        config.set("Cmd", Some(serde_json::json!([exes[0].to_string_lossy()])));
        config.push_history(HistoryItem {
            created: Some(created.into()),
            created_by: Some(format!(
                "berth import-host-binaries {}",
                exes.iter()
                    .map(|e| e.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            ..Default::default()
        });
        self.write_image(&config, &[layer], Some(reference))
    }
}

fn find_in_path(name: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|c| c.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_closure() {
        let c = closure(&[PathBuf::from("/bin/ls")]).expect("closure");
        assert!(
            c.iter().any(|p| p.to_string_lossy().contains("libc.so")),
            "{c:?}"
        );
        assert!(
            c.iter().any(|p| p.to_string_lossy().contains("ld-linux")),
            "{c:?}"
        );
    }
}
