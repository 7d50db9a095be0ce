//! `USER` and `--chown` names to numeric ids, looked up in the image's own
//! `/etc/passwd` and `/etc/group` (symlinks resolved inside the rootfs).

use crate::context::resolve_scoped;
use crate::error::{BuildError, Result};
use std::path::Path;

fn read_db(rootfs: &Path, file: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(resolve_scoped(rootfs, file, true))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').map(String::from).collect())
        .collect()
}

fn lookup_uid(rootfs: &Path, user: &str) -> Option<(u32, u32)> {
    read_db(rootfs, "/etc/passwd").iter().find_map(|f| {
        (f.first().map(String::as_str) == Some(user) || f.get(2).map(String::as_str) == Some(user))
            .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))
            .flatten()
    })
}

fn lookup_gid(rootfs: &Path, group: &str) -> Option<u32> {
    if let Ok(n) = group.parse() {
        return Some(n);
    }
    read_db(rootfs, "/etc/group").iter().find_map(|f| {
        (f.first().map(String::as_str) == Some(group))
            .then(|| f.get(2)?.parse().ok())
            .flatten()
    })
}

/// `USER` to uid, gid and supplementary groups, looked up in the image.
pub(crate) fn resolve_user(rootfs: &Path, user: &str) -> Result<(u32, u32, Vec<u32>)> {
    if user.is_empty() {
        return Ok((0, 0, Vec::new()));
    }
    let (u, g) = user
        .split_once(':')
        .map_or((user, None), |(u, g)| (u, Some(g)));
    let (uid, primary) = match u.parse::<u32>() {
        Ok(n) => (n, lookup_uid(rootfs, u).map_or(0, |(_, g)| g)),
        Err(_) => lookup_uid(rootfs, u).ok_or_else(|| {
            BuildError::NotFound(format!(
                "unable to find user {u}: no matching entries in passwd file"
            ))
        })?,
    };
    let gid = match g {
        Some(g) => lookup_gid(rootfs, g)
            .ok_or_else(|| BuildError::NotFound(format!("unable to find group {g}")))?,
        None => primary,
    };
    let name = read_db(rootfs, "/etc/passwd")
        .iter()
        .find(|f| f.get(2).and_then(|x| x.parse::<u32>().ok()) == Some(uid))
        .and_then(|f| f.first().cloned())
        .unwrap_or_default();
    let groups = if g.is_some() {
        Vec::new()
    } else {
        read_db(rootfs, "/etc/group")
            .iter()
            .filter(|f| {
                f.get(3)
                    .is_some_and(|m| m.split(',').any(|x| !name.is_empty() && x == name))
            })
            .filter_map(|f| f.get(2)?.parse().ok())
            .filter(|x| *x != gid)
            .collect()
    };
    Ok((uid, gid, groups))
}

/// `--chown` to uid and gid: a user alone gives its uid as gid too (Docker's rule).
pub(crate) fn resolve_chown(rootfs: &Path, spec: &str) -> Result<(u32, u32)> {
    let (u, g) = spec
        .split_once(':')
        .map_or((spec, None), |(u, g)| (u, Some(g)));
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup_uid(rootfs, u)
            .map(|(u, _)| u)
            .ok_or_else(|| BuildError::NotFound(format!("unable to find user {u}")))?,
    };
    let gid = match g {
        Some(g) => lookup_gid(rootfs, g)
            .ok_or_else(|| BuildError::NotFound(format!("unable to find group {g}")))?,
        None => uid,
    };
    Ok((uid, gid))
}
