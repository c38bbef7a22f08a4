//! The start-up both binaries share: command line, config file, logging, runtime.

use crate::config_file::check_section;
use crate::{init_logging, load_section, CommandLine, LogKeys, NodeError};
use clap::Parser;
use serde::de::DeserializeOwned;
use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

/// A node's section of the config file.
pub trait NodeConfig: DeserializeOwned {
    /// `cloud` or `edge`: the section, and the prefix of error messages.
    const SECTION: &'static str;
    /// The checked, parsed form the node runs on.
    type Settings;
    /// Checks the node's own keys; the logging keys are checked by [`run_node`].
    fn validate(&self) -> Result<Self::Settings, NodeError>;
    /// Refuses the shipped placeholder secrets while the node listens beyond loopback (see
    /// [`crate::refuse_placeholders`]). Apart from [`NodeConfig::validate`], whose checks hold
    /// wherever the node listens, so each can be tested on its own.
    fn check_secrets(&self, settings: &Self::Settings) -> Result<(), NodeError>;
    /// The logging keys, which both sections have under the same names, so that both nodes
    /// check them and set logging up in one place.
    fn log_keys(&self) -> LogKeys<'_>;
}

/// Reads the config named on the command line, starts logging and runs `run` on a tokio
/// runtime. Any error is printed as `SECTION: message` and exits with status 1.
pub fn run_node<C, F, Fut, E>(run: F) -> ExitCode
where
    C: NodeConfig,
    F: FnOnce(C::Settings) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let fail = |error: &dyn Display| {
        eprintln!("{}: {error}", C::SECTION);
        ExitCode::FAILURE
    };
    let command_line = CommandLine::parse();
    let load = if command_line.check_config {
        check_section
    } else {
        load_section
    };
    let config: C = match load(&command_line.config, C::SECTION) {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    let settings = match config.validate() {
        Ok(settings) => settings,
        Err(error) => return fail(&error),
    };
    let log = match config.log_keys().validate(C::SECTION) {
        Ok(log) => log,
        Err(error) => return fail(&error),
    };
    // Reported after an unusable log file, which is found by setting logging up.
    let secrets = config.check_secrets(&settings);
    if command_line.check_config {
        if let Err(error) = secrets {
            return fail(&error);
        }
        println!(
            "{}: {}: config OK",
            C::SECTION,
            command_line.config.display()
        );
        return ExitCode::SUCCESS;
    }
    if let Err(error) = init_logging(&log) {
        return fail(&error);
    }
    if let Err(error) = secrets {
        return fail(&error);
    }
    // A panic anywhere (an RTMP library bug, say) is logged where operators look.
    std::panic::set_hook(Box::new(|info| tracing::error!(%info, "panic")));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}
