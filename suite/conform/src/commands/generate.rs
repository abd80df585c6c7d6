//! What `conform model` and `conform fuzz` share: the started setup and the model's view of
//! it, the reseed before each sequence, the seed, and the transcripts and scenario files of
//! what they find.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use model::exec::{Dir, Env, TranscriptLine};
use model::ModelError;

use crate::error::CliError;
use crate::setup::{fixture_messages, Ready, Setup};

/// A runtime, the started setup (it keeps the bundled server running) and the model's view
/// of it.
pub struct Started {
    /// Runs the sequences' I/O.
    pub runtime: tokio::runtime::Runtime,
    /// The target, login and reseed.
    pub ready: Ready,
    /// The model's view: endpoint and announced capabilities.
    pub env: Env,
    /// The standard fixture's messages.
    pub fixture: Vec<Vec<u8>>,
}

impl Started {
    /// Starts the runtime and `setup`, and discovers what the target's CAPA announces.
    pub fn new(setup: &Setup) -> Result<Started, CliError> {
        let runtime = super::runtime()?;
        let ready = runtime.block_on(setup.start())?;
        let mut env = Env {
            endpoint: ready.case_env(setup.io_timeout)?.endpoint,
            caps: Default::default(),
        };
        env.caps = runtime.block_on(model::check::discover(&env));
        Ok(Started {
            runtime,
            ready,
            env,
            fixture: fixture_messages(),
        })
    }

    /// Restores the maildrop before each sequence, where the target can be restored.
    pub fn reseed(&self) -> impl Fn() -> Result<(), fixture::ReseedError> + Sync {
        let reseed = self.ready.reseed.clone();
        move || reseed.as_ref().map_or(Ok(()), |r| r())
    }

    /// Why the sequences could not start, as an error with its exit code: a failed reseed
    /// is a setup error (2), a target that cannot be inspected is unreachable (3).
    pub fn error(&self, e: ModelError) -> CliError {
        match e {
            ModelError::Reseed(_) => CliError::Restore(e.to_string()),
            ModelError::Inspect(_) => {
                CliError::Unreachable(format!("target {}: {e}", self.env.endpoint.target))
            }
        }
    }
}

/// The seed given, or one from the clock.
pub fn seed_or_clock(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    })
}

/// Prints a wire log, one line per entry.
pub fn print_transcript(transcript: &[TranscriptLine]) {
    for e in transcript {
        let dir = match e.dir {
            Dir::Client => "C:",
            Dir::Server => "S:",
            Dir::Note => "#:",
        };
        println!("  [{:>7.1?}] {:<5} {dir} {}", e.at, e.conn, e.text);
    }
}

/// Writes a scenario into `dir` as `name` and checks that it compiles (a writer bug is
/// reported, not hidden); the path written.
pub fn write_scenario(dir: &Path, name: &str, text: &str) -> Result<PathBuf, CliError> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    match scenario::load_paths(std::slice::from_ref(&path)) {
        Ok(_) => Ok(path),
        Err(diagnostics) => Err(CliError::WrittenScenario { path, diagnostics }),
    }
}
