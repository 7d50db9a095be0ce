//! Stage planning: which stages the target needs, and the build arguments in scope.

use crate::error::{BuildError, Result};
use crate::instructions::{Dockerfile, Instruction};
use crate::shell::Lexer;
use container_image::image::Platform;
use std::collections::BTreeMap;

/// The stages `from` refers to by `FROM <stage>`, `COPY --from` and `RUN --mount=from=`
/// (names expanded with the global arguments).
pub fn dependencies(df: &Dockerfile, idx: usize, globals: &BTreeMap<String, String>) -> Vec<usize> {
    let lexer = Lexer::new(df.escape);
    let lookup = |n: &str| globals.get(n).cloned();
    let stage_ref = |name: &str| -> Option<usize> {
        let name = lexer.process_word(name, &lookup).ok()?;
        df.stage_index(&name).filter(|&i| i < idx)
    };
    let stage = &df.stages[idx];
    let mut out = Vec::new();
    if let Some(i) = stage_ref(&stage.base) {
        out.push(i);
    }
    for l in &stage.instructions {
        match &l.instruction {
            Instruction::Copy(c) | Instruction::Add(c) => {
                if let Some(i) = c.from.as_deref().and_then(stage_ref) {
                    out.push(i);
                }
            }
            Instruction::Run { mounts, .. } => {
                for m in mounts {
                    if let Some(i) = m.from.as_deref().and_then(stage_ref) {
                        out.push(i);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The stages needed to build `target`, in Dockerfile order.
pub fn needed(df: &Dockerfile, target: usize, globals: &BTreeMap<String, String>) -> Vec<usize> {
    let mut need = vec![false; df.stages.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if need[i] {
            continue;
        }
        need[i] = true;
        todo.extend(dependencies(df, i, globals));
    }
    (0..df.stages.len()).filter(|i| need[*i]).collect()
}

/// Arguments BuildKit defines for every build (usable in `FROM --platform`, and in a
/// stage once it declares them with `ARG`): `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`,
/// `TARGETVARIANT` and the same with `BUILD`. berth builds for the host only, so both
/// are this machine's platform.
pub fn automatic_args() -> BTreeMap<String, String> {
    let host = Platform::host();
    let mut m = BTreeMap::new();
    for p in ["TARGET", "BUILD"] {
        m.insert(format!("{p}PLATFORM"), host.to_string());
        m.insert(format!("{p}OS"), host.os.clone());
        m.insert(format!("{p}ARCH"), host.architecture.clone());
        m.insert(
            format!("{p}VARIANT"),
            host.variant.clone().unwrap_or_default(),
        );
    }
    m
}

/// Parse `os/arch[/variant]` (architecture aliases like `x86_64` and `aarch64`
/// normalised as containerd does).
pub fn parse_platform(s: &str) -> Result<Platform> {
    let parts: Vec<&str> = s.trim().split('/').collect();
    if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(BuildError::Invalid(format!(
            "invalid platform {s:?}: expected os/arch[/variant]"
        )));
    }
    let os = parts[0].to_ascii_lowercase();
    let (arch, mut variant) = match parts[1].to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => ("amd64".to_string(), None),
        "aarch64" => ("arm64".to_string(), None),
        "armhf" => ("arm".to_string(), Some("v7".to_string())),
        "armel" => ("arm".to_string(), Some("v6".to_string())),
        "i386" | "i686" => ("386".to_string(), None),
        a => (a.to_string(), None),
    };
    if let Some(v) = parts.get(2) {
        variant = Some(v.to_ascii_lowercase());
    }
    if arch == "arm64" && variant.as_deref() == Some("v8") {
        variant = None;
    }
    Ok(Platform {
        architecture: arch,
        os,
        variant,
        os_version: None,
    })
}

/// The platform `s` names, if this machine can run it (the host's OS and
/// architecture); else an error naming both.
pub fn runnable_platform(s: &str) -> Result<Platform> {
    let p = parse_platform(s)?;
    let host = Platform::host();
    if p.os != host.os || p.architecture != host.architecture {
        return Err(BuildError::Unsupported(format!(
            "platform {p}: this machine runs {host} and berth does not emulate other platforms"
        )));
    }
    Ok(p)
}

/// The global (`ARG` before the first `FROM`) arguments with their values: build
/// arguments override defaults; defaults may use earlier globals.
pub fn global_args(
    df: &Dockerfile,
    build_args: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let lexer = Lexer::new(df.escape);
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let auto = automatic_args();
    for (k, default) in &df.meta_args {
        let v = match build_args.get(k) {
            Some(v) => Some(v.clone()),
            None => match default {
                Some(d) => {
                    let snapshot = out.clone();
                    let lookup = |n: &str| snapshot.get(n).cloned();
                    Some(lexer.process_word(d, &lookup).unwrap_or_else(|_| d.clone()))
                }
                None => auto.get(k).cloned(),
            },
        };
        if let Some(v) = v {
            out.insert(k.clone(), v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unused_stages_are_skipped() {
        let df = crate::instructions::parse_dockerfile(
            "ARG BASE=a\nFROM scratch AS a\nFROM scratch AS unused\nFROM scratch AS b\nCOPY --from=${BASE} /x /x\nFROM b\n",
        )
        .expect("parse");
        let g = global_args(&df, &BTreeMap::new());
        assert_eq!(needed(&df, 3, &g), vec![0, 2, 3]);
        let mut args = BTreeMap::new();
        args.insert("BASE".to_string(), "unused".to_string());
        let g = global_args(&df, &args);
        assert_eq!(needed(&df, 3, &g), vec![1, 2, 3]);
    }

    #[test]
    fn platforms() {
        let host = Platform::host();
        let p = parse_platform(&host.to_string()).expect("host");
        assert_eq!(p, host);
        assert_eq!(
            parse_platform("linux/x86_64").expect("alias").architecture,
            "amd64"
        );
        assert_eq!(parse_platform("linux/arm64/v8").expect("v8").variant, None);
        assert!(parse_platform("linux").is_err());
        assert!(parse_platform("linux/amd64/v1/x").is_err());
        let other = if host.architecture == "s390x" {
            "linux/amd64"
        } else {
            "linux/s390x"
        };
        let e = runnable_platform(other).expect_err("foreign").to_string();
        assert!(e.contains(other) && e.contains(&host.to_string()), "{e}");
        assert!(runnable_platform(&automatic_args()["TARGETPLATFORM"]).is_ok());
    }
}
