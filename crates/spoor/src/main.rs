//! The spoor binary: the command line, logging, and the service lifecycle.

// Input from the network or a file must never panic the process; tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod components;
mod logging;
mod service;
mod storage;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use spoor_pipeline::component::Components;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options: background threads hand freed pages back to the kernel within about a
/// second, so RSS follows what is allocated, which is what the memory limiter and users see.
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// The configuration used when no `--config` is given.
const DEFAULT_CONFIG: &str = include_str!("default-config.yaml");

/// spoor: an OpenTelemetry-Collector-compatible trace pipeline and Jaeger-compatible backend.
#[derive(Debug, Parser)]
#[command(name = "spoor", version, about, long_about = None)]
struct Cli {
    /// A collector YAML file; give it several times to merge files, later ones winning.
    #[arg(long = "config", global = true, value_name = "FILE")]
    config: Vec<PathBuf>,

    /// Where the embedded trace storage keeps its data, overriding every embedded backend's
    /// `path` (each in DIR/<backend> when there are several); default ./spoor-data.
    #[arg(long = "data-dir", global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the configuration and exit: 0 when valid, 1 with the first error.
    Validate,
    /// List the component types this binary can build, with their aliases.
    Components,
    /// Print the effective configuration (files merged, references expanded, secrets shown as
    /// [REDACTED]), or, with a subcommand, another configuration helper.
    Config(ConfigArgs),
    /// Jaeger's es-rollover job: set up (init), roll over (rollover) or trim (lookback) the
    /// read/write aliases of an Elasticsearch/OpenSearch backend with `use_aliases: true`.
    #[command(name = "es-rollover")]
    EsRollover {
        #[command(subcommand)]
        command: spoor_elastic::jobs::rollover::RolloverCommand,
    },
    /// Jaeger's es-index-cleaner: delete the Elasticsearch/OpenSearch indices older than
    /// NUM_OF_DAYS days.
    #[command(name = "es-index-cleaner")]
    EsIndexCleaner(spoor_elastic::jobs::cleaner::CleanerArgs),
    /// Jaeger's spark-dependencies job: compute a day's service links from the spans in
    /// Elasticsearch/OpenSearch and store them for /api/dependencies.
    #[command(name = "es-dependencies")]
    EsDependencies(spoor_elastic::jobs::dependencies::DependenciesArgs),
}

#[derive(Debug, clap::Args)]
struct ConfigArgs {
    #[command(subcommand)]
    command: Option<ConfigCommand>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the built-in configuration that runs when no --config is given.
    Default,
}

fn main() -> ExitCode {
    // One TLS crypto provider for the whole process, whatever features the dependencies enable.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Config(ConfigArgs { command: Some(ConfigCommand::Default) })) => {
            print!("{DEFAULT_CONFIG}");
            ExitCode::SUCCESS
        }
        Some(Command::Config(ConfigArgs { command: None })) => print_config(&cli.config),
        Some(Command::Components) => match registry() {
            Ok(registry) => {
                print!("{}", components::describe(&registry));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Some(Command::Validate) => match prepare(&cli.config, cli.data_dir.as_deref()) {
            Ok(_) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Some(Command::EsRollover { command }) => run_job(spoor_elastic::jobs::rollover::run(command)),
        Some(Command::EsIndexCleaner(args)) => run_job(async move { spoor_elastic::jobs::cleaner::run(&args).await }),
        Some(Command::EsDependencies(args)) => {
            run_job(async move { spoor_elastic::jobs::dependencies::run(&args).await })
        }
        None => match prepare(&cli.config, cli.data_dir.as_deref()) {
            Ok((config, components)) => run(config, components),
            Err(code) => code,
        },
    }
}

/// Loads and checks the config, starts the log it configures (so that `validate` prints the
/// same warnings as a run), and decodes the components. On error, says why and gives the exit
/// code.
fn prepare(paths: &[PathBuf], data_dir: Option<&Path>) -> Result<(spoor_config::Config, Components), ExitCode> {
    let registry = registry()?;
    let config = load(paths).map_err(|err| fail(&err))?;
    logging::init(&config.service.telemetry.logs).map_err(|err| fail(&err))?;
    let mut components = registry.decode(&config).map_err(|err| fail(&err))?;
    set_data_dir(&mut components, data_dir);
    Ok((config, components))
}

/// The component factories; an error is a bug in the list, not in the config.
fn registry() -> Result<spoor_pipeline::component::Registry, ExitCode> {
    components::factories().map_err(|err| {
        eprintln!("error: {err}");
        ExitCode::from(1)
    })
}

fn load(paths: &[PathBuf]) -> Result<spoor_config::Config, spoor_config::ConfigError> {
    if paths.is_empty() {
        return spoor_config::load_sources(&[("<built-in default>".to_owned(), DEFAULT_CONFIG.to_owned())]);
    }
    spoor_config::load_files(paths)
}

/// Applies `--data-dir` to every embedded backend, and says so: a config's literal `path` is
/// overridden, never silently kept.
fn set_data_dir(components: &mut Components, data_dir: Option<&Path>) {
    let Some(dir) = data_dir else { return };
    let moved = storage::relocate_data(components.data_paths(), dir);
    if moved.is_empty() {
        tracing::warn!(data_dir = %dir.display(), "--data-dir has no effect: no embedded trace storage is configured");
    }
    for (backend, path) in moved {
        tracing::info!(backend, path = %path.display(), "--data-dir overrides the embedded backend's path");
    }
}

/// Prints the config a run would use, as the collector's `print-config` does in its default
/// redacted mode. It only loads the files; `validate` checks the components.
fn print_config(paths: &[PathBuf]) -> ExitCode {
    let config = match load(paths) {
        Ok(config) => config,
        Err(err) => return fail(&err),
    };
    match config.to_redacted_yaml() {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: cannot print the configuration: {err}");
            ExitCode::from(1)
        }
    }
}

/// Runs one of the Elasticsearch jobs with an info log on stderr: 0 when it succeeded, 1 with
/// the reason when not.
fn run_job(job: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    let logs = spoor_config::LogsConfig::default();
    if let Err(err) = logging::init(&logs) {
        eprintln!("error: {err}");
        return ExitCode::from(1);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(job) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}

fn fail(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: invalid configuration: {err}");
    ExitCode::from(1)
}

fn run(config: spoor_config::Config, components: Components) -> ExitCode {
    // As the Go runtime does: idle sockets on one port must not use up the descriptors that
    // the other listeners need.
    match spoor_net::limits::raise_open_files_limit() {
        Ok(limit) => tracing::debug!(limit, "open files limit"),
        Err(err) => tracing::warn!("cannot raise the open files limit: {err}"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(service::run(config, components)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::from(1)
        }
    }
}
