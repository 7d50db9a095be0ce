//! Layer 2: syntax tree to typed instructions with validated flags.
//!
//! Mirrors BuildKit's `instructions` package: every instruction accepts only its own flags
//! (`unknown flag: x`), boolean flags take `true`/`false`, `RUN --mount` values are checked
//! key by key, `HEALTHCHECK` durations are Go durations, and instructions are grouped into
//! stages after their `FROM`. Arguments stay unexpanded: the builder expands them with
//! [`crate::shell`] in the scope of each stage.

use crate::parser::{Ast, Heredoc, Node};
use std::time::Duration;

/// A typed-layer error with the line of the instruction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct InstructionError {
    /// 1-based line of the instruction.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn err<T>(node: &Node, message: impl Into<String>) -> Result<T, InstructionError> {
    Err(InstructionError {
        line: node.start_line,
        message: message.into(),
    })
}

/// A command in shell form (run through `SHELL`) or exec form (JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// `RUN echo hi`: one string for the shell.
    Shell(String),
    /// `RUN ["echo", "hi"]`: argv.
    Exec(Vec<String>),
}

/// Kind of a `RUN --mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// Read-only (by default) bind of the context or another stage.
    Bind,
    /// Persistent cache directory.
    Cache,
    /// Empty tmpfs.
    Tmpfs,
    /// A secret file or environment variable.
    Secret,
    /// An SSH agent socket.
    Ssh,
}

/// A parsed `RUN --mount=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Mount kind.
    pub kind: MountType,
    /// Path in the container.
    pub target: Option<String>,
    /// Path in the source (context, stage or image).
    pub source: Option<String>,
    /// Stage or image to take the source from.
    pub from: Option<String>,
    /// Cache/secret/ssh id.
    pub id: Option<String>,
    /// Read-only.
    pub read_only: bool,
    /// Cache sharing mode (`shared`, `private`, `locked`).
    pub sharing: Option<String>,
    /// File mode (octal).
    pub mode: Option<u32>,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Owner gid.
    pub gid: Option<u32>,
    /// Secret/ssh must exist.
    pub required: bool,
    /// tmpfs size in bytes.
    pub size: Option<u64>,
    /// Secret exposed as an environment variable.
    pub env: Option<String>,
}

/// `RUN --network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// The builder's default (berth: none).
    Default,
    /// No network.
    None,
    /// The host's network namespace.
    Host,
}

/// `COPY`/`ADD` arguments and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// Sources (unexpanded).
    pub sources: Vec<String>,
    /// Destination (unexpanded).
    pub dest: String,
    /// `--from` stage, index or image.
    pub from: Option<String>,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents` (COPY).
    pub parents: bool,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// `--keep-git-dir` (ADD).
    pub keep_git_dir: bool,
    /// `--checksum` (ADD).
    pub checksum: Option<String>,
    /// Heredoc sources (`COPY <<EOF /dst`).
    pub heredocs: Vec<Heredoc>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable an inherited check.
    None,
    /// `HEALTHCHECK [options] CMD ...`.
    Check {
        /// `CMD-SHELL cmd` or `CMD arg...` as Docker stores it (first element is the kind).
        test: Vec<String>,
        /// `--interval`.
        interval: Option<Duration>,
        /// `--timeout`.
        timeout: Option<Duration>,
        /// `--start-period`.
        start_period: Option<Duration>,
        /// `--start-interval`.
        start_interval: Option<Duration>,
        /// `--retries`.
        retries: Option<u32>,
    },
}

/// One typed instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `RUN`.
    Run {
        /// The command.
        command: CommandLine,
        /// `--mount`s.
        mounts: Vec<MountSpec>,
        /// `--network`.
        network: NetworkMode,
        /// `--security=insecure`.
        insecure: bool,
        /// Heredocs attached to the command.
        heredocs: Vec<Heredoc>,
    },
    /// `CMD`.
    Cmd(CommandLine),
    /// `ENTRYPOINT`.
    Entrypoint(CommandLine),
    /// `SHELL` (always exec form).
    Shell(Vec<String>),
    /// `ENV k=v ...` (raw words).
    Env(Vec<(String, String)>),
    /// `LABEL k=v ...` (raw words).
    Label(Vec<(String, String)>),
    /// `ARG name[=default] ...`.
    Arg(Vec<(String, Option<String>)>),
    /// `COPY`.
    Copy(CopySpec),
    /// `ADD`.
    Add(CopySpec),
    /// `EXPOSE port[/proto] ...`.
    Expose(Vec<String>),
    /// `VOLUME`.
    Volume(Vec<String>),
    /// `USER`.
    User(String),
    /// `WORKDIR`.
    Workdir(String),
    /// `STOPSIGNAL`.
    StopSignal(String),
    /// `MAINTAINER`.
    Maintainer(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `ONBUILD` with the trigger text (`RUN echo hi`), as Docker stores it.
    Onbuild(String),
}

/// An instruction with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The typed instruction.
    pub instruction: Instruction,
    /// First line.
    pub line: usize,
    /// Last line.
    pub end_line: usize,
    /// Logical source line (for history `created_by` and errors).
    pub original: String,
}

/// A build stage: `FROM` and what follows up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Base image reference, `scratch`, or an earlier stage name (unexpanded).
    pub base: String,
    /// `AS name` (lower-cased like BuildKit).
    pub name: Option<String>,
    /// `--platform`.
    pub platform: Option<String>,
    /// Line of the `FROM`.
    pub line: usize,
    /// The instructions of the stage.
    pub instructions: Vec<Located>,
}

/// A whole Dockerfile, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// `ARG`s before the first `FROM` (usable in `FROM` lines).
    pub meta_args: Vec<(String, Option<String>)>,
    /// Stages in order.
    pub stages: Vec<Stage>,
    /// Escape character.
    pub escape: char,
}

impl Dockerfile {
    /// Index of the stage named `name` (case-insensitive) or with that number.
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        let lower = name.to_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|&i| i < self.stages.len())
            })
    }
}

/// Parses Dockerfile text all the way to typed stages.
pub fn parse_dockerfile(text: &str) -> Result<Dockerfile, InstructionError> {
    let ast = crate::parser::parse(text).map_err(|e| InstructionError {
        line: e.line,
        message: e.message,
    })?;
    from_ast(&ast)
}

/// Converts a syntax tree to typed stages.
pub fn from_ast(ast: &Ast) -> Result<Dockerfile, InstructionError> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &ast.children {
        let name = node.name();
        if name == "from" {
            let flags = Flags::parse(node, &[("platform", FlagKind::Str)])?;
            let (base, alias) = match node.args.as_slice() {
                [b] => (b.clone(), None),
                [b, as_kw, n] if as_kw.eq_ignore_ascii_case("as") => {
                    if !valid_stage_name(n) {
                        return err(
                            node,
                            format!(
                                "invalid name for build stage: {n:?}, name can't start with a number or contain symbols"
                            ),
                        );
                    }
                    (b.clone(), Some(n.to_lowercase()))
                }
                _ => return err(node, "FROM requires either one or three arguments"),
            };
            if let Some(a) = &alias
                && stages.iter().any(|s| s.name.as_ref() == Some(a))
            {
                return err(node, format!("duplicate stage name {a:?}"));
            }
            stages.push(Stage {
                base,
                name: alias,
                platform: flags.string("platform"),
                line: node.start_line,
                instructions: Vec::new(),
            });
            continue;
        }
        let instruction = typed(node)?;
        match stages.last_mut() {
            Some(stage) => stage.instructions.push(Located {
                instruction,
                line: node.start_line,
                end_line: node.end_line,
                original: node.original.clone(),
            }),
            None => match instruction {
                Instruction::Arg(args) => meta_args.extend(args),
                _ => {
                    return err(
                        node,
                        format!(
                            "no build stage in current context: {} must come after FROM",
                            node.cmd.to_uppercase()
                        ),
                    );
                }
            },
        }
    }
    if stages.is_empty() {
        return Err(InstructionError {
            line: 0,
            message: "the Dockerfile has no FROM".into(),
        });
    }
    Ok(Dockerfile {
        meta_args,
        stages,
        escape: ast.escape,
    })
}

fn valid_stage_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn command_line(node: &Node, what: &str) -> Result<CommandLine, InstructionError> {
    if node.json {
        Ok(CommandLine::Exec(node.args.clone()))
    } else {
        match node.args.first() {
            Some(s) => Ok(CommandLine::Shell(s.clone())),
            None => err(node, format!("{what} requires at least one argument")),
        }
    }
}

fn pairs(node: &Node, what: &str) -> Result<Vec<(String, String)>, InstructionError> {
    if node.args.is_empty() {
        return err(node, format!("{what} requires at least one argument"));
    }
    Ok(node
        .args
        .chunks(2)
        .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or_default()))
        .collect())
}

fn single(node: &Node, what: &str) -> Result<String, InstructionError> {
    match node.args.as_slice() {
        [one] => Ok(one.clone()),
        [] => err(node, format!("{what} requires exactly one argument")),
        _ => err(node, format!("{what} requires exactly one argument")),
    }
}

fn typed(node: &Node) -> Result<Instruction, InstructionError> {
    let name = node.name();
    let no_flags = |node: &Node| Flags::parse(node, &[]);
    Ok(match name.as_str() {
        "run" => {
            let flags = Flags::parse(
                node,
                &[
                    ("mount", FlagKind::List),
                    ("network", FlagKind::Str),
                    ("security", FlagKind::Str),
                ],
            )?;
            let mut mounts = Vec::new();
            for m in flags.list("mount") {
                mounts.push(parse_mount(&m).or_else(|e| err(node, e))?);
            }
            let network = match flags.string("network").as_deref() {
                None | Some("default") => NetworkMode::Default,
                Some("none") => NetworkMode::None,
                Some("host") => NetworkMode::Host,
                Some(other) => return err(node, format!("unsupported network mode {other:?}")),
            };
            let insecure = match flags.string("security").as_deref() {
                None | Some("sandbox") => false,
                Some("insecure") => true,
                Some(other) => return err(node, format!("unsupported security mode {other:?}")),
            };
            Instruction::Run {
                command: command_line(node, "RUN")?,
                mounts,
                network,
                insecure,
                heredocs: node.heredocs.clone(),
            }
        }
        "cmd" => {
            no_flags(node)?;
            Instruction::Cmd(if node.args.is_empty() && !node.json {
                CommandLine::Exec(Vec::new())
            } else {
                command_line(node, "CMD")?
            })
        }
        "entrypoint" => {
            no_flags(node)?;
            Instruction::Entrypoint(if node.args.is_empty() && !node.json {
                CommandLine::Exec(Vec::new())
            } else {
                command_line(node, "ENTRYPOINT")?
            })
        }
        "shell" => {
            no_flags(node)?;
            if !node.json {
                return err(node, "SHELL requires the arguments to be in JSON form");
            }
            if node.args.is_empty() {
                return err(node, "SHELL requires at least one argument");
            }
            Instruction::Shell(node.args.clone())
        }
        "env" => {
            no_flags(node)?;
            Instruction::Env(pairs(node, "ENV")?)
        }
        "label" => {
            no_flags(node)?;
            Instruction::Label(pairs(node, "LABEL")?)
        }
        "arg" => {
            no_flags(node)?;
            if node.args.is_empty() {
                return err(node, "ARG requires at least one argument");
            }
            let mut out = Vec::new();
            for w in &node.args {
                match w.split_once('=') {
                    Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
                    None => out.push((w.clone(), None)),
                }
            }
            for (k, _) in &out {
                if k.is_empty() {
                    return err(node, "ARG names can not be blank");
                }
            }
            Instruction::Arg(out)
        }
        "copy" | "add" => {
            let is_add = name == "add";
            let allowed: &[(&str, FlagKind)] = if is_add {
                &[
                    ("chown", FlagKind::Str),
                    ("chmod", FlagKind::Str),
                    ("link", FlagKind::Bool),
                    ("keep-git-dir", FlagKind::Bool),
                    ("checksum", FlagKind::Str),
                    ("exclude", FlagKind::List),
                ]
            } else {
                &[
                    ("from", FlagKind::Str),
                    ("chown", FlagKind::Str),
                    ("chmod", FlagKind::Str),
                    ("link", FlagKind::Bool),
                    ("parents", FlagKind::Bool),
                    ("exclude", FlagKind::List),
                ]
            };
            let flags = Flags::parse(node, allowed)?;
            if node.args.len() < 2 {
                return err(
                    node,
                    format!(
                        "{} requires at least two arguments, but only one was provided. Destination could not be determined",
                        name.to_uppercase()
                    ),
                );
            }
            let (dest, sources) = node
                .args
                .split_last()
                .map(|(d, s)| (d.clone(), s.to_vec()))
                .unwrap_or_default();
            let spec = CopySpec {
                sources,
                dest,
                from: flags.string("from"),
                chown: flags.string("chown"),
                chmod: flags.string("chmod"),
                link: flags.boolean("link"),
                parents: flags.boolean("parents"),
                exclude: flags.list("exclude"),
                keep_git_dir: flags.boolean("keep-git-dir"),
                checksum: flags.string("checksum"),
                heredocs: node.heredocs.clone(),
            };
            if is_add {
                Instruction::Add(spec)
            } else {
                Instruction::Copy(spec)
            }
        }
        "expose" => {
            no_flags(node)?;
            if node.args.is_empty() {
                return err(node, "EXPOSE requires at least one argument");
            }
            Instruction::Expose(node.args.clone())
        }
        "volume" => {
            no_flags(node)?;
            if node.args.is_empty() {
                return err(node, "VOLUME requires at least one argument");
            }
            for v in &node.args {
                if v.trim().is_empty() {
                    return err(node, "VOLUME specified can not be an empty string");
                }
            }
            Instruction::Volume(node.args.clone())
        }
        "user" => {
            no_flags(node)?;
            Instruction::User(single(node, "USER")?)
        }
        "workdir" => {
            no_flags(node)?;
            Instruction::Workdir(single(node, "WORKDIR")?)
        }
        "stopsignal" => {
            no_flags(node)?;
            Instruction::StopSignal(single(node, "STOPSIGNAL")?)
        }
        "maintainer" => {
            no_flags(node)?;
            Instruction::Maintainer(single(node, "MAINTAINER")?)
        }
        "healthcheck" => {
            let flags = Flags::parse(
                node,
                &[
                    ("interval", FlagKind::Str),
                    ("timeout", FlagKind::Str),
                    ("start-period", FlagKind::Str),
                    ("start-interval", FlagKind::Str),
                    ("retries", FlagKind::Str),
                ],
            )?;
            let Some(kind) = node.args.first() else {
                return err(node, "HEALTHCHECK requires an argument");
            };
            match kind.to_uppercase().as_str() {
                "NONE" => {
                    if node.args.len() > 1 {
                        return err(node, "HEALTHCHECK NONE takes no arguments");
                    }
                    Instruction::Healthcheck(Healthcheck::None)
                }
                "CMD" => {
                    let rest = &node.args[1..];
                    if rest.is_empty() {
                        return err(node, "Missing command after HEALTHCHECK CMD");
                    }
                    let test = if node.json {
                        std::iter::once("CMD".to_string())
                            .chain(rest.iter().cloned())
                            .collect()
                    } else {
                        vec!["CMD-SHELL".to_string(), rest[0].clone()]
                    };
                    let dur = |k: &str| -> Result<Option<Duration>, InstructionError> {
                        match flags.string(k) {
                            None => Ok(None),
                            Some(v) => match parse_go_duration(&v) {
                                Some(d) if d.is_zero() || d >= Duration::from_millis(1) => {
                                    Ok(Some(d))
                                }
                                Some(_) => {
                                    err(node, format!("Interval {k:?} cannot be less than 1ms"))
                                }
                                None => err(node, format!("time: invalid duration {v:?}")),
                            },
                        }
                    };
                    let retries = match flags.string("retries") {
                        None => None,
                        Some(v) => match v.parse::<i64>() {
                            Ok(n) if n >= 0 => Some(u32::try_from(n).unwrap_or(u32::MAX)),
                            Ok(_) => return err(node, "--retries cannot be negative"),
                            Err(_) => return err(node, format!("invalid --retries value {v:?}")),
                        },
                    };
                    Instruction::Healthcheck(Healthcheck::Check {
                        test,
                        interval: dur("interval")?,
                        timeout: dur("timeout")?,
                        start_period: dur("start-period")?,
                        start_interval: dur("start-interval")?,
                        retries,
                    })
                }
                other => {
                    return err(
                        node,
                        format!("Unknown type {other:?} in HEALTHCHECK (try CMD)"),
                    );
                }
            }
        }
        "onbuild" => {
            no_flags(node)?;
            let Some(sub) = &node.sub else {
                return err(node, "ONBUILD requires at least one argument");
            };
            match sub.name().as_str() {
                "onbuild" => {
                    return err(node, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
                }
                "from" | "maintainer" => {
                    return err(
                        node,
                        format!(
                            "{} isn't allowed as an ONBUILD trigger",
                            sub.cmd.to_uppercase()
                        ),
                    );
                }
                _ => {}
            }
            // Validate the trigger now, as BuildKit does.
            typed(sub)?;
            let trimmed = node.original.trim_start_matches(crate::parser::go_is_space);
            let after = trimmed.get(node.cmd.len()..).unwrap_or_default();
            Instruction::Onbuild(after.trim_matches(crate::parser::go_is_space).to_string())
        }
        _ => {
            return err(node, format!("unknown instruction: {}", node.cmd));
        }
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlagKind {
    Str,
    Bool,
    List,
}

struct Flags {
    values: Vec<(String, String)>,
}

impl Flags {
    fn parse(node: &Node, allowed: &[(&str, FlagKind)]) -> Result<Flags, InstructionError> {
        let mut values: Vec<(String, String)> = Vec::new();
        for raw in &node.flags {
            let Some(body) = raw.strip_prefix("--") else {
                return err(node, format!("invalid flag {raw:?}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some((_, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
                return err(node, format!("unknown flag: {name}"));
            };
            let value = match (kind, value) {
                (FlagKind::Bool, None) => "true".to_string(),
                (FlagKind::Bool, Some(v)) => match v.to_lowercase().as_str() {
                    "true" | "" => "true".into(),
                    "false" => "false".into(),
                    _ => {
                        return err(
                            node,
                            format!("expecting boolean value for flag {name}, not: {v}"),
                        );
                    }
                },
                (_, None) => return err(node, format!("missing a value on flag: {name}")),
                (FlagKind::Str, Some(v)) => {
                    if values.iter().any(|(n, _)| n == name) {
                        return err(node, format!("duplicate flag specified: {name}"));
                    }
                    v.to_string()
                }
                (FlagKind::List, Some(v)) => v.to_string(),
            };
            values.push((name.to_string(), value));
        }
        Ok(Flags { values })
    }

    fn string(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn boolean(&self, name: &str) -> bool {
        self.string(name).is_some_and(|v| v == "true")
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Parses the value of `RUN --mount=...` (CSV of `key=value`).
pub fn parse_mount(value: &str) -> Result<MountSpec, String> {
    let mut spec = MountSpec {
        kind: MountType::Bind,
        target: None,
        source: None,
        from: None,
        id: None,
        read_only: true,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        required: false,
        size: None,
        env: None,
    };
    let fields: Vec<&str> = value.split(',').filter(|f| !f.is_empty()).collect();
    // The type decides the defaults, so read it first.
    for f in &fields {
        if let Some(t) = f.strip_prefix("type=") {
            spec.kind = match t.to_lowercase().as_str() {
                "bind" => MountType::Bind,
                "cache" => MountType::Cache,
                "tmpfs" => MountType::Tmpfs,
                "secret" => MountType::Secret,
                "ssh" => MountType::Ssh,
                other => return Err(format!("unsupported mount type {other:?}")),
            };
        }
    }
    spec.read_only = matches!(
        spec.kind,
        MountType::Bind | MountType::Secret | MountType::Ssh
    );
    let parse_bool = |k: &str, v: Option<&str>| -> Result<bool, String> {
        match v.map(str::to_lowercase).as_deref() {
            None | Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(o) => Err(format!("invalid value for {k}: {o}")),
        }
    };
    let parse_u32 = |k: &str, v: Option<&str>, radix: u32| -> Result<u32, String> {
        v.and_then(|v| u32::from_str_radix(v, radix).ok())
            .ok_or_else(|| format!("invalid value for {k}: {}", v.unwrap_or_default()))
    };
    for f in fields {
        let (k, v) = match f.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (f.to_lowercase(), None),
        };
        let need = |v: Option<&str>| {
            v.map(str::to_string)
                .ok_or_else(|| format!("invalid field '{f}' must be a key=value pair"))
        };
        match k.as_str() {
            "type" => {}
            "target" | "dst" | "destination" => spec.target = Some(need(v)?),
            "source" | "src" => spec.source = Some(need(v)?),
            "from" => spec.from = Some(need(v)?),
            "id" => spec.id = Some(need(v)?),
            "readonly" | "ro" => spec.read_only = parse_bool(&k, v)?,
            "readwrite" | "rw" => spec.read_only = !parse_bool(&k, v)?,
            "required" => spec.required = parse_bool(&k, v)?,
            "sharing" => {
                let s = need(v)?;
                if !matches!(s.as_str(), "shared" | "private" | "locked") {
                    return Err(format!("unsupported sharing value {s:?}"));
                }
                spec.sharing = Some(s);
            }
            "mode" => spec.mode = Some(parse_u32(&k, v, 8)?),
            "uid" => spec.uid = Some(parse_u32(&k, v, 10)?),
            "gid" => spec.gid = Some(parse_u32(&k, v, 10)?),
            "size" => {
                let s = need(v)?;
                spec.size = Some(parse_size(&s).ok_or_else(|| format!("invalid size {s:?}"))?);
            }
            "env" => spec.env = Some(need(v)?),
            _ => return Err(format!("unexpected key '{k}' in '{f}'")),
        }
    }
    match spec.kind {
        MountType::Secret | MountType::Ssh => {}
        _ if spec.target.is_none() => return Err("mount target is required".into()),
        _ => {}
    }
    if spec.kind == MountType::Secret
        && spec.id.is_none()
        && spec.target.is_none()
        && spec.env.is_none()
    {
        return Err("secret mount requires an id or target".into());
    }
    Ok(spec)
}

fn parse_size(s: &str) -> Option<u64> {
    let lower = s.to_lowercase();
    let (num, mult) = match lower.trim_end_matches('b').chars().last()? {
        'k' => (&lower[..lower.find('k')?], 1u64 << 10),
        'm' => (&lower[..lower.find('m')?], 1 << 20),
        'g' => (&lower[..lower.find('g')?], 1 << 30),
        _ => (lower.trim_end_matches('b'), 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// Parses a Go duration (`1h2m3.5s`, `300ms`, `0`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[u..];
        total += value * unit;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_meta_args() {
        let df = parse_dockerfile(
            "ARG B=busybox\nFROM $B AS one\nRUN echo\nFROM one\nCOPY --from=one a b\n",
        )
        .expect("parse");
        assert_eq!(
            df.meta_args,
            vec![("B".to_string(), Some("busybox".to_string()))]
        );
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stage_index("ONE"), Some(0));
        assert_eq!(df.stage_index("1"), Some(1));
    }

    #[test]
    fn bad_inputs_have_lines() {
        let e = parse_dockerfile("FROM a\nFOO bar\n").expect_err("unknown");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unknown instruction"));
        let e = parse_dockerfile("FROM a\nRUN --bogus=1 x\n").expect_err("flag");
        assert_eq!((e.line, e.message.as_str()), (2, "unknown flag: bogus"));
        let e = parse_dockerfile("FROM a\n\nCOPY --link=maybe a b\n").expect_err("bool");
        assert_eq!(e.line, 3);
        let e = parse_dockerfile("FROM a\nRUN --mount=type=cache echo\n").expect_err("mount");
        assert!(e.message.contains("target"));
        assert!(parse_dockerfile("RUN x\n").is_err());
        assert!(parse_dockerfile("FROM a\nONBUILD ONBUILD RUN x\n").is_err());
    }

    #[test]
    fn mounts_and_health() {
        let m =
            parse_mount("type=cache,target=/c,id=x,sharing=locked,mode=0755,uid=1").expect("mount");
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.mode, Some(0o755));
        assert!(!m.read_only);
        let df = parse_dockerfile("FROM a\nHEALTHCHECK --interval=1m30s --retries=3 CMD curl x\n")
            .expect("parse");
        match &df.stages[0].instructions[0].instruction {
            Instruction::Healthcheck(Healthcheck::Check {
                test,
                interval,
                retries,
                ..
            }) => {
                assert_eq!(test, &vec!["CMD-SHELL".to_string(), "curl x".to_string()]);
                assert_eq!(*interval, Some(Duration::from_secs(90)));
                assert_eq!(*retries, Some(3));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn onbuild_keeps_trigger_text() {
        let df = parse_dockerfile("FROM a\nONBUILD RUN echo hi\n").expect("parse");
        assert_eq!(
            df.stages[0].instructions[0].instruction,
            Instruction::Onbuild("RUN echo hi".into())
        );
    }
}
