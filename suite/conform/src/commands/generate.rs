//! What `conform model` and `conform fuzz` share: the started setup and the model's view of
//! it, the reseed before each sequence, the seed, and the transcripts and scenario files of
//! what they find.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use model::exec::{Dir, Env, TranscriptLine};
use model::ModelError;
use runner::{Profile, Reseed};

use crate::bundled;
use crate::error::CliError;
use crate::setup::{fixture_messages, Destination, Ready, Setup};

/// A runtime, the started setup (it keeps the bundled server running) and the model's view
/// of it.
pub struct Started {
    /// Runs the bundled server, kept for as long as this lives (the sequences run on
    /// runtimes of their own, one per job).
    _runtime: tokio::runtime::Runtime,
    /// The target, login and reseed.
    pub ready: Ready,
    /// The model's view: endpoint and announced capabilities.
    pub env: Env,
    /// The standard fixture's messages.
    pub fixture: Vec<Vec<u8>>,
    /// One account per job: its login and how to restore its maildrop.
    pub accounts: Vec<(Profile, Option<Reseed>)>,
    /// The reseeds put the same maildrop in place every time (the bundled server's memory
    /// store): each account is inspected once.
    pub exact_reseed: bool,
    /// Starts a server of a job's own (the bundled server's replicas), on the job's runtime.
    host: Option<Box<HostFn>>,
}

/// What [`model::Account::host`] calls.
type HostFn = dyn Fn()
        -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<model::jobs::Hosted, String>>>>
    + Sync;

impl Started {
    /// Starts the runtime and `setup` with an account for each of `jobs` jobs, and discovers
    /// what the target's CAPA announces. The bundled server gets a user per job; a target
    /// has the accounts of `--user` (repeatable), and more jobs than accounts is a usage error
    /// (two jobs on one maildrop would see each other's deletions and locks).
    pub fn new(setup: &Setup, jobs: usize) -> Result<Started, CliError> {
        let jobs = jobs.max(1);
        if let Destination::External { accounts, .. } = &setup.destination {
            let accounts: Vec<&str> = accounts.iter().map(|a| a.user.as_str()).collect();
            if jobs > accounts.len() {
                return Err(CliError::Usage(format!(
                    "--jobs {jobs} needs {jobs} accounts on the target, one maildrop per job \
                     (two jobs on one maildrop see each other's deletions and locks), and the \
                     setup gives {} ({}): run with --jobs {}",
                    accounts.len(),
                    accounts.join(", "),
                    accounts.len()
                )));
            }
        }
        let runtime = super::runtime()?;
        let mut host = None;
        let (ready, exact_reseed) = match &setup.destination {
            Destination::Bundled(options) => {
                let (server, replicas) =
                    runtime.block_on(bundled::start_for_model(options.clone(), jobs))?;
                host = Some(replicas);
                // the server listens on 127.0.0.1, which its certificate names too: an
                // address, not `localhost`, so that no connection waits for a name lookup
                // (a blocking-pool thread and /etc/hosts read per connection)
                let mut target = server.target;
                target.host = "127.0.0.1".into();
                let ready = Ready::new(target, server.accounts, Some(server.server));
                (ready, true)
            }
            Destination::External { .. } => (runtime.block_on(setup.start())?, false),
        };
        // one account per job (the pool has at least as many: checked above, or made so)
        let accounts = ready
            .accounts
            .iter()
            .take(jobs)
            .map(|a| (a.profile.clone(), a.reseed.clone()))
            .collect();
        let mut env = Env {
            endpoint: ready.case_env(setup.io_timeout)?.endpoint,
            caps: Default::default(),
        };
        // a plaintext target gets its TLS configuration made once too: every STLS (the
        // fuzzer's STLS injection) shares it instead of building its own
        if env.endpoint.tls.is_none() {
            env.endpoint.tls = ready.target.client_config().ok();
        }
        env.caps = runtime.block_on(model::check::discover(&env));
        Ok(Started {
            _runtime: runtime,
            ready,
            env,
            fixture: fixture_messages(),
            accounts,
            exact_reseed,
            host: host.map(|replicas: bundled::Replicas| -> Box<HostFn> {
                Box::new(move || {
                    let replicas = replicas.clone();
                    Box::pin(async move {
                        let (server, port) =
                            replicas.start().await.map_err(|e| format!("{e:#}"))?;
                        Ok((port, Box::new(server) as Box<dyn Send>))
                    })
                })
            }),
        })
    }

    /// The accounts as the model takes them, one per job.
    pub fn accounts(&self) -> Vec<model::Account<'_>> {
        self.accounts
            .iter()
            .map(|(profile, reseed)| model::Account {
                profile: profile.clone(),
                reseed: reseed
                    .as_deref()
                    .map(|r| r as &(dyn Fn() -> Result<(), fixture::ReseedError> + Sync)),
                exact_reseed: self.exact_reseed,
                host: self.host.as_deref().map(|h| h as model::jobs::Host<'_>),
            })
            .collect()
    }

    /// Why the sequences could not start, as an error with its exit code: a failed reseed
    /// is a setup error (2), a target that cannot be inspected is unreachable (3).
    pub fn error(&self, e: ModelError) -> CliError {
        match e {
            ModelError::Reseed(_) => CliError::Restore(e.to_string()),
            ModelError::Inspect(_) => {
                CliError::Unreachable(format!("target {}: {e}", self.env.endpoint.target))
            }
            ModelError::NoAccount | ModelError::Runtime(_) => CliError::Other(e.into()),
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
/// reported, not hidden); the path written. A folder or file that cannot be written is
/// [`CliError::Report`] (exit 4) naming the path and the OS error.
pub fn write_scenario(dir: &Path, name: &str, text: &str) -> Result<PathBuf, CliError> {
    let unwritten = |to: &Path, error: std::io::Error| {
        CliError::Report(vec![runner::ReportError {
            report: "scenario",
            to: to.display().to_string(),
            error,
        }])
    };
    std::fs::create_dir_all(dir).map_err(|e| unwritten(dir, e))?;
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| unwritten(&path, e))?;
    match scenario::load_paths(std::slice::from_ref(&path)) {
        Ok(_) => Ok(path),
        Err(diagnostics) => Err(CliError::WrittenScenario { path, diagnostics }),
    }
}
