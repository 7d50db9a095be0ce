//! Progress events of a build, for CLIs and tests.

use std::time::Duration;

/// One thing that happened during a build, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// A stage starts (`FROM ...`).
    StageStarted {
        /// Index of the stage in the Dockerfile.
        stage: usize,
        /// Its name (`AS name`), if any.
        name: Option<String>,
        /// The base as written after expansion.
        base: String,
    },
    /// A stage is not needed for the target and is skipped.
    StageSkipped {
        /// Index of the stage.
        stage: usize,
    },
    /// A step starts.
    Step {
        /// Stage index.
        stage: usize,
        /// 1-based step number within the build.
        number: usize,
        /// Total number of steps that will run.
        total: usize,
        /// Line of the instruction.
        line: usize,
        /// The instruction text.
        text: String,
    },
    /// The step was found in the layer cache and not run.
    Cached {
        /// Step number.
        number: usize,
    },
    /// A line a `RUN` command wrote to stdout or stderr.
    Output {
        /// Step number.
        number: usize,
        /// The line without its newline.
        line: String,
    },
    /// A step finished.
    StepDone {
        /// Step number.
        number: usize,
        /// True when it came from the cache.
        cached: bool,
        /// The layer it made (`None` for metadata-only steps).
        layer: Option<String>,
        /// How long it took.
        elapsed: Duration,
    },
    /// The image was written (and tagged).
    Done {
        /// Image id (config digest).
        image_id: String,
        /// Manifest digest.
        manifest_digest: String,
        /// Tags set.
        tags: Vec<String>,
    },
}

impl BuildEvent {
    /// A one-line rendering in the style of Docker's classic builder.
    pub fn to_line(&self) -> Option<String> {
        match self {
            BuildEvent::StageStarted { .. } | BuildEvent::StageSkipped { .. } => None,
            BuildEvent::Step {
                number,
                total,
                text,
                ..
            } => Some(format!(
                "Step {number}/{total} : {}",
                text.lines().next().unwrap_or_default()
            )),
            BuildEvent::Cached { .. } => Some(" ---> Using cache".into()),
            BuildEvent::Output { line, .. } => Some(line.clone()),
            BuildEvent::StepDone { layer, elapsed, .. } => Some(match layer {
                Some(l) => format!(
                    " ---> {} ({:.2}s)",
                    l.strip_prefix("sha256:")
                        .unwrap_or(l)
                        .get(..12)
                        .unwrap_or(l),
                    elapsed.as_secs_f64()
                ),
                None => format!(" ---> done ({:.2}s)", elapsed.as_secs_f64()),
            }),
            BuildEvent::Done { image_id, tags, .. } => {
                let mut s = format!(
                    "Successfully built {}",
                    image_id
                        .strip_prefix("sha256:")
                        .unwrap_or(image_id)
                        .get(..12)
                        .unwrap_or(image_id)
                );
                for t in tags {
                    s.push_str(&format!("\nSuccessfully tagged {t}"));
                }
                Some(s)
            }
        }
    }
}
