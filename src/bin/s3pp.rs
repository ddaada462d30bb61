//! `s3pp`, the command line: parse the arguments and hand them to [`s3_policy_processor::cli`].
//! Logs go to stderr (warnings and errors unless `RUST_LOG` says otherwise); results to stdout.

use std::process::ExitCode;

use clap::Parser;
use s3_policy_processor::cli::{Cli, run};
use tracing::level_filters::LevelFilter;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    s3_policy_processor::logging::init(std::io::stderr, LevelFilter::WARN);
    run(Cli::parse()).await
}
