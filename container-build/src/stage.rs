//! Stage planning: which stages the target needs, and the build arguments in scope.

use crate::instructions::{Dockerfile, Instruction};
use crate::shell::Lexer;
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

/// Arguments BuildKit defines for every build (used when a stage declares them).
pub fn automatic_args() -> BTreeMap<String, String> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    let platform = format!("linux/{arch}");
    let mut m = BTreeMap::new();
    for p in ["TARGET", "BUILD"] {
        m.insert(format!("{p}PLATFORM"), platform.clone());
        m.insert(format!("{p}OS"), "linux".to_string());
        m.insert(format!("{p}ARCH"), arch.to_string());
        m.insert(format!("{p}VARIANT"), String::new());
    }
    m
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
}
