//! s3-policy-processor: brings S3 objects in line with a policy (encryption, storage class,
//! backup copy, tags) the moment they are created.
//!
//! The flow is event → [`object::ObjectRef`] → HEAD → pure [`plan::plan`] → [`apply::apply`];
//! see `DESIGN.md` in the shared notes and docs/policy.md for the policy reference.

pub mod annotations;
pub mod apply;
pub mod backup_record;
pub mod batch_report;
pub mod cli;
pub mod config;
pub mod event;
pub mod handler;
pub mod inventory;
pub mod keys;
pub mod kms_aliases;
pub mod lambda;
pub mod logging;
pub mod metrics;
pub mod object;
pub mod optional_actions;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod record_deadline;
pub mod replay;
pub mod setup;
pub mod store;
