//! The steps that write files: `COPY`/`ADD` into a snapshot and `RUN` in a container on
//! one, with `RUN --mount` sources and the clean-up of the mount points the runtime made.

use crate::builder::{Builder, Run, State, is_url, shell_err, unique};
use crate::cache::{self, Cache};
use crate::context::{self, PatternMatcher, clean_abs, resolve_scoped};
use crate::copy::{self, CopyAttrs};
use crate::error::{BuildError, IoCtx, Result};
use crate::instructions::{CopySpec, MountType};
use crate::progress::BuildEvent;
use crate::run::{RunMount, RunRequest};
use crate::users::{resolve_chown, resolve_user};
use container_image::Layer;
use std::path::{Path, PathBuf};

impl Builder {
    pub(crate) fn copy_step(
        &self,
        run: &Run<'_>,
        state: &mut State,
        c: &CopySpec,
        is_add: bool,
    ) -> Result<Option<Layer>> {
        let lookup = |n: &str| state.lookup(n);
        let w = |s: &str| run.lexer.process_word(s, &lookup).map_err(shell_err);
        let dest_raw = w(&c.dest)?;
        let wd = state.config.working_dir().unwrap_or_else(|| "/".into());
        let dest_is_dir_syntax =
            dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/.");
        let dest = if dest_raw.starts_with('/') {
            clean_abs(&dest_raw)
        } else {
            clean_abs(&format!("{wd}/{dest_raw}"))
        };
        let mode = match &c.chmod {
            Some(m) => Some(u32::from_str_radix(&w(m)?, 8).map_err(|_| {
                BuildError::Invalid(format!(
                    "invalid --chmod value {m:?}: only octal modes are supported"
                ))
            })?),
            None => None,
        };
        let chown = c.chown.as_ref().map(|s| w(s)).transpose()?;
        let exclude = PatternMatcher::new(&c.exclude)?;
        let mut sources = Vec::new();
        let mut remote = Vec::new();
        let mut git_dirs: Vec<PathBuf> = Vec::new();
        for s in &c.sources {
            if is_url(s) {
                let url = w(s)?;
                if !is_add {
                    return Err(BuildError::Invalid(format!(
                        "COPY cannot take a URL ({url}); use ADD"
                    )));
                }
                if crate::remote::is_git(&url) {
                    git_dirs.push(run.git(&url, c.keep_git_dir)?.dir);
                    continue;
                }
                remote.push(run.download(&url, c.checksum.as_deref())?);
                continue;
            }
            sources.push(w(s)?);
        }
        if c.checksum.is_some()
            && (remote.is_empty() || !sources.is_empty() || !git_dirs.is_empty())
        {
            return Err(BuildError::Invalid(
                "ADD --checksum applies to URL sources only".into(),
            ));
        }
        let from = c.from.as_ref().map(|f| w(f)).transpose()?;
        let from_layers = match &from {
            Some(f) => Some(self.layers_of(run, f)?),
            None => None,
        };
        let parents = c.parents;
        let heredocs = c.heredocs.clone();
        let body = |rootfs: &Path, src_root: Option<&Path>| -> Result<()> {
            let owner = match &chown {
                Some(spec) => Some(resolve_chown(rootfs, spec)?),
                None => Some((0, 0)),
            };
            let attrs = CopyAttrs {
                owner,
                mode,
                exclude: exclude.clone(),
            };
            // (relative path, absolute path on the host) of each source.
            let mut resolved: Vec<(String, PathBuf)> = Vec::new();
            let mut inline: Vec<(String, String)> = Vec::new();
            for s in &sources {
                if let Some(h) = heredocs.iter().find(|h| {
                    s.trim_start_matches("<<")
                        .trim_start_matches('-')
                        .trim_matches(|c| c == '"' || c == '\'')
                        == h.name
                }) {
                    inline.push((h.name.clone(), h.content.clone()));
                    continue;
                }
                match src_root {
                    None => resolved.extend(run.ctx.resolve_sources(s)?),
                    Some(root) => resolved.extend(resolve_in_view(root, s)?),
                }
            }
            let count = resolved.len() + inline.len() + remote.len();
            let dest_host_dir = resolve_scoped(rootfs, &dest, true);
            let dest_exists_dir = dest_host_dir.is_dir();
            let into_dir = dest_is_dir_syntax || dest_exists_dir;
            if count > 1 && !into_dir {
                return Err(BuildError::Invalid(
                    "When using COPY with more than one source file, the destination must be a directory and end with a /".into(),
                ));
            }
            // Remote files: not extracted, mode 0600 unless --chmod, the time of
            // Last-Modified when the server sent one (Docker's rules).
            for d in &remote {
                let (_, target) = copy::target_path(rootfs, &dest, into_dir, &d.name);
                if let Some(parent) = target.parent() {
                    let rel = context::rel_str(rootfs, parent);
                    copy::mkdir_all(rootfs, &format!("/{rel}"), attrs.owner)?;
                }
                if target.is_dir() {
                    return Err(BuildError::Invalid(format!(
                        "ADD {}: the destination {dest} is a directory; end it with /",
                        d.name
                    )));
                }
                std::fs::copy(&d.path, &target).ctx("write", &target)?;
                let (u, g) = attrs.owner.unwrap_or((0, 0));
                std::os::unix::fs::lchown(&target, Some(u), Some(g)).ctx("chown", &target)?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(
                    &target,
                    std::fs::Permissions::from_mode(mode.unwrap_or(0o600)),
                )
                .ctx("chmod", &target)?;
                if let Some(t) = d.mtime {
                    let t = filetime::FileTime::from_unix_time(t, 0);
                    filetime::set_file_times(&target, t, t).ctx("set times", &target)?;
                }
            }
            // A git checkout: its contents go into the destination directory.
            for g in &git_dirs {
                let target = copy::mkdir_all(rootfs, &dest, attrs.owner)?;
                let mut names: Vec<_> = std::fs::read_dir(g)
                    .ctx("read directory", g)?
                    .filter_map(|e| e.ok().map(|e| e.file_name()))
                    .collect();
                names.sort();
                for n in names {
                    copy_filtered(
                        &g.join(&n),
                        &target.join(&n),
                        &n.to_string_lossy(),
                        &attrs,
                        &|_: &str| false,
                    )?;
                }
            }
            for (name, content) in inline {
                let (_, target) = copy::target_path(rootfs, &dest, into_dir, &name);
                if let Some(parent) = target.parent() {
                    let rel = context::rel_str(rootfs, parent);
                    copy::mkdir_all(rootfs, &format!("/{rel}"), attrs.owner)?;
                }
                std::fs::write(&target, content).ctx("write", &target)?;
                let (u, g) = attrs.owner.unwrap_or((0, 0));
                std::os::unix::fs::lchown(&target, Some(u), Some(g)).ctx("chown", &target)?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(
                    &target,
                    std::fs::Permissions::from_mode(mode.unwrap_or(0o644)),
                )
                .ctx("chmod", &target)?;
            }
            for (rel, abs) in resolved {
                let meta = abs.metadata().ctx("stat", &abs)?;
                let base_dest = if parents {
                    let parent = rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                    clean_abs(&format!("{dest}/{parent}"))
                } else {
                    dest.clone()
                };
                if meta.is_dir() {
                    let target_abs = if parents {
                        clean_abs(&format!("{dest}/{rel}"))
                    } else {
                        base_dest.clone()
                    };
                    let target = copy::mkdir_all(rootfs, &target_abs, attrs.owner)?;
                    let mut names: Vec<_> = std::fs::read_dir(&abs)
                        .ctx("read directory", &abs)?
                        .filter_map(|e| e.ok().map(|e| e.file_name()))
                        .collect();
                    names.sort();
                    for n in names {
                        let child_rel = n.to_string_lossy().into_owned();
                        if src_root.is_none() && run.ctx.is_ignored(&format!("{rel}/{child_rel}")) {
                            continue;
                        }
                        let ignore_ctx = src_root.is_none();
                        copy_filtered(
                            &abs.join(&n),
                            &target.join(&n),
                            &child_rel,
                            &attrs,
                            &|r: &str| ignore_ctx && run.ctx.is_ignored(&format!("{rel}/{r}")),
                        )?;
                    }
                } else if is_add && src_root.is_none() && copy::is_archive(&abs) {
                    let target = copy::mkdir_all(rootfs, &base_dest, None)?;
                    copy::extract_archive(&abs, &target)?;
                } else {
                    let base = copy::base_name(&rel);
                    if exclude.matches(&base) || exclude.matches(&rel) {
                        continue;
                    }
                    let into = into_dir || parents;
                    let (target_abs, _) = copy::target_path(rootfs, &base_dest, into, &base);
                    let parent = target_abs.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                    let pdir = copy::mkdir_all(
                        rootfs,
                        if parent.is_empty() { "/" } else { parent },
                        attrs.owner,
                    )?;
                    let target = pdir.join(copy::base_name(&target_abs));
                    copy::copy_entry(
                        &abs,
                        &target,
                        "",
                        &CopyAttrs {
                            exclude: PatternMatcher::default(),
                            ..attrs.clone()
                        },
                    )?;
                }
            }
            Ok(())
        };
        match from_layers {
            Some(layers) => {
                let layers_for_view = layers.clone();
                self.with_view(&layers_for_view, |view| {
                    self.layer_step(run.epoch, state, false, |rootfs| body(rootfs, Some(view)))
                })
            }
            None => self.layer_step(run.epoch, state, false, |rootfs| body(rootfs, None)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_step(
        &self,
        run: &Run<'_>,
        _idx: usize,
        state: &mut State,
        argv: &[String],
        env: Vec<String>,
        mounts: &[crate::instructions::MountSpec],
        network_host: bool,
        number: usize,
    ) -> Result<Option<Layer>> {
        let wd = state.config.working_dir().unwrap_or_else(|| "/".into());
        let user = state.config.user().unwrap_or_default();
        let runtime_root = run
            .opts
            .runtime_root
            .clone()
            .unwrap_or_else(|| PathBuf::from("/run/berth/build"));
        // Views of other stages for `--mount=type=bind,from=...`, mounted for the run.
        let mut views: Vec<(PathBuf, String)> = Vec::new();
        let mut env = env;
        let mut run_mounts: Vec<RunMount> = Vec::new();
        let mut tmp_dirs: Vec<PathBuf> = Vec::new();
        let cleanup_views = |views: &[(PathBuf, String)], tmp: &[PathBuf]| {
            for (dir, key) in views {
                let _ = container_image::unmount(dir);
                let _ = self.store.snapshots().remove(key);
                let _ = std::fs::remove_dir(dir);
            }
            for t in tmp {
                let _ = std::fs::remove_dir_all(t);
            }
        };
        let mut ssh_count = 0usize;
        let prepared = (|| -> Result<()> {
            for m in mounts {
                let target = m.target.clone().unwrap_or_default();
                let target = if target.starts_with('/') {
                    clean_abs(&target)
                } else if target.is_empty() && m.kind == MountType::Secret {
                    String::new()
                } else {
                    clean_abs(&format!("{wd}/{target}"))
                };
                match m.kind {
                    MountType::Cache => {
                        let id = m.id.clone().unwrap_or_else(|| target.clone());
                        let dir = Cache::mounts_dir(&self.store).join(cache::key(&[&id]));
                        if !dir.exists() {
                            std::fs::create_dir_all(&dir).ctx("create", &dir)?;
                            let (u, g) = (m.uid.unwrap_or(0), m.gid.unwrap_or(0));
                            std::os::unix::fs::chown(&dir, Some(u), Some(g)).ctx("chown", &dir)?;
                            use std::os::unix::fs::PermissionsExt;
                            std::fs::set_permissions(
                                &dir,
                                std::fs::Permissions::from_mode(m.mode.unwrap_or(0o755)),
                            )
                            .ctx("chmod", &dir)?;
                        }
                        run_mounts.push(RunMount {
                            destination: target,
                            kind: "bind",
                            source: dir.display().to_string(),
                            options: vec![
                                "rbind".into(),
                                if m.read_only { "ro" } else { "rw" }.into(),
                            ],
                        });
                    }
                    MountType::Tmpfs => {
                        let mut options = vec!["nosuid".to_string(), "nodev".to_string()];
                        if let Some(s) = m.size {
                            options.push(format!("size={s}"));
                        }
                        run_mounts.push(RunMount {
                            destination: target,
                            kind: "tmpfs",
                            source: "tmpfs".into(),
                            options,
                        });
                    }
                    MountType::Bind => {
                        let src = m.source.clone().unwrap_or_default();
                        let host = match &m.from {
                            Some(f) => {
                                let f = run
                                    .lexer
                                    .process_word(f, &|n| state.lookup(n))
                                    .map_err(shell_err)?;
                                let layers = self.layers_of(run, &f)?;
                                let top = self.ensure_snapshot(&layers)?;
                                let dir = self.store.root().join("tmp").join(unique("build-bind"));
                                std::fs::create_dir_all(&dir).ctx("create", &dir)?;
                                let key = unique("build-bind");
                                let ms = self.store.snapshots().view(&key, top.as_ref())?;
                                views.push((dir.clone(), key));
                                container_image::Mount::mount_all(&ms, &dir)?;
                                resolve_scoped(&dir, &src, true)
                            }
                            None => {
                                let mut r = run.ctx.resolve_sources(if src.is_empty() {
                                    "."
                                } else {
                                    &src
                                })?;
                                r.pop()
                                    .map(|(_, p)| p)
                                    .unwrap_or_else(|| run.ctx.root().to_path_buf())
                            }
                        };
                        let source = if m.read_only || !mounts_rw(m) {
                            host
                        } else {
                            // Writes to a rw bind are discarded: give the run a copy.
                            let t = self.store.root().join("tmp").join(unique("build-rw"));
                            std::fs::create_dir_all(&t).ctx("create", &t)?;
                            tmp_dirs.push(t.clone());
                            let dst = t.join("src");
                            copy::copy_entry(&host, &dst, "", &CopyAttrs::default())?;
                            dst
                        };
                        run_mounts.push(RunMount {
                            destination: target,
                            kind: "bind",
                            source: source.display().to_string(),
                            options: vec![
                                "rbind".into(),
                                if mounts_rw(m) { "rw" } else { "ro" }.into(),
                            ],
                        });
                    }
                    MountType::Secret => {
                        let id =
                            m.id.clone()
                                .or_else(|| m.target.as_ref().map(|t| copy::base_name(t)))
                                .unwrap_or_default();
                        let Some(file) = run.opts.secrets.get(&id) else {
                            if m.required {
                                return Err(BuildError::NotFound(format!("secret {id} not found")));
                            }
                            continue;
                        };
                        if let Some(var) = &m.env {
                            let v = std::fs::read_to_string(file).ctx("read secret", file)?;
                            env.push(format!("{var}={v}"));
                            if m.target.is_none() {
                                continue;
                            }
                        }
                        let dest = if target.is_empty() {
                            format!("/run/secrets/{id}")
                        } else {
                            target
                        };
                        run_mounts.push(RunMount {
                            destination: dest,
                            kind: "bind",
                            source: file.display().to_string(),
                            options: vec!["rbind".into(), "ro".into()],
                        });
                    }
                    MountType::Ssh => {
                        // BuildKit: the n-th ssh mount defaults to
                        // /run/buildkit/ssh_agent.n; SSH_AUTH_SOCK names the first.
                        let id = m.id.clone().unwrap_or_else(|| "default".into());
                        let Some(sock) = run.opts.ssh.get(&id) else {
                            if m.required {
                                return Err(BuildError::NotFound(format!(
                                    "no SSH agent socket given for --mount=type=ssh,id={id}"
                                )));
                            }
                            continue;
                        };
                        use std::os::unix::fs::FileTypeExt;
                        let meta = std::fs::metadata(sock).ctx("open SSH agent socket", sock)?;
                        if !meta.file_type().is_socket() {
                            return Err(BuildError::Unsupported(format!(
                                "--ssh {id}={}: not an agent socket (key files are not supported; load the key into ssh-agent and give $SSH_AUTH_SOCK)",
                                sock.display()
                            )));
                        }
                        let dest = if m.target.is_none() {
                            format!("/run/buildkit/ssh_agent.{ssh_count}")
                        } else {
                            target
                        };
                        if ssh_count == 0 && !env.iter().any(|e| e.starts_with("SSH_AUTH_SOCK=")) {
                            env.push(format!("SSH_AUTH_SOCK={dest}"));
                        }
                        ssh_count += 1;
                        run_mounts.push(RunMount {
                            destination: dest,
                            kind: "bind",
                            source: sock.display().to_string(),
                            options: vec!["bind".into(), "rw".into()],
                        });
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = prepared {
            cleanup_views(&views, &tmp_dirs);
            return Err(e);
        }
        let mut dests: Vec<String> = container_core::spec::default_spec()
            .mounts()
            .iter()
            .flatten()
            .map(|m| m.destination().display().to_string())
            .collect();
        dests.extend(run_mounts.iter().map(|m| m.destination.clone()));
        let id = unique("build").replace('-', "");
        let epoch = run.epoch;
        let result = self.layer_step(epoch, state, false, |rootfs| {
            let (uid, gid, groups) = resolve_user(rootfs, &user)?;
            // Mount points the runtime creates are not part of the layer.
            let created: Vec<(PathBuf, PathBuf)> = dests
                .iter()
                .filter_map(|d| {
                    first_missing(rootfs, d).map(|top| (top, resolve_scoped(rootfs, d, false)))
                })
                .collect();
            let req = RunRequest {
                id: format!("b{}", &id[id.len().saturating_sub(24)..]),
                argv: argv.to_vec(),
                env: env.clone(),
                cwd: wd.clone(),
                uid,
                gid,
                additional_gids: groups,
                network_host,
                mounts: run_mounts.clone(),
                bundle: rootfs.parent().map(Path::to_path_buf).unwrap_or_default(),
                runtime_root: runtime_root.clone(),
            };
            let mut on_line = |line: String| run.emit(BuildEvent::Output { number, line });
            let code = crate::run::run(&req, &mut on_line);
            for (top, stub) in created.iter().rev() {
                remove_stub(top, stub);
            }
            let code = code?;
            if code != 0 {
                return Err(BuildError::RunFailed {
                    command: argv.join(" "),
                    code,
                });
            }
            Ok(())
        });
        cleanup_views(&views, &tmp_dirs);
        result
    }
}

fn mounts_rw(m: &crate::instructions::MountSpec) -> bool {
    !m.read_only
}

/// The first component of `dest` missing under `rootfs`, if any.
fn first_missing(rootfs: &Path, dest: &str) -> Option<PathBuf> {
    let mut cur = String::new();
    for c in dest.split('/').filter(|c| !c.is_empty()) {
        cur.push('/');
        cur.push_str(c);
        let p = resolve_scoped(rootfs, &cur, false);
        if p.symlink_metadata().is_err() {
            return Some(p);
        }
    }
    None
}

/// Remove the mount point `stub` the runtime made (an empty directory or file) and its
/// parents up to `top`, the first directory that did not exist before the run, while
/// they are empty.
fn remove_stub(top: &Path, stub: &Path) {
    if !stub.starts_with(top) {
        return;
    }
    match stub.symlink_metadata() {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir(stub);
        }
        Ok(m) if m.is_file() && m.len() == 0 => {
            let _ = std::fs::remove_file(stub);
        }
        _ => {}
    }
    let mut p = stub.parent();
    while let Some(dir) = p {
        if !dir.starts_with(top) || std::fs::remove_dir(dir).is_err() {
            break;
        }
        p = dir.parent();
    }
}

fn copy_filtered(
    src: &Path,
    dst: &Path,
    rel: &str,
    attrs: &CopyAttrs,
    ignored: &dyn Fn(&str) -> bool,
) -> Result<()> {
    if ignored(rel) || attrs.exclude.matches(rel) {
        return Ok(());
    }
    let m = src.symlink_metadata().ctx("stat", src)?;
    if !m.is_dir() {
        return copy::copy_entry(src, dst, rel, attrs);
    }
    if let Ok(e) = dst.symlink_metadata()
        && !e.is_dir()
    {
        std::fs::remove_file(dst).ctx("replace", dst)?;
    }
    if dst.symlink_metadata().is_err() {
        std::fs::create_dir(dst).ctx("create directory", dst)?;
    }
    let mut names: Vec<_> = std::fs::read_dir(src)
        .ctx("read directory", src)?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for n in names {
        let child = format!("{rel}/{}", n.to_string_lossy());
        copy_filtered(&src.join(&n), &dst.join(&n), &child, attrs, ignored)?;
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (u, g) = attrs.owner.unwrap_or((m.uid(), m.gid()));
    std::os::unix::fs::lchown(dst, Some(u), Some(g)).ctx("chown", dst)?;
    let mode = attrs.mode.unwrap_or(m.permissions().mode() & 0o7777);
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode)).ctx("chmod", dst)?;
    let t = filetime::FileTime::from_last_modification_time(&m);
    filetime::set_file_times(dst, t, t).ctx("set times", dst)?;
    Ok(())
}

/// Sources of a `COPY --from` inside a mounted view (chroot-style resolution, globs).
fn resolve_in_view(root: &Path, src: &str) -> Result<Vec<(String, PathBuf)>> {
    let abs = clean_abs(src);
    let rel = abs.trim_start_matches('/').to_string();
    if context::has_glob(&rel) {
        let mut out = Vec::new();
        let depth = rel.split('/').count();
        for e in walkdir::WalkDir::new(root)
            .min_depth(depth)
            .max_depth(depth)
            .follow_links(false)
            .sort_by_file_name()
        {
            let Ok(e) = e else { continue };
            let r = context::rel_str(root, e.path());
            if context::glob_match(&rel, &r) {
                out.push((r, e.into_path()));
            }
        }
        if out.is_empty() {
            return Err(BuildError::SourceNotFound(src.to_string()));
        }
        return Ok(out);
    }
    let p = resolve_scoped(root, &abs, true);
    if p.symlink_metadata().is_err() {
        return Err(BuildError::SourceNotFound(src.to_string()));
    }
    Ok(vec![(rel, p)])
}
