//! The builder: stages, steps, the layer cache, snapshots and the final image.
//!
//! Each step runs on a snapshot of the previous one (`container-image`'s overlay
//! snapshotter); `RUN` runs in a `container-core` container on it, `COPY`/`ADD`/`WORKDIR`
//! write into it; the snapshot's upper directory becomes the step's layer (sorted tar,
//! times clamped) and the snapshot is committed under the layer's chain id, so the next
//! step, the next build and `store.unpack` share it. Stages the target does not need are
//! skipped; the others run as soon as the stages they use (`FROM`, `COPY --from`,
//! `RUN --mount=from=`) are built, independent ones at the same time on threads (at most
//! [`BuildOptions::max_parallel_stages`]). Scheduling changes only the order of progress
//! events, never the image: each stage's result depends only on its inputs.

use crate::cache::{self, Cache, CacheEntry};
use crate::config::{self as cfgx, DEFAULT_PATH};
use crate::context::{self, BuildContext, PatternMatcher};
use crate::copy;
use crate::error::{BuildError, IoCtx, Result};
use crate::instructions::{
    CommandLine, CopySpec, Dockerfile, Instruction, Located, MountType, NetworkMode,
};
use crate::progress::BuildEvent;
use crate::shell::Lexer;
use crate::stage;
use crate::users::resolve_user;
use container_image::image::HistoryItem;
use container_image::image::Platform;
use container_image::registry::RegistryOptions;
use container_image::{Digest, Image, ImageConfig, Layer, Store};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// What to build and how.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile (default `<context>/Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    /// `--build-arg NAME=value`.
    pub build_args: BTreeMap<String, String>,
    /// `--target`: the stage to build (default: the last).
    pub target: Option<String>,
    /// `--label`s added to the image.
    pub labels: BTreeMap<String, String>,
    /// Names to tag the image with.
    pub tags: Vec<String>,
    /// Run every step even when the cache has it.
    pub no_cache: bool,
    /// Timestamp for `created`, history and clamped file times; `None`: the
    /// `SOURCE_DATE_EPOCH` environment variable, else 0 (reproducible by default).
    pub source_date_epoch: Option<i64>,
    /// Secrets for `RUN --mount=type=secret` by id: files on the host.
    pub secrets: BTreeMap<String, PathBuf>,
    /// Runtime root for the `RUN` containers (default `/run/berth/build`).
    pub runtime_root: Option<PathBuf>,
    /// SSH agent sockets (or private key files) for `RUN --mount=type=ssh` by id
    /// (`--ssh default=$SSH_AUTH_SOCK`).
    pub ssh: BTreeMap<String, PathBuf>,
    /// How many independent stages may build at once (default: the available
    /// parallelism of the machine, at least 2; 1 builds stage after stage).
    pub max_parallel_stages: Option<usize>,
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The image written to the store.
    pub image: Image,
    /// Steps run or reused.
    pub steps: usize,
    /// Steps taken from the cache.
    pub cached_steps: usize,
}

/// Builds Dockerfiles into images of a [`Store`].
#[derive(Debug, Clone)]
pub struct Builder {
    pub(crate) store: Store,
    cache: Cache,
}

/// The image state of a stage between steps.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) config: ImageConfig,
    pub(crate) layers: Vec<Layer>,
    pub(crate) key: String,
    pub(crate) args: Vec<(String, String)>,
    pub(crate) cmd_set: bool,
}

impl State {
    pub(crate) fn lookup(&self, name: &str) -> Option<String> {
        cfgx::get_env(&self.config, name).or_else(|| {
            self.args
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    fn args_repr(&self) -> String {
        let mut a = self.args.clone();
        a.sort();
        a.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What a finished stage leaves for later stages.
#[derive(Debug, Clone)]
pub(crate) struct StageResult {
    pub(crate) config: ImageConfig,
    pub(crate) layers: Vec<Layer>,
    pub(crate) key: String,
}

/// What a stage thread tells the thread that schedules stages.
pub(crate) enum Msg {
    /// A progress event, passed on to the caller's callback.
    Event(BuildEvent),
    /// A stage finished.
    Done(usize, Box<Result<StageResult>>),
}

/// The state of one build, shared by the threads of its stages.
pub(crate) struct Run<'a> {
    pub(crate) opts: &'a BuildOptions,
    pub(crate) df: &'a Dockerfile,
    pub(crate) ctx: BuildContext,
    pub(crate) epoch: i64,
    pub(crate) created: String,
    pub(crate) lexer: Lexer,
    pub(crate) results: Mutex<Vec<Option<StageResult>>>,
    pub(crate) globals: BTreeMap<String, String>,
    pub(crate) number: AtomicUsize,
    pub(crate) total: AtomicUsize,
    pub(crate) cached: AtomicUsize,
    pub(crate) events: mpsc::Sender<Msg>,
    /// Files fetched for `ADD <url>` by URL, kept for the build's length.
    pub(crate) downloads: Mutex<BTreeMap<String, crate::remote::Downloaded>>,
    /// Repositories checked out for `ADD <repo>.git`, by source and `--keep-git-dir`.
    pub(crate) checkouts: Mutex<BTreeMap<(String, bool), crate::remote::GitCheckout>>,
    /// Where downloads and checkouts are (removed when the build ends).
    pub(crate) download_dir: PathBuf,
}

impl Run<'_> {
    /// Send a progress event to the caller (through the scheduling thread).
    pub(crate) fn emit(&self, e: BuildEvent) {
        let _ = self.events.send(Msg::Event(e));
    }

    /// The file of `ADD <url>`, downloaded on first use in this build.
    pub(crate) fn download(
        &self,
        url: &str,
        checksum: Option<&str>,
    ) -> Result<crate::remote::Downloaded> {
        if let Some(d) = self.downloads.lock().ok().and_then(|m| m.get(url).cloned()) {
            if let Some(c) = checksum
                && !c.eq_ignore_ascii_case(&d.digest)
            {
                return Err(BuildError::Invalid(format!(
                    "{url}: checksum mismatch: expected {c}, the download is {}",
                    d.digest
                )));
            }
            return Ok(d);
        }
        let d = crate::remote::download(url, &self.download_dir, checksum)?;
        if let Ok(mut m) = self.downloads.lock() {
            m.insert(url.to_string(), d.clone());
        }
        Ok(d)
    }

    /// The checkout of `ADD <repo>.git#ref`, cloned on first use in this build.
    pub(crate) fn git(&self, src: &str, keep_git_dir: bool) -> Result<crate::remote::GitCheckout> {
        let key = (src.to_string(), keep_git_dir);
        if let Some(c) = self
            .checkouts
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(c);
        }
        let c = crate::remote::git_checkout(src, &self.download_dir, keep_git_dir)?;
        if let Ok(mut m) = self.checkouts.lock() {
            m.insert(key, c.clone());
        }
        Ok(c)
    }

    /// The result of stage `i`, once built.
    pub(crate) fn result(&self, i: usize) -> Option<StageResult> {
        self.results
            .lock()
            .ok()
            .and_then(|r| r.get(i).cloned().flatten())
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{t:x}-{n}", std::process::id())
}

pub(crate) fn shell_err(e: crate::shell::ShellError) -> BuildError {
    BuildError::Invalid(e.to_string())
}

impl Builder {
    /// A builder over `store`.
    pub fn new(store: Store) -> Builder {
        let cache = Cache::new(&store);
        Builder { store, cache }
    }

    /// The store images are built into.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Forget the layer cache (layers stay in the store until GC).
    pub fn clear_cache(&self) -> Result<()> {
        self.cache.clear()
    }

    /// Build as `opts` say; `progress` sees every event. Nothing is written before the
    /// Dockerfile parsed and its stages and context sources checked out.
    pub fn build(
        &self,
        opts: &BuildOptions,
        progress: &mut dyn FnMut(&BuildEvent),
    ) -> Result<BuildOutput> {
        let df_path = opts
            .dockerfile
            .clone()
            .unwrap_or_else(|| opts.context.join("Dockerfile"));
        let text = std::fs::read_to_string(&df_path).ctx("read Dockerfile", &df_path)?;
        let df =
            crate::instructions::parse_dockerfile(&text).map_err(|e| BuildError::Dockerfile {
                file: df_path.display().to_string(),
                line: e.line,
                message: e.message,
            })?;
        let ctx = BuildContext::open(&opts.context, Some(&df_path))?;
        for t in &opts.tags {
            container_image::Reference::parse(t)?;
        }
        let epoch = opts
            .source_date_epoch
            .or_else(|| {
                std::env::var("SOURCE_DATE_EPOCH")
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0);
        let created = chrono::DateTime::from_timestamp(epoch, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let globals = stage::global_args(&df, &opts.build_args);
        let target = match &opts.target {
            Some(t) => df.stage_index(t).ok_or_else(|| {
                BuildError::NotFound(format!("target stage {t:?} could not be found"))
            })?,
            None => df.stages.len() - 1,
        };
        let needed = stage::needed(&df, target, &globals);
        let total = needed
            .iter()
            .map(|i| df.stages[*i].instructions.len())
            .sum();
        let (tx, rx) = mpsc::channel();
        let run = Run {
            opts,
            df: &df,
            ctx,
            epoch,
            created,
            lexer: Lexer::new(df.escape),
            results: Mutex::new(vec![None; df.stages.len()]),
            globals,
            number: AtomicUsize::new(0),
            total: AtomicUsize::new(total),
            cached: AtomicUsize::new(0),
            events: tx,
            downloads: Mutex::new(BTreeMap::new()),
            checkouts: Mutex::new(BTreeMap::new()),
            download_dir: self
                .store
                .root()
                .join("tmp")
                .join(unique("build-downloads")),
        };
        let built = self.check(&run, &needed).and_then(|()| {
            for i in 0..df.stages.len() {
                if !needed.contains(&i) {
                    progress(&BuildEvent::StageSkipped { stage: i });
                }
            }
            self.run_stages(&run, &needed, &rx, progress)
        });
        if run.download_dir.exists() {
            let _ = std::fs::remove_dir_all(&run.download_dir);
        }
        built?;
        let Some(mut result) = run.result(target) else {
            return Err(BuildError::NotFound(
                "the target stage was not built".into(),
            ));
        };
        if !opts.labels.is_empty() {
            let l: Vec<(String, String)> = opts.labels.clone().into_iter().collect();
            cfgx::add_labels(&mut result.config, &l);
        }
        if let Some(o) = result.config.raw_mut().as_object_mut() {
            o.insert("created".into(), json!(run.created));
        }
        let image = self.store.write_image(
            &result.config,
            &result.layers,
            opts.tags.first().map(String::as_str),
        )?;
        for t in opts.tags.iter().skip(1) {
            self.store.set_tag(
                &container_image::Reference::parse(t)?,
                &image.manifest_digest,
            )?;
        }
        progress(&BuildEvent::Done {
            image_id: image.id().to_string(),
            manifest_digest: image.manifest_digest.to_string(),
            tags: opts.tags.clone(),
        });
        Ok(BuildOutput {
            image,
            steps: run.number.load(Ordering::SeqCst),
            cached_steps: run.cached.load(Ordering::SeqCst),
        })
    }

    /// Build the `needed` stages, each on its own thread as soon as the stages it uses
    /// are done, at most `max_parallel_stages` at once; events go to `progress` on this
    /// thread. After a failure no new stage starts; the first error (in Dockerfile order
    /// among those that failed) is returned once the running stages have stopped.
    fn run_stages(
        &self,
        run: &Run<'_>,
        needed: &[usize],
        rx: &mpsc::Receiver<Msg>,
        progress: &mut dyn FnMut(&BuildEvent),
    ) -> Result<()> {
        let limit = run
            .opts
            .max_parallel_stages
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
                    .max(2)
            })
            .max(1);
        let deps: BTreeMap<usize, BTreeSet<usize>> = needed
            .iter()
            .map(|&i| {
                (
                    i,
                    stage::dependencies(run.df, i, &run.globals)
                        .into_iter()
                        .collect(),
                )
            })
            .collect();
        let mut pending: BTreeSet<usize> = needed.iter().copied().collect();
        let mut done: BTreeSet<usize> = BTreeSet::new();
        let mut errors: BTreeMap<usize, BuildError> = BTreeMap::new();
        std::thread::scope(|scope| {
            let mut running = 0usize;
            loop {
                if errors.is_empty() {
                    let ready: Vec<usize> = pending
                        .iter()
                        .copied()
                        .filter(|i| deps[i].is_subset(&done))
                        .take(limit.saturating_sub(running))
                        .collect();
                    for i in ready {
                        pending.remove(&i);
                        running += 1;
                        let tx = run.events.clone();
                        scope.spawn(move || {
                            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                self.build_stage(run, i)
                            }))
                            .unwrap_or_else(|_| {
                                Err(BuildError::Invalid(format!(
                                    "the thread building stage {i} panicked"
                                )))
                            });
                            let _ = tx.send(Msg::Done(i, Box::new(r)));
                        });
                    }
                }
                if running == 0 {
                    break;
                }
                match rx.recv() {
                    Ok(Msg::Event(e)) => progress(&e),
                    Ok(Msg::Done(i, r)) => {
                        running -= 1;
                        match *r {
                            Ok(res) => {
                                if let Ok(mut all) = run.results.lock() {
                                    all[i] = Some(res);
                                }
                                done.insert(i);
                            }
                            Err(e) => {
                                errors.insert(i, e);
                            }
                        }
                    }
                    // Cannot happen while `run` holds a sender; stop waiting if it does.
                    Err(_) => break,
                }
            }
        });
        // Events sent after the last `Done` was received.
        while let Ok(m) = rx.try_recv() {
            if let Msg::Event(e) = m {
                progress(&e);
            }
        }
        match errors.into_iter().next() {
            Some((_, e)) => Err(e),
            None if pending.is_empty() => Ok(()),
            None => Err(BuildError::Invalid(
                "stages left unbuilt: their dependencies never finished".into(),
            )),
        }
    }

    /// Checks done before any side effect: `--from` names, context sources that leave
    /// the context or are missing.
    fn check(&self, run: &Run<'_>, needed: &[usize]) -> Result<()> {
        for &i in needed {
            let st = &run.df.stages[i];
            let mut args: BTreeMap<String, String> = BTreeMap::new();
            let auto = stage::automatic_args();
            for l in &st.instructions {
                let at = |e: BuildError| e.at(l.line, &l.original);
                let lookup = |n: &str| args.get(n).cloned();
                match &l.instruction {
                    Instruction::Arg(list) => {
                        let mut new = Vec::new();
                        for (k, d) in list {
                            let v = run
                                .opts
                                .build_args
                                .get(k)
                                .cloned()
                                .or_else(|| {
                                    d.as_ref().map(|d| {
                                        run.lexer.process_word(d, &lookup).unwrap_or_default()
                                    })
                                })
                                .or_else(|| run.globals.get(k).cloned())
                                .or_else(|| auto.get(k).cloned());
                            new.push((k.clone(), v.unwrap_or_default()));
                        }
                        args.extend(new);
                    }
                    Instruction::Env(pairs) => {
                        let mut new = Vec::new();
                        for (k, v) in pairs {
                            new.push((
                                k.clone(),
                                run.lexer.process_word(v, &lookup).unwrap_or_default(),
                            ));
                        }
                        args.extend(new);
                    }
                    Instruction::Copy(c) | Instruction::Add(c) => {
                        if let Some(from) = &c.from {
                            let name = run
                                .lexer
                                .process_word(from, &lookup)
                                .map_err(shell_err)
                                .map_err(at)?;
                            self.check_from(run, i, &name).map_err(at)?;
                            continue;
                        }
                        for s in &c.sources {
                            if c.heredocs.iter().any(|h| {
                                s.trim_start_matches("<<-").trim_start_matches("<<") == h.name
                            }) || is_url(s)
                            {
                                continue;
                            }
                            let src = run
                                .lexer
                                .process_word(s, &lookup)
                                .map_err(shell_err)
                                .map_err(at)?;
                            match run.ctx.resolve_sources(&src) {
                                Ok(_) => {}
                                Err(e @ BuildError::OutsideContext(_)) => return Err(at(e)),
                                Err(e) if !s.contains('$') => return Err(at(e)),
                                Err(_) => {}
                            }
                        }
                    }
                    Instruction::Run { mounts, .. } => {
                        for m in mounts {
                            if let Some(from) = &m.from {
                                let name = run
                                    .lexer
                                    .process_word(from, &lookup)
                                    .map_err(shell_err)
                                    .map_err(at)?;
                                self.check_from(run, i, &name).map_err(at)?;
                            }
                            if m.kind == MountType::Ssh {
                                let id = m.id.clone().unwrap_or_else(|| "default".into());
                                if !run.opts.ssh.contains_key(&id) && m.required {
                                    return Err(at(BuildError::NotFound(format!(
                                        "no SSH agent socket or key given for --mount=type=ssh,id={id} (BuildOptions::ssh, --ssh {id}=PATH)"
                                    ))));
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// `--from=name` of stage `i`: an earlier stage, an image in the store, or an image
    /// pulled now from its registry.
    fn check_from(&self, run: &Run<'_>, i: usize, name: &str) -> Result<()> {
        if run.df.stage_index(name).is_some_and(|s| s < i) {
            return Ok(());
        }
        match self.image_or_pull(name, None) {
            Ok(_) => Ok(()),
            Err(e) => Err(BuildError::NotFound(format!(
                "--from={name}: no earlier build stage and no image in the store has this name, and pulling it failed: {e}"
            ))),
        }
    }

    fn base_state(&self, run: &Run<'_>, idx: usize) -> Result<(State, Vec<Located>)> {
        let st = &run.df.stages[idx];
        let globals = run.globals.clone();
        let lookup = |n: &str| globals.get(n).cloned();
        let base = run
            .lexer
            .process_word(&st.base, &lookup)
            .map_err(shell_err)
            .map_err(|e| e.at(st.line, &format!("FROM {}", st.base)))?;
        run.emit(BuildEvent::StageStarted {
            stage: idx,
            name: st.name.clone(),
            base: base.clone(),
        });
        let epoch_key = format!("epoch={}", run.epoch);
        let (config, layers, key) = if base.eq_ignore_ascii_case("scratch") {
            (
                ImageConfig::default(),
                Vec::new(),
                cache::key(&["scratch", &epoch_key]),
            )
        } else if let Some(r) = run
            .df
            .stage_index(&base)
            .filter(|&s| s < idx)
            .and_then(|s| run.result(s))
        {
            (r.config, r.layers, r.key)
        } else {
            let platform = match &st.platform {
                Some(p) => {
                    let mut scope = stage::automatic_args();
                    scope.extend(run.globals.clone());
                    let p = run
                        .lexer
                        .process_word(p, &|n| scope.get(n).cloned())
                        .map_err(shell_err)
                        .and_then(|p| stage::runnable_platform(&p))
                        .map_err(|e| e.at(st.line, &format!("FROM --platform={p} {base}")))?;
                    Some(p)
                }
                None => None,
            };
            let img = self
                .image_or_pull(&base, platform.as_ref())
                .map_err(|e| e.at(st.line, &format!("FROM {base}")))?;
            let k = cache::key(&["image", &img.manifest_digest.to_string(), &epoch_key]);
            (img.config, img.layers, k)
        };
        let mut state = State {
            config,
            layers,
            key,
            args: Vec::new(),
            cmd_set: false,
        };
        // Triggers of the base run first; the child's own ONBUILDs replace them.
        let mut steps = Vec::new();
        if let Some(triggers) = state.config.on_build() {
            for t in triggers {
                let text = format!("FROM scratch\n{t}\n");
                let parsed = crate::instructions::parse_dockerfile(&text).map_err(|e| {
                    BuildError::Dockerfile {
                        file: format!("ONBUILD trigger of {base}"),
                        line: st.line,
                        message: e.message,
                    }
                })?;
                for mut l in parsed.stages.into_iter().flat_map(|s| s.instructions) {
                    l.line = st.line;
                    l.end_line = st.line;
                    steps.push(l);
                }
            }
            run.total.fetch_add(steps.len(), Ordering::SeqCst);
        }
        state.config.set("OnBuild", None);
        if cfgx::get_env(&state.config, "PATH").is_none() {
            cfgx::set_env(&mut state.config, "PATH", DEFAULT_PATH);
        }
        steps.extend(st.instructions.iter().cloned());
        Ok((state, steps))
    }

    /// The image `name` from the store, else pulled from its registry (plain HTTP for
    /// loopback registries, credentials from the Docker config) with the manifest of
    /// `platform` (default: this host) chosen from an index. A local image whose config
    /// names another platform is refused.
    pub(crate) fn image_or_pull(&self, name: &str, platform: Option<&Platform>) -> Result<Image> {
        let img = match self.store.image(name) {
            Ok(i) => i,
            Err(container_image::Error::NotFound { .. }) => {
                let store = self.store.clone();
                let name = name.to_string();
                let platform = platform.cloned();
                std::thread::scope(|s| {
                    s.spawn(move || -> Result<Image> {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .ctx("start a runtime for", Path::new("pull"))?;
                        let client = container_image::registry::Client::new(RegistryOptions {
                            platform,
                            ..Default::default()
                        })?;
                        Ok(rt.block_on(client.pull(&store, &name, None))?)
                    })
                    .join()
                    .unwrap_or_else(|_| Err(BuildError::Invalid("pull thread panicked".into())))
                })?
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(p) = platform {
            let arch = img.config.architecture();
            let os = img.config.raw()["os"].as_str().map(str::to_string);
            if arch.as_ref().is_some_and(|a| *a != p.architecture)
                || os.as_ref().is_some_and(|o| *o != p.os)
            {
                return Err(BuildError::Invalid(format!(
                    "image {name} is for {}/{}, not {p}",
                    os.unwrap_or_default(),
                    arch.unwrap_or_default()
                )));
            }
        }
        Ok(img)
    }

    fn build_stage(&self, run: &Run<'_>, idx: usize) -> Result<StageResult> {
        let (mut state, steps) = self.base_state(run, idx)?;
        for l in &steps {
            let number = run.number.fetch_add(1, Ordering::SeqCst) + 1;
            run.emit(BuildEvent::Step {
                stage: idx,
                number,
                total: run.total.load(Ordering::SeqCst),
                line: l.line,
                text: l.original.clone(),
            });
            let started = Instant::now();
            let (cached, layer) = self
                .step(run, idx, &mut state, l, number)
                .map_err(|e| e.at(l.line, &l.original))?;
            if cached {
                run.cached.fetch_add(1, Ordering::SeqCst);
            }
            run.emit(BuildEvent::StepDone {
                number,
                cached,
                layer: layer.map(|l| l.digest.to_string()),
                elapsed: started.elapsed(),
            });
        }
        Ok(StageResult {
            config: state.config,
            layers: state.layers,
            key: state.key,
        })
    }

    /// One step through the cache; returns (cached, layer made).
    fn step(
        &self,
        run: &Run<'_>,
        idx: usize,
        state: &mut State,
        l: &Located,
        number: usize,
    ) -> Result<(bool, Option<Layer>)> {
        // Scope changes happen whether or not the step is cached.
        match &l.instruction {
            Instruction::Arg(list) => {
                let auto = stage::automatic_args();
                for (k, d) in list {
                    let v = match run.opts.build_args.get(k) {
                        Some(v) => Some(v.clone()),
                        None => match d {
                            Some(d) => Some(
                                run.lexer
                                    .process_word(d, &|n| state.lookup(n))
                                    .map_err(shell_err)?,
                            ),
                            None => run.globals.get(k).cloned().or_else(|| auto.get(k).cloned()),
                        },
                    };
                    state.args.retain(|(n, _)| n != k);
                    if let Some(v) = v {
                        state.args.push((k.clone(), v));
                    }
                }
            }
            Instruction::Cmd(_) => state.cmd_set = true,
            _ => {}
        }
        let extra = self.content_key(run, state, l)?;
        let key = cache::key(&[
            &state.key,
            &format!("{:?}", l.instruction),
            &state.args_repr(),
            &extra,
        ]);
        if !run.opts.no_cache
            && let Some(e) = self.cache.get(&self.store, &key)
        {
            run.emit(BuildEvent::Cached { number });
            state.config = ImageConfig::from_value(e.config)?;
            state.layers = e.layers;
            state.key = key;
            return Ok((true, e.layer));
        }
        let layer = self.execute(run, idx, state, l, number)?;
        state.key = key.clone();
        self.cache.put(
            &key,
            &CacheEntry {
                config: state.config.raw().clone(),
                layers: state.layers.clone(),
                layer: layer.clone(),
            },
        )?;
        Ok((false, layer))
    }

    /// The part of a cache key that the instruction text does not show: the contents
    /// of COPY/ADD sources and RUN bind-mount sources, and which stage `--from` names.
    fn content_key(&self, run: &Run<'_>, state: &State, l: &Located) -> Result<String> {
        let mut h = Sha256::new();
        let lookup = |n: &str| state.lookup(n);
        let stage_key = |name: &str| -> Result<Option<String>> {
            let name = run.lexer.process_word(name, &lookup).map_err(shell_err)?;
            if let Some(r) = run.df.stage_index(&name).and_then(|s| run.result(s)) {
                return Ok(Some(r.key));
            }
            Ok(self
                .store
                .image(&name)
                .ok()
                .map(|i| i.manifest_digest.to_string()))
        };
        match &l.instruction {
            Instruction::Copy(c) | Instruction::Add(c) => {
                if let Some(from) = &c.from {
                    h.update(stage_key(from)?.unwrap_or_default());
                } else {
                    let excl = PatternMatcher::new(&c.exclude)?;
                    for s in &c.sources {
                        if is_url(s) {
                            let url = run.lexer.process_word(s, &lookup).map_err(shell_err)?;
                            if crate::remote::is_git(&url) {
                                let g = run.git(&url, c.keep_git_dir)?;
                                h.update(url.as_bytes());
                                h.update(g.commit.as_bytes());
                                continue;
                            }
                            let d = run.download(&url, c.checksum.as_deref())?;
                            h.update(url.as_bytes());
                            h.update(d.digest.as_bytes());
                            h.update(format!("{:?}", d.mtime).as_bytes());
                            continue;
                        }
                        if is_heredoc_source(c, s) {
                            continue;
                        }
                        let src = run.lexer.process_word(s, &lookup).map_err(shell_err)?;
                        for (rel, abs) in run.ctx.resolve_sources(&src)? {
                            h.update(rel.as_bytes());
                            let ctx = &run.ctx;
                            let skip =
                                |r: &str| ctx.is_ignored(&format!("{rel}/{r}")) || excl.matches(r);
                            context::hash_tree(&abs, &skip, &mut h)?;
                        }
                    }
                }
            }
            Instruction::Run { mounts, .. } => {
                for m in mounts {
                    if m.kind != MountType::Bind {
                        continue;
                    }
                    match &m.from {
                        Some(f) => h.update(stage_key(f)?.unwrap_or_default()),
                        None => {
                            let src = m.source.clone().unwrap_or_default();
                            for (_, abs) in run.ctx.resolve_sources(&src)? {
                                context::hash_tree(&abs, &|r| run.ctx.is_ignored(r), &mut h)?;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(hex::encode(h.finalize()))
    }

    fn history(&self, run: &Run<'_>, state: &mut State, created_by: String, empty: bool) {
        state.config.push_history(HistoryItem {
            created: Some(run.created.clone()),
            created_by: Some(created_by),
            author: None,
            comment: if empty {
                None
            } else {
                Some("buildkit.dockerfile.v0".into())
            },
            empty_layer: empty,
        });
    }

    fn execute(
        &self,
        run: &Run<'_>,
        idx: usize,
        state: &mut State,
        l: &Located,
        number: usize,
    ) -> Result<Option<Layer>> {
        let word = |state: &State, s: &str| -> Result<String> {
            run.lexer
                .process_word(s, &|n| state.lookup(n))
                .map_err(shell_err)
        };
        let original = l.original.trim().to_string();
        match &l.instruction {
            Instruction::Arg(_) => Ok(None),
            Instruction::Env(pairs) => {
                let mut out = Vec::new();
                for (k, v) in pairs {
                    out.push((word(state, k)?, word(state, v)?));
                }
                let mut msg = String::from("ENV");
                for (k, v) in &out {
                    cfgx::set_env(&mut state.config, k, v);
                    msg.push_str(&format!(" {k}={v}"));
                }
                self.history(run, state, msg, true);
                Ok(None)
            }
            Instruction::Label(pairs) => {
                let mut out = Vec::new();
                for (k, v) in pairs {
                    out.push((word(state, k)?, word(state, v)?));
                }
                cfgx::add_labels(&mut state.config, &out);
                let msg = out
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                self.history(run, state, format!("LABEL {msg}"), true);
                Ok(None)
            }
            Instruction::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    out.push(word(state, p)?);
                }
                cfgx::add_exposed(&mut state.config, &out)?;
                self.history(run, state, format!("EXPOSE map[{}]", out.join(" ")), true);
                Ok(None)
            }
            Instruction::Volume(vols) => {
                let mut out = Vec::new();
                for v in vols {
                    let v = word(state, v)?;
                    if v.is_empty() {
                        return Err(BuildError::Invalid(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    out.push(v);
                }
                cfgx::add_volumes(&mut state.config, &out);
                self.history(run, state, format!("VOLUME {out:?}"), true);
                Ok(None)
            }
            Instruction::User(u) => {
                let u = word(state, u)?;
                state.config.set("User", Some(json!(u)));
                self.history(run, state, format!("USER {u}"), true);
                Ok(None)
            }
            Instruction::StopSignal(s) => {
                let s = word(state, s)?;
                cfgx::check_signal(&s)?;
                state.config.set("StopSignal", Some(json!(s)));
                self.history(run, state, format!("STOPSIGNAL {s}"), true);
                Ok(None)
            }
            Instruction::Maintainer(m) => {
                if let Some(o) = state.config.raw_mut().as_object_mut() {
                    o.insert("author".into(), json!(m));
                }
                self.history(run, state, format!("MAINTAINER {m}"), true);
                Ok(None)
            }
            Instruction::Healthcheck(h) => {
                state.config.set("Healthcheck", Some(cfgx::healthcheck(h)));
                self.history(run, state, original, true);
                Ok(None)
            }
            Instruction::Onbuild(t) => {
                let mut v = state.config.on_build().unwrap_or_default();
                v.push(t.clone());
                state.config.set("OnBuild", Some(json!(v)));
                self.history(run, state, format!("ONBUILD {t}"), true);
                Ok(None)
            }
            Instruction::Shell(s) => {
                state.config.set("Shell", Some(json!(s)));
                self.history(run, state, format!("SHELL {}", json!(s)), true);
                Ok(None)
            }
            Instruction::Cmd(c) => {
                let argv = cfgx::argv(&state.config, c);
                state.config.set("Cmd", Some(json!(argv)));
                self.history(run, state, format!("CMD {}", json!(argv)), true);
                Ok(None)
            }
            Instruction::Entrypoint(c) => {
                let argv = cfgx::argv(&state.config, c);
                state.config.set(
                    "Entrypoint",
                    if argv.is_empty() {
                        None
                    } else {
                        Some(json!(argv))
                    },
                );
                if !state.cmd_set {
                    state.config.set("Cmd", None);
                }
                self.history(run, state, format!("ENTRYPOINT {}", json!(argv)), true);
                Ok(None)
            }
            Instruction::Workdir(w) => {
                let w = word(state, w)?;
                let dir = cfgx::workdir(&state.config, &w);
                state.config.set("WorkingDir", Some(json!(dir)));
                // Like BuildKit and buildah: missing directories belong to USER.
                let user = state.config.user().unwrap_or_default();
                let layer = self.layer_step(run.epoch, state, true, |rootfs| {
                    let owner = if user.is_empty() {
                        None
                    } else {
                        let (u, g, _) = resolve_user(rootfs, &user)?;
                        Some((u, g))
                    };
                    copy::mkdir_all(rootfs, &dir, owner)?;
                    Ok(())
                })?;
                let empty = layer.is_none();
                self.history(run, state, format!("WORKDIR {dir}"), empty);
                Ok(layer)
            }
            Instruction::Copy(c) | Instruction::Add(c) => {
                let is_add = matches!(l.instruction, Instruction::Add(_));
                let layer = self.copy_step(run, state, c, is_add)?;
                self.history(run, state, format!("{original} # buildkit"), false);
                Ok(layer)
            }
            Instruction::Run {
                command,
                mounts,
                network,
                insecure,
                heredocs,
            } => {
                if *insecure {
                    return Err(BuildError::Unsupported("RUN --security=insecure".into()));
                }
                let argv = match command {
                    CommandLine::Exec(v) => v.clone(),
                    CommandLine::Shell(s) => {
                        let mut v = cfgx::shell(&state.config);
                        let lone = heredocs.len() == 1
                            && s.trim()
                                .trim_start_matches("<<")
                                .trim_start_matches('-')
                                .trim_matches(|c| c == '"' || c == '\'')
                                == heredocs[0].name;
                        if lone {
                            v.push(heredocs[0].content.clone());
                        } else {
                            let mut script = s.clone();
                            for h in heredocs {
                                script.push('\n');
                                script.push_str(&h.content);
                                script.push_str(&h.name);
                            }
                            v.push(script);
                        }
                        v
                    }
                };
                let mut env = state.config.env();
                let prefix_args: Vec<String> = {
                    let mut a = state.args.clone();
                    a.sort();
                    a.iter().map(|(k, v)| format!("{k}={v}")).collect()
                };
                for (k, v) in &state.args {
                    if cfgx::get_env(&state.config, k).is_none() {
                        env.push(format!("{k}={v}"));
                    }
                }
                if !env.iter().any(|e| e.starts_with("PATH=")) {
                    env.push(format!("PATH={DEFAULT_PATH}"));
                }
                let host = *network == NetworkMode::Host;
                let layer = self.run_step(run, idx, state, &argv, env, mounts, host, number)?;
                let by = if prefix_args.is_empty() {
                    format!("RUN {} # buildkit", argv.join(" "))
                } else {
                    format!(
                        "RUN |{} {} {} # buildkit",
                        prefix_args.len(),
                        prefix_args.join(" "),
                        argv.join(" ")
                    )
                };
                self.history(run, state, by, false);
                Ok(layer)
            }
        }
    }

    /// Make sure the committed snapshots of `layers` exist; returns the top chain id.
    pub(crate) fn ensure_snapshot(&self, layers: &[Layer]) -> Result<Option<Digest>> {
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let chain = container_image::digest::chain_ids(&diff_ids);
        let snaps = self.store.snapshots();
        if let Some(top) = chain.last()
            && snaps.exists(&top.to_string())?
        {
            return Ok(Some(top.clone()));
        }
        let mut parent: Option<Digest> = None;
        for (layer, id) in layers.iter().zip(&chain) {
            if !snaps.exists(&id.to_string())? {
                let key = unique("build-unpack");
                snaps.prepare(&key, parent.as_ref())?;
                let applied = (|| -> Result<()> {
                    let upper = snaps.upper_dir(&key)?;
                    let lowers = snaps.lower_dirs(&key)?;
                    let blob = self.store.content().open_blob(&layer.digest)?;
                    container_image::layer::apply(
                        std::io::BufReader::new(blob),
                        &upper,
                        &container_image::layer::ApplyOptions {
                            whiteouts: container_image::layer::WhiteoutMode::Overlay,
                            lowers,
                            expected_diff_id: Some(layer.diff_id.clone()),
                            no_chown: false,
                        },
                    )?;
                    Ok(())
                })();
                if let Err(e) = applied {
                    let _ = snaps.remove(&key);
                    return Err(e);
                }
                self.commit_snapshot(&key, id)?;
            }
            parent = Some(id.clone());
        }
        Ok(parent)
    }

    fn commit_snapshot(&self, key: &str, chain: &Digest) -> Result<()> {
        let snaps = self.store.snapshots();
        match snaps.commit(key, &chain.to_string()) {
            Ok(()) => Ok(()),
            Err(container_image::Error::AlreadyExists { .. }) => Ok(snaps.remove(key)?),
            Err(e) => {
                let _ = snaps.remove(key);
                Err(e.into())
            }
        }
    }

    /// Run `f` on a writable snapshot of `state`'s rootfs (mounted); its changes become
    /// a layer on `state` (none when nothing changed and `allow_empty`).
    pub(crate) fn layer_step(
        &self,
        epoch: i64,
        state: &mut State,
        allow_empty: bool,
        f: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<Option<Layer>> {
        let parent = self.ensure_snapshot(&state.layers)?;
        let snaps = self.store.snapshots();
        let key = unique("build");
        let mounts = snaps.prepare(&key, parent.as_ref())?;
        let bundle = self.store.root().join("tmp").join(&key);
        let rootfs = bundle.join("rootfs");
        let worked = (|| -> Result<()> {
            std::fs::create_dir_all(&rootfs).ctx("create", &rootfs)?;
            container_image::Mount::mount_all(&mounts, &rootfs)?;
            let r = f(&rootfs);
            let u = container_image::unmount(&rootfs);
            r?;
            u?;
            Ok(())
        })();
        let _ = std::fs::remove_dir_all(&bundle);
        if let Err(e) = worked {
            let _ = snaps.remove(&key);
            return Err(e);
        }
        let made = (|| -> Result<Option<Layer>> {
            let upper = snaps.upper_dir(&key)?;
            let empty = std::fs::read_dir(&upper)
                .ctx("read", &upper)?
                .next()
                .is_none();
            if empty && allow_empty {
                snaps.remove(&key)?;
                return Ok(None);
            }
            let layer = container_image::diff::create_layer(
                &self.store,
                &upper,
                &container_image::diff::DiffOptions {
                    source_date_epoch: Some(epoch),
                    compression: container_image::layer::Compression::Gzip,
                },
            )?;
            let mut ids: Vec<Digest> = state.layers.iter().map(|l| l.diff_id.clone()).collect();
            ids.push(layer.diff_id.clone());
            let chain = container_image::digest::chain_ids(&ids);
            if let Some(top) = chain.last() {
                self.commit_snapshot(&key, top)?;
            }
            Ok(Some(layer))
        })();
        match made {
            Ok(Some(layer)) => {
                state.layers.push(layer.clone());
                Ok(Some(layer))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                let _ = snaps.remove(&key);
                Err(e)
            }
        }
    }

    /// Mount a read-only view of `layers` and run `f` on it.
    pub(crate) fn with_view<T>(
        &self,
        layers: &[Layer],
        f: impl FnOnce(&Path) -> Result<T>,
    ) -> Result<T> {
        let dir = self.store.root().join("tmp").join(unique("build-view"));
        std::fs::create_dir_all(&dir).ctx("create", &dir)?;
        let top = match self.ensure_snapshot(layers) {
            Ok(t) => t,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let Some(top) = top else {
            let r = f(&dir);
            let _ = std::fs::remove_dir_all(&dir);
            return r;
        };
        let snaps = self.store.snapshots();
        let key = unique("build-view");
        let r = (|| -> Result<T> {
            let mounts = snaps.view(&key, Some(&top))?;
            container_image::Mount::mount_all(&mounts, &dir)?;
            let r = f(&dir);
            let u = container_image::unmount(&dir);
            let v = r?;
            u?;
            Ok(v)
        })();
        let _ = snaps.remove(&key);
        let _ = std::fs::remove_dir(&dir);
        r
    }

    /// The layers of the stage or image `name` (for `--from`).
    pub(crate) fn layers_of(&self, run: &Run<'_>, name: &str) -> Result<Vec<Layer>> {
        if let Some(r) = run.df.stage_index(name).and_then(|s| run.result(s)) {
            return Ok(r.layers);
        }
        match self.store.image(name) {
            Ok(i) => Ok(i.layers),
            Err(_) => Err(BuildError::NotFound(format!(
                "--from={name}: no earlier build stage and no image in the store has this name"
            ))),
        }
    }
}

pub(crate) fn is_url(s: &str) -> bool {
    s.starts_with("http://")
        || s.starts_with("https://")
        || s.starts_with("git@")
        || s.starts_with("git://")
}

pub(crate) fn is_heredoc_source(c: &CopySpec, s: &str) -> bool {
    c.heredocs.iter().any(|h| {
        s.trim_start_matches("<<")
            .trim_start_matches('-')
            .trim_matches(|c| c == '"' || c == '\'')
            == h.name
    })
}
