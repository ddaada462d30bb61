//! `s3pp`, the command line over the function's core: `validate` and `schema` for policy
//! authors, `plan` and `scan` to see (or, with `--apply`, do) what the policy does to objects
//! that already exist, `manifest` for S3 Batch Operations backfills. Configured like the
//! function (`--policy FILE`, or `POLICY` / `POLICY_FILE`; the SDK's credential, region and
//! endpoint variables; `S3_FORCE_PATH_STYLE`), and objects go through the same
//! [`crate::reconcile::reconcile`] the function runs. One module per concern: [`scan`] (list and
//! reconcile), [`manifest`], [`replay`] (failed events back to the function), [`output`]
//! (tables, CSV, JSON).

pub mod batch_report;
pub mod fetched;
pub mod interrupt;
pub mod inventory;
pub mod inventory_output;
pub mod journal;
pub mod manifest;
pub mod output;
pub mod replay;
pub mod scan;

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Config, ConfigError};
use crate::kms_aliases::RegionalKeyError;
use crate::object::{ObjectLocation, ObjectRef};
use crate::reconcile::{Options, Outcome, reconcile};
use crate::store::StoreError;

/// Brings S3 objects in line with a policy: check a policy, see what it would do, apply it.
#[derive(Debug, Parser)]
#[command(name = "s3pp", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a policy document; prints the error with its field path when it is invalid.
    Validate(PolicyArgs),
    /// Print the JSON Schema of the policy document (for editors and CI checks).
    Schema,
    /// HEAD one object and print what the policy would do to it; writes nothing.
    Plan {
        /// The policy.
        #[command(flatten)]
        policy: PolicyArgs,
        /// The object, `s3://bucket/key`.
        object: S3Url,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Reconcile every object under a prefix: a dry run unless `--apply`.
    Scan {
        /// The policy.
        #[command(flatten)]
        policy: PolicyArgs,
        /// The bucket and optional key prefix, `s3://bucket[/prefix]`.
        target: S3Url,
        /// Write: apply each object's plan (default: only plan and report).
        #[arg(long)]
        apply: bool,
        /// Objects reconciled at once (default `MAX_CONCURRENCY`, else 48).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1000))]
        concurrency: Option<u16>,
        /// Output format: `json` is the function's report (`dry_run`, `objects`, `summary`).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Append one JSON line per object changed (or, in a dry run, to change) or failed to
        /// this file, flushed as each object is done.
        #[arg(long, value_name = "FILE")]
        journal: Option<PathBuf>,
        /// Also the noncurrent versions of objects whose rule backs up all versions
        /// (`backup.all_versions`), into the backup key's history.
        #[arg(long)]
        versions: bool,
    },
    /// Write an S3 Batch Operations CSV manifest (`bucket,key`, keys URL-encoded) of every
    /// object under a prefix, for backfills too large for `scan --apply`.
    Manifest {
        /// The bucket and optional key prefix, `s3://bucket[/prefix]`.
        target: S3Url,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Read a Batch Operations job's completion report back: tasks per result code, per
    /// outcome, failures per S3 error code; optionally a manifest of the failed tasks.
    BatchReport {
        /// The report's `manifest.json` (which lists its result files and their MD5) or one
        /// result file (CSV), as a path or `s3://bucket/key`.
        source: String,
        /// Write a Batch Operations manifest (`bucket,key[,version]`) of the failed tasks here,
        /// to run them again.
        #[arg(long, value_name = "FILE")]
        failed_manifest: Option<PathBuf>,
        /// Output format (`table` or `json`).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Judge every object of an S3 Inventory delivery against the policy, with no request per
    /// object: a drift report (objects, bytes and estimated cost per rule, outcome and reason),
    /// a Batch Operations manifest of only the objects that need or may need work, and the
    /// `create-job` input that runs the function over it.
    Inventory {
        /// The policy.
        #[command(flatten)]
        policy: PolicyArgs,
        /// The delivery's `manifest.json`, a path or `s3://bucket/key` (its `manifest.checksum`
        /// and data files are found from it).
        source: String,
        /// Write the Batch Operations manifest (CSV `bucket,key[,version]`, keys URL-encoded)
        /// of the objects that need or may need work here.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Upload that manifest to `s3://bucket/key` (PutObject), for the job.
        #[arg(long, value_name = "S3_URL")]
        upload_manifest: Option<S3Url>,
        /// Write the `aws s3control create-job --cli-input-json` input here; needs
        /// `--upload-manifest`, `--function`, `--role` and `--report`.
        #[arg(long, value_name = "FILE", requires_all = ["upload_manifest", "function", "role", "report"])]
        job: Option<PathBuf>,
        /// The function's ARN (the stack's `FunctionArn` output).
        #[arg(long, value_name = "ARN")]
        function: Option<String>,
        /// The role Batch Operations assumes (the `BatchOperationsRoleArn` output).
        #[arg(long, value_name = "ARN")]
        role: Option<String>,
        /// Where the job's completion report goes, `s3://bucket/prefix` (the stack's role may
        /// write under `batch-reports/` of the backup bucket).
        #[arg(long, value_name = "S3_URL")]
        report: Option<S3Url>,
        /// Create the job ready to run (default: it waits for `update-job-status
        /// --requested-job-status Ready`).
        #[arg(long)]
        no_confirmation: bool,
        /// The job's priority.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i32).range(0..))]
        priority: i32,
        /// Prices that differ from the built-in table (YAML or JSON; `s3pp prices` prints it).
        #[arg(long, value_name = "FILE")]
        prices: Option<PathBuf>,
        /// Output format (`table` or `json`).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Print the built-in price table `s3pp inventory` estimates costs with (YAML), to start a
    /// `--prices` file from.
    Prices,
    /// Send failed events back to the function: the failure queue's records (direct delivery)
    /// or the dead-letter queue's events (queue delivery). A dry run unless `--apply`; a
    /// message is deleted only once its event was processed (or queued) again.
    Replay {
        /// The queue holding the failed events: the stack's `FailureQueueUrl` or
        /// `EventDeadLetterQueueUrl` output.
        #[arg(long, value_name = "QUEUE_URL")]
        from: String,
        /// Invoke this function (name or ARN: the `FunctionArn` output) with each event and
        /// wait for its answer.
        #[arg(
            long,
            value_name = "FUNCTION",
            conflicts_with = "to_queue",
            required_unless_present = "to_queue"
        )]
        function: Option<String>,
        /// Put each event back on this queue instead (the `EventQueueUrl` output).
        #[arg(long, value_name = "QUEUE_URL")]
        to_queue: Option<String>,
        /// Replay and delete (default: only read, print, and leave the messages).
        #[arg(long)]
        apply: bool,
        /// At most this many messages.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
        max: u32,
        /// Output format (`table` or `json`).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Where the policy comes from.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// Policy document (JSON or YAML); default: `POLICY` (inline) or `POLICY_FILE`.
    #[arg(long, short = 'p', value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable tables.
    Table,
    /// The function's JSON report.
    Json,
    /// One CSV row per object.
    Csv,
}

/// `s3://bucket/key-or-prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// Bucket name.
    pub bucket: String,
    /// Key or prefix (may be empty).
    pub key: String,
}

impl FromStr for S3Url {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{text:?} is not an s3:// URL; write s3://bucket/key"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{text:?} names no bucket; write s3://bucket/key"));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }
}

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The configuration or policy is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A KMS key in the policy cannot be resolved or is in the wrong region.
    #[error(transparent)]
    Keys(#[from] RegionalKeyError),
    /// Listing the bucket failed.
    #[error("listing s3://{bucket}/{prefix} failed: {source}")]
    List {
        /// Bucket.
        bucket: String,
        /// Prefix.
        prefix: String,
        /// The S3 error.
        #[source]
        source: StoreError,
    },
    /// A queue request failed.
    #[error("{action} {queue} failed: {message}")]
    Queue {
        /// What was being done.
        action: &'static str,
        /// The queue URL.
        queue: String,
        /// The SQS error.
        message: String,
    },
    /// A completion report cannot be read.
    #[error(transparent)]
    Report(#[from] crate::batch_report::ReportError),
    /// The journal cannot be written.
    #[error("cannot write the journal {path:?}: {source}")]
    Journal {
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A usage problem clap cannot see.
    #[error("{0}")]
    Usage(String),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the configuration like the function, with `--policy FILE` standing for `POLICY_FILE`.
pub fn load_config(args: &PolicyArgs) -> Result<Config, ConfigError> {
    let file = args
        .policy
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    Config::from_lookup(|name| match (name, &file) {
        ("POLICY", Some(_)) => None,
        ("POLICY_FILE", Some(path)) => Some(path.clone()),
        _ => std::env::var(name).ok(),
    })
}

/// Runs a parsed command line; the exit code is 0 on success, 1 when a policy is invalid, an
/// object failed or the work could not be done.
pub async fn run(cli: Cli) -> ExitCode {
    match dispatch(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode, CliError> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Validate(args) => {
            let config = load_config(&args)?;
            let rules = config.policy.rules.len();
            eprintln!(
                "policy is valid: {rules} rule{}",
                if rules == 1 { "" } else { "s" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            use std::io::Write;
            out.write_all(crate::policy::schema::policy_schema().as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan {
            policy,
            object,
            format,
        } => {
            if object.key.is_empty() {
                return Err(CliError::Usage(format!(
                    "s3://{}/ names no object; write s3://bucket/key",
                    object.bucket
                )));
            }
            let mut config = load_config(&policy)?;
            let store = crate::setup::connect(&mut config).await?;
            let options = Options {
                dry_run: true,
                copy: config.copy.clone(),
                deadline: None,
                server: config.server,
                facts: Default::default(),
            };
            let target = ObjectRef {
                location: ObjectLocation::current(&object.bucket, &object.key),
                etag: None,
                size: None,
                sequencer: None,
                event_name: None,
                alternate_key: None,
            };
            let report = reconcile(&store, &config.policy, &target, &options).await;
            output::write_plan(&mut out, &report, format)?;
            Ok(if report.outcome == Outcome::Failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Scan {
            policy,
            target,
            apply,
            concurrency,
            format,
            journal,
            versions,
        } => {
            let mut config = load_config(&policy)?;
            let store = crate::setup::connect(&mut config).await?;
            let dry_run = !apply || config.dry_run || config.policy.dry_run;
            if apply && dry_run {
                eprintln!("note: DRY_RUN or the policy's dry_run is set; nothing will be written");
            }
            let options = Options {
                dry_run,
                copy: config.copy.clone(),
                deadline: None,
                server: config.server,
                facts: Default::default(),
            };
            let concurrency = concurrency.map_or(config.max_concurrency, usize::from);
            let mut journal = journal
                .map(|path| journal::Journal::open(&path, dry_run))
                .transpose()?;
            let mut output = output::ScanOutput::start(&mut out, format, dry_run)?;
            let progress = scan::progress_bar();
            let (totals, failure) = scan::scan(
                &store,
                &config.policy,
                &target,
                &options,
                scan::Coverage { versions },
                concurrency,
                &progress,
                interrupt::first_interrupt(),
                |report| {
                    if let Some(journal) = journal.as_mut() {
                        journal.record(&report)?;
                    }
                    output.object(&report).map_err(CliError::from)
                },
            )
            .await;
            progress.finish_and_clear();
            output.finish(&totals)?;
            if let Some(failure) = failure {
                return Err(failure);
            }
            Ok(if totals.interrupted {
                ExitCode::from(interrupt::INTERRUPTED)
            } else if totals.failed() > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Manifest { target, output } => {
            let force_path_style = crate::config::force_path_style(|n| std::env::var(n).ok())?;
            let store = crate::setup::connect_without_policy(force_path_style).await;
            let count = match output {
                Some(path) => {
                    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
                    manifest::write_manifest(&store, &target, &mut file).await?
                }
                None => manifest::write_manifest(&store, &target, &mut out).await?,
            };
            eprintln!("{count} objects");
            Ok(ExitCode::SUCCESS)
        }
        Command::BatchReport {
            source,
            failed_manifest,
            format,
        } => {
            if format == Format::Csv {
                return Err(CliError::Usage(
                    "batch-report prints a table or JSON (--format table|json)".into(),
                ));
            }
            let source =
                fetched::Source::parse(&source, "the report's manifest.json or a result file")?;
            let s3 = fetched::client_for(&[&source]).await?;
            let mut manifest_file = failed_manifest
                .as_ref()
                .map(|path| std::fs::File::create(path).map(std::io::BufWriter::new))
                .transpose()?;
            let found = batch_report::read(
                &source,
                s3.as_ref(),
                manifest_file.as_mut().map(|f| f as &mut dyn std::io::Write),
            )
            .await?;
            output::write_batch_report(&mut out, &found, format)?;
            Ok(if found.summary.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Inventory {
            policy,
            source,
            manifest,
            upload_manifest,
            job,
            function,
            role,
            report,
            no_confirmation,
            priority,
            prices,
            format,
        } => {
            if format == Format::Csv {
                return Err(CliError::Usage(
                    "inventory prints a table or JSON (--format table|json); the CSV it writes is --manifest".into(),
                ));
            }
            let config = load_config(&policy)?;
            let prices = match prices {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        CliError::Usage(format!("cannot read {}: {e}", path.display()))
                    })?;
                    crate::inventory::prices::Prices::with_overrides(
                        &text,
                        &path.display().to_string(),
                    )
                    .map_err(|e| CliError::Usage(e.to_string()))?
                }
                None => crate::inventory::prices::Prices::default(),
            };
            let source = fetched::Source::parse(&source, "the inventory's manifest.json")?;
            let needs_s3 =
                matches!(source, fetched::Source::S3 { .. }) || upload_manifest.is_some();
            let s3 = if needs_s3 {
                Some(fetched::s3_client().await?)
            } else {
                None
            };
            let temporary = match (&manifest, &upload_manifest) {
                (None, Some(_)) => Some(
                    tempfile::Builder::new()
                        .prefix("s3pp-manifest-")
                        .tempfile()?,
                ),
                _ => None,
            };
            let manifest_path = manifest
                .clone()
                .or_else(|| temporary.as_ref().map(|t| t.path().to_owned()));
            let mut manifest_file = manifest_path
                .as_ref()
                .map(inventory::create_manifest_file)
                .transpose()?;
            let settings = inventory::Settings {
                policy: &config.policy,
                update_encryption: config.server.update_object_encryption,
                prices: &prices,
                copy: &config.copy,
            };
            let run = inventory::read(
                &source,
                s3.as_ref(),
                &settings,
                manifest_file.as_mut().map(|f| f as &mut dyn std::io::Write),
            )
            .await?;
            drop(manifest_file);
            let mut notes = Vec::new();
            if let Some(path) = &manifest {
                notes.push(format!(
                    "manifest: {} objects -> {}",
                    run.manifest_rows,
                    path.display()
                ));
            }
            if let (Some(target), Some(path)) = (&upload_manifest, &manifest_path) {
                let client = s3
                    .as_ref()
                    .ok_or_else(|| CliError::Usage("no S3 client".into()))?;
                let uploaded = inventory::upload(client, path, target).await?;
                notes.push(format!(
                    "manifest uploaded: s3://{}/{} (ETag {})",
                    target.bucket, target.key, uploaded.etag
                ));
                if let (Some(job_path), Some(function), Some(role), Some(report)) =
                    (&job, function, role, report)
                {
                    let spec = crate::inventory::job::JobSpec {
                        function_arn: function,
                        role_arn: role,
                        manifest: crate::inventory::job::ManifestObject {
                            bucket: target.bucket.clone(),
                            key: target.key.clone(),
                            etag: uploaded.etag,
                            version_id: uploaded.version_id,
                            with_versions: run.with_versions,
                        },
                        report_bucket: report.bucket,
                        report_prefix: report.key,
                        confirmation_required: !no_confirmation,
                        priority,
                        description: format!(
                            "s3pp backfill of s3://{}: {} objects from the inventory of {}",
                            run.source_bucket,
                            run.manifest_rows,
                            inventory_output::epoch_date(run.taken)
                        ),
                    };
                    let input = crate::inventory::job::create_job_input(&spec)
                        .map_err(|e| CliError::Usage(e.to_string()))?;
                    let text =
                        serde_json::to_string_pretty(&input).map_err(std::io::Error::from)?;
                    std::fs::write(job_path, format!("{text}\n"))?;
                    notes.push(format!(
                        "job: aws s3control create-job --cli-input-json file://{}",
                        job_path.display()
                    ));
                }
            }
            inventory_output::write_inventory(&mut out, &run, &notes, format)?;
            Ok(if run.report.bad_rows.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Prices => {
            use std::io::Write;
            out.write_all(crate::inventory::prices::DEFAULT_PRICES.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay {
            from,
            function,
            to_queue,
            apply,
            max,
            format,
        } => {
            use std::io::Write;
            let target = match (function, to_queue) {
                (Some(name), None) => replay::Target::Function(name),
                (None, Some(url)) => replay::Target::Queue(url),
                _ => {
                    return Err(CliError::Usage(
                        "name one target: --function FUNCTION or --to-queue QUEUE_URL".into(),
                    ));
                }
            };
            if format == Format::Csv {
                return Err(CliError::Usage(
                    "replay prints a table or JSON (--format table|json)".into(),
                ));
            }
            let clients = replay::Clients::from_env().await;
            let max = usize::try_from(max).unwrap_or(usize::MAX);
            let stop = interrupt::first_interrupt();
            let results = replay::replay(&clients, &from, &target, apply, max, stop).await?;
            match format {
                Format::Json => {
                    serde_json::to_writer_pretty(&mut out, &results)
                        .map_err(std::io::Error::from)?;
                    writeln!(out)?;
                }
                _ => out.write_all(replay::table(&results).as_bytes())?,
            }
            let left_unreplayed = apply && results.iter().any(|r| !r.deleted);
            Ok(if left_unreplayed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        let url: S3Url = "s3://bucket/a b/c+d".parse().unwrap();
        assert_eq!(
            (url.bucket.as_str(), url.key.as_str()),
            ("bucket", "a b/c+d")
        );
        let url: S3Url = "s3://bucket".parse().unwrap();
        assert_eq!(url.key, "");
        assert!("bucket/key".parse::<S3Url>().is_err());
        assert!("s3:///key".parse::<S3Url>().is_err());
    }

    #[test]
    fn command_line_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "s3pp",
            "scan",
            "s3://b/p",
            "--apply",
            "--concurrency",
            "4",
            "--format",
            "json",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Scan {
                apply: true,
                concurrency: Some(4),
                format: Format::Json,
                ..
            }
        ));
        assert!(Cli::try_parse_from(["s3pp", "scan", "s3://b", "--concurrency", "0"]).is_err());
    }
}
