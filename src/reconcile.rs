//! One object, end to end: HEAD it (with the backup copy beside it, when the event decides
//! that copy: [`early_backup`]), pick its rule, read what the plan needs, plan, apply, and
//! report what happened. Every failure becomes an outcome in the report, never a panic.

mod annotation_evidence;
#[cfg(test)]
mod annotation_tests;
mod early_backup;
#[cfg(test)]
mod identity_tests;
mod keyed_writes;
mod lock_evidence;
mod noncurrent;
mod refused_head;
mod rekey_fallback;
#[cfg(test)]
mod rekey_tests;
#[cfg(test)]
mod test_support;

use serde::Serialize;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use crate::apply::copy::{CopyError, CopySettings};
use crate::apply::{ApplyError, apply};
use crate::object::{Acl, ObjectHead, ObjectLocation, ObjectLock, ObjectRef, Tags};
use crate::plan::{Action, BackupState, Plan, PlanInput, plan, wants_rewrite};
use crate::policy::{Policy, Rule};
use crate::store::bucket_facts::BucketFacts;
use crate::store::server::ServerSupport;
use crate::store::{ObjectStore, StoreError};
use early_backup::{EarlyBackup, EarlyCopy};
use noncurrent::Noncurrent;

/// How reconciling one object ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Actions were applied.
    Applied,
    /// Every requirement of the rule is met; nothing written.
    Compliant,
    /// Dry run: the actions were planned and not applied.
    Planned,
    /// No rule covers the object.
    NoRule,
    /// The object no longer exists.
    Gone,
    /// A newer object replaced the one the event is about; that object's own event handles it.
    Stale,
    /// Left (partly) undone on purpose, with notes saying what and why: an archived object
    /// not restored, the cost guard, SSE-C or DSSE encryption, Object Lock, a backup copy
    /// itself, or an event that is not about a created object. What could be done was done
    /// (see `actions`).
    Skipped,
    /// Failed; the invocation reports an error so the event is retried.
    Failed,
}

/// What happened to one object, as logged and returned in the invocation response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectReport {
    /// Bucket.
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    /// Version id from the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The rule that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Actions applied (or planned, in a dry run; or attempted, when failed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    /// Why something was left alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// S3 error code (or our classification) when failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Error message when failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The failure may go away on a retry (throttling, 5xx, timeouts).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub transient: bool,
    /// Size in bytes as HEAD saw it (for the bytes-copied metric; not in the response).
    #[serde(skip)]
    pub size: Option<u64>,
}

impl ObjectReport {
    /// A report with just the object and outcome filled in.
    pub fn new(location: &ObjectLocation, outcome: Outcome) -> Self {
        Self {
            bucket: location.bucket.clone(),
            key: location.key.clone(),
            version_id: location.version_id.clone(),
            rule: None,
            outcome,
            actions: Vec::new(),
            notes: Vec::new(),
            error_code: None,
            error: None,
            transient: false,
            size: None,
        }
    }

    /// `bucket/key: outcome[: actions | error]`, for result strings and error summaries.
    pub fn short_summary(&self) -> String {
        let mut text = format!("{}/{}: {:?}", self.bucket, self.key, self.outcome);
        if let Some(error) = &self.error {
            text.push_str(&format!(
                ": {}: {error}",
                self.error_code.as_deref().unwrap_or_default()
            ));
        } else if !self.actions.is_empty() {
            let names: Vec<&str> = self.actions.iter().map(Action::name).collect();
            text.push_str(&format!(": {}", names.join(",")));
        }
        if self.outcome == Outcome::Skipped && !self.notes.is_empty() {
            text.push_str(&format!(" ({})", self.notes.join("; ")));
        }
        text
    }

    fn failed(mut self, code: &str, error: impl ToString) -> Self {
        self.outcome = Outcome::Failed;
        self.error_code = Some(code.to_owned());
        self.error = Some(error.to_string());
        self
    }

    fn failed_store(self, err: &StoreError) -> Self {
        let transient = err.is_transient();
        let mut report = self.failed(err.code(), err);
        report.transient = transient;
        report
    }

    fn with_note(mut self, outcome: Outcome, note: impl Into<String>) -> Self {
        self.outcome = outcome;
        self.notes.push(note.into());
        self
    }
}

/// How to reconcile: dry run, copy settings, the invocation's deadline, and the server's
/// behaviours.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Plan and report only.
    pub dry_run: bool,
    /// Single vs multipart copies.
    pub copy: CopySettings,
    /// When the Lambda invocation times out, if known.
    pub deadline: Option<Instant>,
    /// What the S3 server is trusted to do (`If-None-Match` on the backup copy).
    pub server: ServerSupport,
    /// What has been learned about buckets (versioning, Object Lock), shared by every object
    /// of an instance or a run.
    pub facts: Arc<BucketFacts>,
}

/// Brings one object in line with the policy (or, in a dry run, only plans).
pub async fn reconcile<S: ObjectStore>(
    store: &S,
    policy: &Policy,
    object: &ObjectRef,
    options: &Options,
) -> ObjectReport {
    let report = reconcile_inner(store, policy, object, options).await;
    log_report(&report);
    report
}

async fn reconcile_inner<S: ObjectStore>(
    store: &S,
    policy: &Policy,
    object: &ObjectRef,
    options: &Options,
) -> ObjectReport {
    let location = &object.location;
    let report = ObjectReport::new(location, Outcome::NoRule);
    let covered = policy.may_cover(&location.bucket, &location.key)
        || object
            .alternate_key
            .as_deref()
            .is_some_and(|alt| policy.may_cover(&location.bucket, alt));
    if !covered {
        return report;
    }
    if let Some(rule) = policy.backup_rule_for(&location.bucket, &location.key) {
        return report.with_note(
            Outcome::Skipped,
            format!(
                "object is in rule `{}`'s backup location; backups are left as they were copied",
                rule.name
            ),
        );
    }
    if let Some(state) = &options.copy.state
        && state.holds(&location.bucket, &location.key)
    {
        return report.with_note(
            Outcome::Skipped,
            "object is the function's own copy state (COPY_STATE); it is left alone",
        );
    }
    // Checksums are read only when they will be compared (backup currency): checksum mode
    // needs `kms:Decrypt` on SSE-KMS objects, which tag-only or ACL-only rules do not.
    let checksums = policy.rules.iter().any(|rule| rule.backup.is_some());
    let (head, early) = futures::join!(
        head_source(store, object, checksums),
        EarlyBackup::start(store, policy, object, options)
    );
    let mut report = reconcile_head(store, policy, object, options, report, head, &early).await;
    early.account(&mut report);
    report
}

/// What became of a late event's own version, to settle the outcome with.
enum LateVersion {
    /// The event is about the current object.
    Current,
    /// Its version was kept in the backup's history now, or already was.
    Kept {
        /// Whether it was already there.
        already: bool,
    },
    /// Its version could not be kept (a requirement left unmet, in the notes).
    NotKept,
}

/// The rest of [`reconcile_inner`], once HEAD answered (and any early backup copy is done).
async fn reconcile_head<S: ObjectStore>(
    store: &S,
    policy: &Policy,
    object: &ObjectRef,
    options: &Options,
    mut report: ObjectReport,
    head: Result<Option<ObjectHead>, (ObjectLocation, StoreError)>,
    early: &EarlyCopy,
) -> ObjectReport {
    let mut head = match head {
        Ok(Some(head)) => head,
        Ok(None) => return missing_object(store, report).await,
        Err((location, StoreError::Service { status: 400, .. })) => {
            return refused_head::explain(store, &location, report).await;
        }
        Err((_, err)) => return report.failed_store(&err),
    };
    report.key.clone_from(&head.location.key);
    report.size = Some(head.size);
    // S3 omits the tag count both without tags and to a role that may not read them: only the
    // deployment can say its absence means none.
    if head.tag_count.is_none() && options.server.head_reports_tag_count {
        head.tag_count = Some(0);
    }
    lock_evidence::trust_head(&mut head, &options.server);
    let mut earlier_actions = Vec::new();
    let mut late = LateVersion::Current;
    if let Some(reason) = stale_reason(object, &head) {
        match noncurrent::keep_version(store, policy, object, &head, options).await {
            Noncurrent::NotWanted => return report.with_note(Outcome::Stale, reason),
            Noncurrent::Failed(err) => return report.failed_store(&err),
            Noncurrent::AlreadyKept => {
                report.notes.push(format!(
                    "{reason}; that version is already in the backup's history (all_versions)"
                ));
                late = LateVersion::Kept { already: true };
            }
            Noncurrent::NotKept(why) => {
                report.notes.push(format!("{reason}; {why}"));
                late = LateVersion::NotKept;
            }
            Noncurrent::Completed(action) => {
                report.notes.push(format!(
                    "{reason}; that version is in the backup's history, and the annotations it lacked were added (all_versions)"
                ));
                earlier_actions.push(action);
                late = LateVersion::Kept { already: false };
            }
            Noncurrent::Copied(action) => {
                report.notes.push(format!(
                    "{reason}; copied that version into the backup's history (all_versions), then reconciled the current one, whose backup is put back on top"
                ));
                earlier_actions.push(action);
                late = LateVersion::Kept { already: false };
            }
        }
    }
    let Some(rule) = policy.rule_for(&head) else {
        return report;
    };
    let report = ObjectReport {
        rule: Some(rule.name.clone()),
        ..report
    };
    let report = reconcile_current(
        store,
        policy,
        rule,
        options,
        report,
        head,
        early,
        earlier_actions,
    )
    .await;
    settle_late(report, &late)
}

/// The outcome of a late event, once its current object was reconciled: nothing to do for the
/// current object and the version already kept is `stale` (the newer version's event covers
/// it); a version that could not be kept is `skipped`.
fn settle_late(mut report: ObjectReport, late: &LateVersion) -> ObjectReport {
    match (late, report.outcome) {
        (LateVersion::Kept { already: true }, Outcome::Compliant) => {
            report.outcome = Outcome::Stale
        }
        (LateVersion::NotKept, Outcome::Compliant | Outcome::Applied) => {
            report.outcome = Outcome::Skipped;
        }
        _ => {}
    }
    report
}

/// Reads what the plan needs of the current object (tags, ACL, Object Lock where HEAD's
/// silence is no evidence, the backup location), then plans and applies.
#[allow(clippy::too_many_arguments)]
async fn reconcile_current<S: ObjectStore>(
    store: &S,
    policy: &Policy,
    rule: &Rule,
    options: &Options,
    mut report: ObjectReport,
    mut head: ObjectHead,
    early: &EarlyCopy,
    earlier_actions: Vec<Action>,
) -> ObjectReport {
    let tags = match read_tags(store, rule, &head).await {
        Ok(tags) => tags,
        Err(err) => return report.failed_store(&err),
    };
    let acl = if rule.remove_public_acl {
        match store.get_acl(&head.location).await {
            Ok(acl) => Some(acl),
            Err(err) => return report.failed_store(&err),
        }
    } else {
        None
    };
    if head.object_lock == ObjectLock::NotReported && wants_rewrite(&head, rule, policy.ia_min_size)
    {
        lock_evidence::resolve(store, &options.facts, &mut head).await;
    }
    report.actions = earlier_actions;
    // The backup location is read first only when the backup copy cannot ask for an empty
    // destination itself: a dry run (the plan must say what is there), a server that ignores
    // `If-None-Match` on CopyObject, or a multipart copy (its condition is checked at
    // completion, after every part was copied).
    // An early backup copy that was made is checked against the plan (which must ask for that
    // very copy); one refused or failed means something may be there, so it is read first.
    let copy_asks = options.server.copy_if_none_match
        && !options.dry_run
        && options.copy.is_single_copy(head.size);
    let unread = match early {
        EarlyCopy::Written { .. } => true,
        EarlyCopy::NotWritten => false,
        EarlyCopy::NotTried => copy_asks && rule.backup.is_some(),
    };
    let mut backup = if unread {
        BackupState::Unread
    } else {
        match read_backup(store, rule, &head).await {
            Ok(backup) => backup,
            Err(err) => return report.failed_store(&err),
        }
    };
    let annotations =
        match annotation_evidence::of_source(store, options, rule, policy.ia_min_size, &head).await
        {
            Ok(annotations) => annotations,
            Err(err) => return report.failed_store(&err),
        };
    let mut facts = Facts {
        head: &head,
        tags: &tags,
        acl: acl.as_ref(),
        annotations: &annotations,
        early,
        update_encryption: options.server.update_object_encryption
            && !options.facts.lacks_update_encryption(&head.location.bucket),
    };
    let mut rereads = 0;
    loop {
        let backup_annotations =
            match annotation_evidence::of_backup(store, &annotations, &backup, &head).await {
                Ok(found) => found,
                Err(err) => return report.failed_store(&err),
            };
        match plan_and_apply(
            store,
            policy,
            rule,
            &facts,
            (&backup, &backup_annotations),
            report.clone(),
            options,
            rereads < MAX_BACKUP_REREADS,
        )
        .await
        {
            Attempt::Done(report) => return *report,
            // S3 refused UpdateObjectEncryption: plan the copy that re-keys instead, knowing
            // what was written before it (a backup copy is then found where it was made).
            Attempt::WithoutUpdateEncryption(applied) => {
                facts.update_encryption = false;
                if !applied.is_empty() {
                    report.actions.extend(applied);
                    facts.early = &EarlyCopy::NotTried;
                    match read_backup(store, rule, &head).await {
                        Ok(found) => backup = found,
                        Err(err) => return report.failed_store(&err),
                    }
                }
            }
            // Nothing was written: look at the backup location, as without the condition,
            // and plan again (this time the plan knows what is there).
            Attempt::ReadBackupFirst => {
                rereads += 1;
                facts.early = &EarlyCopy::NotTried;
                match read_backup(store, rule, &head).await {
                    Ok(found) => backup = found,
                    Err(err) => return report.failed_store(&err),
                }
            }
        }
    }
}

/// How often the backup location is read again after a backup copy was refused with 412
/// before the object is reported `stale` (the source changed, which its own event handles).
const MAX_BACKUP_REREADS: usize = 2;

/// What was read of the object besides the backup location, and the early backup copy that
/// was made beside HEAD (which the plan must ask for as it was made).
struct Facts<'a> {
    head: &'a ObjectHead,
    tags: &'a Tags,
    acl: Option<&'a Acl>,
    /// The object's annotations, where its copies are multipart.
    annotations: &'a crate::annotations::Annotations,
    early: &'a EarlyCopy,
    /// Whether an encryption-only change may use UpdateObjectEncryption.
    update_encryption: bool,
}

/// How one plan-and-apply ended.
enum Attempt {
    /// With this report.
    Done(Box<ObjectReport>),
    /// Nothing was written, and what is at the backup location must be known first: the
    /// plan, not knowing, held the backup copy back (an archived object, whose restore must
    /// not be asked for a backup that exists), or the copy that asked for an empty
    /// destination was refused with 412 (an object is there, or the source changed since
    /// HEAD, which the next attempt's own conditions find out).
    ReadBackupFirst,
    /// S3 refused UpdateObjectEncryption in a way a copy can do instead: plan again without it,
    /// after these actions that were applied before it.
    WithoutUpdateEncryption(Vec<Action>),
}

#[allow(clippy::too_many_arguments)]
async fn plan_and_apply<S: ObjectStore>(
    store: &S,
    policy: &Policy,
    rule: &Rule,
    facts: &Facts<'_>,
    (backup, backup_annotations): (&BackupState, &crate::annotations::Annotations),
    mut report: ObjectReport,
    options: &Options,
    may_reread: bool,
) -> Attempt {
    let input = PlanInput {
        head: facts.head,
        tags: facts.tags,
        backup,
        ia_min_size: policy.ia_min_size,
        acl: facts.acl,
        update_encryption: facts.update_encryption,
        annotations: facts.annotations,
        backup_annotations,
    };
    let plan = plan(input, rule);
    let backup_unread = matches!(backup, BackupState::Unread);
    let planned_backup = plan
        .actions
        .iter()
        .find(|a| matches!(a, Action::Backup { .. }));
    // A copy made beside HEAD that the plan does not take over: look at what is there now.
    let taken_over = facts.early.taken_over(facts.head, planned_backup);
    let made_early = facts.early.written().is_some();
    if backup_unread && may_reread && (planned_backup.is_none() || (made_early && !taken_over)) {
        return Attempt::ReadBackupFirst;
    }
    report.notes.extend(plan.notes.iter().cloned());
    report.notes.extend(plan.unmet.iter().cloned());
    report.actions.extend(plan.actions.iter().cloned());
    if plan.is_empty() {
        report.outcome = if options.dry_run && !report.actions.is_empty() {
            Outcome::Planned
        } else {
            Outcome::Applied
        };
        return Attempt::Done(Box::new(settle(report, &plan)));
    }
    if options.dry_run {
        report.outcome = Outcome::Planned;
        tracing::info!(
            bucket = report.bucket,
            key = report.key,
            plan = %serde_json::to_string(&plan).unwrap_or_default(),
            "dry run: planned, not applied"
        );
        return Attempt::Done(Box::new(report));
    }
    let remaining = match planned_backup.filter(|_| taken_over) {
        Some(made) => {
            let mut remaining = plan.clone();
            remaining.actions.retain(|action| action != made);
            Cow::Owned(remaining)
        }
        None => Cow::Borrowed(&plan),
    };
    match apply(
        store,
        facts.head,
        &remaining,
        &options.copy,
        options.deadline,
    )
    .await
    {
        Ok(()) => {
            report.outcome = Outcome::Applied;
            let mut report = settle(report, &plan);
            if keyed_writes::wrote_by_key(facts.head, &remaining)
                && let Some(note) = keyed_writes::check_target(store, facts.head).await
            {
                report.outcome = Outcome::Stale;
                report.notes.push(note);
            }
            Attempt::Done(Box::new(report))
        }
        // The backup copy was refused before anything was written: something is at the
        // backup location that the plan did not know (or no longer what it saw), or the
        // source changed. Read the location again and plan again; a source that changed
        // refuses the next copy too, and after a few rounds the object is `stale`.
        Err(err)
            if may_reread
                && err.step == "backup"
                && err.completed == 0
                && matches!(
                    err.source,
                    CopyError::Store(StoreError::PreconditionFailed { .. })
                ) =>
        {
            Attempt::ReadBackupFirst
        }
        Err(err)
            if rekey_fallback::falls_back(&err, &facts.head.location.bucket, &options.facts) =>
        {
            tracing::info!(
                bucket = facts.head.location.bucket,
                key = facts.head.location.key,
                error = %err,
                "UpdateObjectEncryption refused; re-keying by copying"
            );
            let mut applied: Vec<Action> = planned_backup
                .filter(|_| taken_over)
                .into_iter()
                .cloned()
                .collect();
            applied.extend(remaining.actions.iter().take(err.completed).cloned());
            Attempt::WithoutUpdateEncryption(applied)
        }
        Err(err) => Attempt::Done(Box::new(apply_failure(report, &err))),
    }
}

/// The report of a plan whose application failed at `err.step`.
fn apply_failure(report: ObjectReport, err: &ApplyError) -> ObjectReport {
    match &err.source {
        CopyError::DeadlineNear { .. } => {
            let mut report = report.failed("DeadlineNear", err);
            report.transient = true;
            report
        }
        CopyError::Busy { .. } => {
            let mut report = report.failed("CopyInProgress", err);
            report.transient = true;
            report
        }
        CopyError::Store(StoreError::PreconditionFailed { .. }) => report.with_note(
            Outcome::Stale,
            format!("{}: the object changed while being processed; its own event handles the new data", err.step),
        ),
        CopyError::Store(StoreError::NotFound { .. }) => report.with_note(
            Outcome::Gone,
            format!("{}: the object was deleted while being processed", err.step),
        ),
        CopyError::Store(StoreError::InvalidObjectState { .. }) => report.with_note(
            Outcome::Skipped,
            format!("{}: the object is archived (InvalidObjectState); restore it before it can be copied", err.step),
        ),
        CopyError::Store(other) => {
            let transient = other.is_transient();
            let code = other.code().to_owned();
            let mut report = report.failed(&code, err);
            report.transient = transient;
            report
        }
    }
}

/// The outcome once the plan's writes are done (or there were none): `failed` when a
/// requirement cannot be met (the rest was still applied), `skipped` when some were left
/// undone on purpose, `compliant` when nothing was needed; otherwise as set (`applied`,
/// `planned`).
fn settle(mut report: ObjectReport, plan: &Plan) -> ObjectReport {
    if let Some(failure) = plan.failures.first() {
        let failures: Vec<String> = plan.failures.iter().map(ToString::to_string).collect();
        return report.failed(failure.code(), failures.join("; "));
    }
    if report.outcome == Outcome::Planned {
        return report;
    }
    if !plan.unmet.is_empty() {
        report.outcome = Outcome::Skipped;
    } else if report.actions.is_empty() {
        report.outcome = Outcome::Compliant;
    }
    report
}

/// HEAD of the current object under the decoded key, or else under the key exactly as the
/// event sent it (for envelopes whose key encoding is uncertain); `None` when neither exists.
/// When both exist (`a b` and `a+b`), the one whose version or ETag the event names wins; the
/// decoded key wins when neither or both match.
async fn head_source<S: ObjectStore>(
    store: &S,
    object: &ObjectRef,
    checksums: bool,
) -> Result<Option<ObjectHead>, (ObjectLocation, StoreError)> {
    let location = &object.location;
    let keys = std::iter::once(location.key.as_str()).chain(object.alternate_key.as_deref());
    let mut first_found = None;
    for key in keys {
        let candidate = ObjectLocation::current(&location.bucket, key);
        match head_maybe_with_checksums(store, &candidate, checksums).await {
            Ok(head) if is_described_by(object, &head) => return Ok(Some(head)),
            Ok(head) => {
                first_found.get_or_insert(head);
            }
            Err(StoreError::NotFound { .. }) => continue,
            Err(err) => return Err((candidate, err)),
        }
    }
    Ok(first_found)
}

/// Whether `head` is the object the event is about: the same version, or (unversioned) the
/// same ETag; an event that names neither describes any object under its key.
fn is_described_by(object: &ObjectRef, head: &ObjectHead) -> bool {
    if let Some(version) = &object.location.version_id {
        return head.location.version_id.as_ref() == Some(version);
    }
    object.etag.as_ref().is_none_or(|etag| *etag == head.etag)
}

/// HEAD, with checksum mode when `checksums` is set; a 403 to checksum mode (no `kms:Decrypt`
/// on the object's key) falls back to a plain HEAD, so backup currency is then judged by ETag,
/// size and time instead of failing the object.
async fn head_maybe_with_checksums<S: ObjectStore>(
    store: &S,
    location: &ObjectLocation,
    checksums: bool,
) -> Result<ObjectHead, StoreError> {
    if !checksums {
        return store.head_object(location).await;
    }
    match store.head_object_with_checksums(location).await {
        Err(StoreError::Service { status: 403, .. }) => {
            tracing::debug!(
                bucket = location.bucket,
                key = location.key,
                "HEAD with checksums refused (kms:Decrypt?); reading it without"
            );
            store.head_object(location).await
        }
        other => other,
    }
}

/// A 404 on HEAD means either the object was deleted (fine) or the bucket does not exist
/// (a real failure); HEAD cannot tell which, HeadBucket can.
async fn missing_object<S: ObjectStore>(store: &S, report: ObjectReport) -> ObjectReport {
    match store.head_bucket(&report.bucket).await {
        Ok(()) => report.with_note(
            Outcome::Gone,
            "the object was deleted before it could be processed",
        ),
        Err(StoreError::NotFound { .. }) => {
            let message = format!("bucket {:?} does not exist", report.bucket);
            report.failed("NoSuchBucket", message)
        }
        Err(err) => report.failed_store(&err),
    }
}

/// Why the event no longer describes the current object, if it does not.
fn stale_reason(object: &ObjectRef, head: &ObjectHead) -> Option<String> {
    if let (Some(wanted), Some(current)) = (&object.location.version_id, &head.location.version_id)
        && wanted != current
    {
        return Some(format!(
            "event is for version {wanted} but {current} is current; the newer version's event handles it"
        ));
    }
    match &object.etag {
        Some(etag) if object.location.version_id.is_none() && *etag != head.etag => Some(format!(
            "event is for ETag {etag} but the object now has {}; the newer object's event handles it",
            head.etag
        )),
        _ => None,
    }
}

async fn read_tags<S: ObjectStore>(
    store: &S,
    rule: &Rule,
    head: &ObjectHead,
) -> Result<Tags, StoreError> {
    if rule.tags.is_empty() || head.tag_count == Some(0) {
        return Ok(Tags::new());
    }
    store.get_tags(&head.location).await
}

async fn read_backup<S: ObjectStore>(
    store: &S,
    rule: &Rule,
    head: &ObjectHead,
) -> Result<BackupState, StoreError> {
    let Some(spec) = &rule.backup else {
        return Ok(BackupState::Absent);
    };
    let location = ObjectLocation::current(
        &spec.bucket,
        spec.key_for(&head.location.bucket, &head.location.key),
    );
    if location.bucket == head.location.bucket && location.key == head.location.key {
        return Ok(BackupState::Absent);
    }
    match head_maybe_with_checksums(store, &location, true).await {
        Ok(backup) => Ok(BackupState::Found(Box::new(backup))),
        Err(StoreError::NotFound { .. }) => Ok(BackupState::Absent),
        Err(err) => Err(err),
    }
}

fn log_report(report: &ObjectReport) {
    let actions: Vec<&str> = report.actions.iter().map(Action::name).collect();
    let actions = actions.join(",");
    let notes = report.notes.join("; ");
    let rule = report.rule.as_deref().unwrap_or("-");
    let (bucket, key) = (report.bucket.as_str(), report.key.as_str());
    match report.outcome {
        Outcome::Failed => tracing::error!(
            bucket,
            key,
            rule,
            error_code = report.error_code.as_deref().unwrap_or_default(),
            error = report.error.as_deref().unwrap_or_default(),
            "object failed"
        ),
        Outcome::Gone => tracing::warn!(bucket, key, notes, "object gone"),
        Outcome::NoRule => tracing::debug!(bucket, key, "no rule matches; left alone"),
        outcome => tracing::info!(
            bucket,
            key,
            rule,
            ?outcome,
            actions,
            notes,
            "object reconciled"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::StorageClass;
    use crate::policy::document::parse_policy;
    use crate::store::counting::CountingStore;
    use crate::store::faults::FaultInjectingStore;
    use crate::store::intercept::Operation;
    use crate::store::memory::MemoryStore;

    const POLICY: &str = "encryption: { algorithm: aws:kms, kms_key_id: key-1 }\nstorage_class: GLACIER\nbackup: backup-bucket\ntags: { processed-by: s3pp }";

    type TestStore = CountingStore<FaultInjectingStore<MemoryStore>>;

    fn setup() -> (TestStore, Policy) {
        let store = MemoryStore::new();
        store.create_bucket("src-bucket");
        store.create_bucket("backup-bucket");
        store.put("src-bucket", "k", b"hello", "text/plain");
        (
            CountingStore::new(FaultInjectingStore::new(store)),
            parse_policy(POLICY).unwrap(),
        )
    }

    fn memory(store: &TestStore) -> &MemoryStore {
        store.inner().inner()
    }

    fn apply() -> Options {
        super::test_support::options(
            crate::apply::copy::MAX_SINGLE_COPY,
            8 * 1024 * 1024,
            ServerSupport::S3_WITH_READS,
        )
    }

    fn object(bucket: &str, key: &str) -> ObjectRef {
        ObjectRef {
            location: ObjectLocation::current(bucket, key),
            etag: None,
            size: None,
            sequencer: None,
            event_name: Some("ObjectCreated:Put".into()),
            alternate_key: None,
        }
    }

    #[tokio::test]
    async fn applies_once_then_is_compliant() {
        let (store, policy) = setup();
        let first = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(first.outcome, Outcome::Applied, "{first:?}");
        assert_eq!(
            store.counts().writes(),
            2,
            "backup + one rewrite carrying tags"
        );
        let stored = memory(&store).object("src-bucket", "k").unwrap();
        assert_eq!(stored.body, b"hello");
        assert_eq!(stored.storage_class.as_str(), "GLACIER");
        assert_eq!(
            stored.tags.get("processed-by").map(String::as_str),
            Some("s3pp")
        );
        assert_eq!(
            memory(&store)
                .object("backup-bucket", "src-bucket/k")
                .unwrap()
                .body,
            b"hello"
        );

        let second = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(second.outcome, Outcome::Compliant, "{second:?}");
        assert_eq!(store.counts().writes(), 2, "no further writes");
    }

    /// The common path on S3: HEAD, the backup copy asking for an empty destination, one
    /// rewrite. No tag read (HEAD reports no tags) and no HEAD of the backup location.
    #[tokio::test]
    async fn a_new_object_takes_three_requests() {
        let (store, policy) = setup();
        let report = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
        let counts = store.counts();
        assert_eq!(
            (counts.heads, counts.get_tags, counts.copies),
            (1, 0, 2),
            "{counts:?}"
        );
        assert!(
            matches!(
                report.actions[0],
                Action::Backup {
                    condition: crate::plan::BackupCondition::OnlyIfAbsent,
                    ..
                }
            ),
            "{report:?}"
        );
    }

    /// A redelivery: the backup copy's `If-None-Match` is refused, the HEAD that follows finds
    /// the backup current, and nothing at all changes. When the object is now archived (the
    /// first delivery moved it to GLACIER) the plan cannot copy it, so it looks at the backup
    /// first instead (and asks for no restore).
    #[tokio::test]
    async fn a_redelivery_finds_the_backup_current_and_changes_nothing() {
        let ia = "ia_min_size: 0\nrules:\n  - encryption: AES256\n    storage_class: STANDARD_IA\n    backup: backup-bucket\n    tags: { processed-by: s3pp }";
        for (policy, refused_copies) in [(ia, 1), (POLICY, 0)] {
            let (store, _) = setup();
            let policy = parse_policy(policy).unwrap();
            reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
            let source = memory(&store).object("src-bucket", "k");
            let backup = memory(&store).object("backup-bucket", "src-bucket/k");
            let before = store.counts();
            let again = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
            assert_eq!(again.outcome, Outcome::Compliant, "{again:?}");
            assert!(again.actions.is_empty(), "{again:?}");
            assert_eq!(memory(&store).object("src-bucket", "k"), source);
            assert_eq!(
                memory(&store).object("backup-bucket", "src-bucket/k"),
                backup
            );
            let after = store.counts();
            assert_eq!(after.copies - before.copies, refused_copies, "{after:?}");
            assert_eq!(after.heads - before.heads, 2, "the source, then the backup");
            assert_eq!(after.restores, 0);
        }
    }

    /// An object at the backup location that is not recorded as a backup of this source, in a
    /// bucket without versioning, whenever it was written: the conditional copy is refused,
    /// the HEAD that follows shows no record, and it is left alone (reported, not overwritten),
    /// while the rewrite still happens.
    #[tokio::test]
    async fn an_unrecorded_object_at_the_backup_location_is_never_overwritten() {
        let (store, policy) = setup();
        memory(&store).put(
            "backup-bucket",
            "src-bucket/k",
            b"someone else's",
            "text/plain",
        );
        let report = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(report.outcome, Outcome::Skipped, "{report:?}");
        assert!(
            report.notes.iter().any(|n| n.contains("not overwritten")),
            "{report:?}"
        );
        let kept = memory(&store)
            .object("backup-bucket", "src-bucket/k")
            .unwrap();
        assert_eq!(kept.body, b"someone else's");
        let source = memory(&store).object("src-bucket", "k").unwrap();
        assert_eq!(source.storage_class.as_str(), "GLACIER", "the rewrite ran");
    }

    /// A backup recorded as an earlier write of this source is replaced: the copy asking for
    /// an empty destination is refused, HEAD shows the record, and the copy replaces exactly
    /// that object (`If-Match` its ETag).
    #[tokio::test]
    async fn an_earlier_backup_of_this_source_is_replaced() {
        let (store, _) = setup();
        let policy = parse_policy("backup: backup-bucket").unwrap();
        memory(&store).put("src-bucket", "k", b"yesterday", "text/plain");
        reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        let earlier = memory(&store)
            .object("backup-bucket", "src-bucket/k")
            .unwrap();
        memory(&store).put("src-bucket", "k", b"today", "text/plain");
        let before = store.counts();
        let report = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
        assert!(
            matches!(&report.actions[0], Action::Backup { condition: crate::plan::BackupCondition::Replacing(etag), .. } if *etag == earlier.etag),
            "{report:?}"
        );
        let backup = memory(&store)
            .object("backup-bucket", "src-bucket/k")
            .unwrap();
        assert_eq!(backup.body, b"today");
        assert_eq!(
            store.counts().copies - before.copies,
            2,
            "refused, then replacing"
        );
    }

    /// A server that ignores `If-None-Match` on CopyObject (`S3_COPY_IF_NONE_MATCH=false`), and
    /// a dry run: the backup location is read before planning.
    #[tokio::test]
    async fn without_the_condition_or_in_a_dry_run_the_backup_is_read_first() {
        for options in [
            Options {
                server: ServerSupport::MINIMAL,
                ..apply()
            },
            Options {
                dry_run: true,
                ..apply()
            },
        ] {
            let (store, policy) = setup();
            let report = reconcile(&store, &policy, &object("src-bucket", "k"), &options).await;
            assert_eq!(store.counts().heads, 2, "source and backup: {report:?}");
            assert!(
                matches!(
                    report.actions[0],
                    Action::Backup {
                        condition: crate::plan::BackupCondition::OnlyIfAbsent,
                        ..
                    }
                ),
                "{report:?}"
            );
        }
    }

    #[tokio::test]
    async fn missing_object_is_gone_but_missing_bucket_fails() {
        let (store, policy) = setup();
        let gone = reconcile(&store, &policy, &object("src-bucket", "deleted"), &apply()).await;
        assert_eq!(gone.outcome, Outcome::Gone);
        let failed = reconcile(&store, &policy, &object("no-bucket", "k"), &apply()).await;
        assert_eq!(failed.outcome, Outcome::Failed);
        assert_eq!(failed.error_code.as_deref(), Some("NoSuchBucket"));
    }

    #[tokio::test]
    async fn changed_object_during_rewrite_is_stale_not_failed() {
        let (store, policy) = setup();
        // Copy 1 is the backup, copy 2 the rewrite.
        store.inner().fail_call(
            Operation::CopyObject,
            2,
            StoreError::PreconditionFailed {
                operation: "CopyObject",
            },
        );
        let report = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(report.outcome, Outcome::Stale, "{report:?}");
    }

    /// A 412 on the backup copy that asked for an empty destination, with nothing at the
    /// backup location: the source changed. The backup location is read again and the copy
    /// sent again a bounded number of times, each refused by its source condition; then the
    /// object is stale and nothing was written.
    #[tokio::test]
    async fn changed_object_during_backup_is_stale_not_retried_forever() {
        let (store, policy) = setup();
        for nth in [1, 2, 3] {
            store.inner().fail_call(
                Operation::CopyObject,
                nth,
                StoreError::PreconditionFailed {
                    operation: "CopyObject",
                },
            );
        }
        let report = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(report.outcome, Outcome::Stale, "{report:?}");
        assert_eq!(store.counts().copies, 3, "{:?}", store.counts());
        assert!(
            memory(&store)
                .object("backup-bucket", "src-bucket/k")
                .is_none()
        );
    }

    #[tokio::test]
    async fn service_errors_fail_the_record_with_their_code() {
        let (store, policy) = setup();
        store.inner().fail_call(
            Operation::CopyObject,
            1,
            StoreError::Service {
                operation: "CopyObject",
                code: "AccessDenied".into(),
                status: 403,
                message: "Access Denied".into(),
            },
        );
        let report = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(report.outcome, Outcome::Failed);
        assert_eq!(report.error_code.as_deref(), Some("AccessDenied"));
        assert!(
            report
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("backup failed"),
            "{report:?}"
        );
    }

    #[tokio::test]
    async fn stale_etag_in_event_skips_the_object() {
        let (store, policy) = setup();
        let mut old = object("src-bucket", "k");
        old.etag = Some("an-older-etag".into());
        let report = reconcile(&store, &policy, &old, &apply()).await;
        assert_eq!(report.outcome, Outcome::Stale);
        assert_eq!(store.counts().writes(), 0);
    }

    /// Defect 4: checksum mode needs `kms:Decrypt`. A rule without a backup never asks for
    /// checksums; a rule with one falls back to a plain HEAD when checksum mode is refused.
    #[tokio::test]
    async fn objects_under_a_key_the_role_cannot_use_still_get_tags_and_backups() {
        let inner = MemoryStore::new();
        inner.create_bucket("src-bucket");
        inner.create_bucket("backup-bucket");
        inner.put("src-bucket", "k", b"hello", "text/plain");
        let kms_key = "arn:aws:kms:us-east-1:111122223333:key/other-teams-key";
        let store = CountingStore::new(FaultInjectingStore::new(inner));
        let rekey = parse_policy(&format!(
            "encryption: {{ algorithm: aws:kms, kms_key_id: \"{kms_key}\" }}"
        ))
        .unwrap();
        let first = reconcile(&store, &rekey, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(first.outcome, Outcome::Applied, "{first:?}");
        memory(&store).deny_kms_decrypt();

        let tag_only = parse_policy("tags: { reviewed: yes }").unwrap();
        let tagged = reconcile(&store, &tag_only, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(tagged.outcome, Outcome::Applied, "{tagged:?}");

        let backup = parse_policy("backup: backup-bucket").unwrap();
        let backed_up = reconcile(&store, &backup, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(backed_up.outcome, Outcome::Applied, "{backed_up:?}");
        assert_eq!(
            memory(&store)
                .object("backup-bucket", "src-bucket/k")
                .map(|o| o.body),
            Some(b"hello".to_vec())
        );
    }

    /// A tag problem never blocks the important work: the backup and the rewrite run, and the
    /// object is reported failed for its tags (visible, retried), not dropped silently.
    #[tokio::test]
    async fn too_many_tags_still_gets_backup_and_rewrite_then_fails() {
        let (store, policy) = setup();
        let full: Tags = (0..10).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let mut stored = memory(&store).object("src-bucket", "k").unwrap();
        stored.tags = full;
        memory(&store).put_object("src-bucket", "k", stored);
        let report = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
        assert_eq!(report.error_code.as_deref(), Some("TooManyTags"));
        assert!(!report.transient);
        let names: Vec<&str> = report.actions.iter().map(Action::name).collect();
        assert_eq!(names, ["backup", "rewrite"]);
        assert!(
            memory(&store)
                .object("backup-bucket", "src-bucket/k")
                .is_some()
        );
        let stored = memory(&store).object("src-bucket", "k").unwrap();
        assert_eq!(stored.storage_class.as_str(), "GLACIER");
        assert_eq!(stored.tags.len(), 10, "the object's own tags are kept");
    }

    /// SSE-C: HEAD without the customer key answers 400, and so does a GET, with S3's code
    /// and message for an object stored with a customer-provided key: that evidence, and only
    /// it, makes the object skipped instead of failing forever into the dead-letter queue.
    #[tokio::test]
    async fn sse_c_objects_are_skipped_with_a_note() {
        let (store, policy) = setup();
        let mut stored = memory(&store).object("src-bucket", "k").unwrap();
        stored.encryption = crate::object::ActualEncryption::Other {
            name: "SSE-C (AES256)".into(),
        };
        memory(&store).put_object("src-bucket", "k", stored);
        let report = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(report.outcome, Outcome::Skipped, "{report:?}");
        assert!(report.notes[0].contains("SSE-C"), "{report:?}");
        assert_eq!(store.counts().writes(), 0);
        assert_eq!(store.counts().gets, 1, "the GET that tells why");
    }

    /// Defect 8: a 400 on HEAD is not evidence of SSE-C. An expired token (the GET says
    /// `ExpiredToken`) fails the object as transient, with what S3 said; a HEAD refused while
    /// the object can be read fails it as transient too. Neither is called skipped.
    #[tokio::test]
    async fn other_400s_on_head_fail_the_object_with_what_s3_said() {
        let bodiless = || StoreError::Service {
            operation: "HeadObject",
            code: "Http400".into(),
            status: 400,
            message: String::new(),
        };
        let (store, policy) = setup();
        store
            .inner()
            .fail_call(Operation::HeadObject, 1, bodiless());
        store.inner().fail_call(
            Operation::GetObject,
            1,
            StoreError::Service {
                operation: "GetObject",
                code: "ExpiredToken".into(),
                status: 400,
                message: "The provided token has expired.".into(),
            },
        );
        let report = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
        assert_eq!(report.error_code.as_deref(), Some("ExpiredToken"));
        assert!(report.transient, "{report:?}");

        let (store, policy) = setup();
        store
            .inner()
            .fail_call(Operation::HeadObject, 1, bodiless());
        let report = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
        assert_eq!(report.error_code.as_deref(), Some("HeadRefused"));
        assert_eq!(store.counts().writes(), 0);
    }

    /// Objects in a rule's backup location are backups: left alone, before any request.
    #[tokio::test]
    async fn backups_are_left_alone() {
        let (store, policy) = setup();
        memory(&store).put("backup-bucket", "src-bucket/k", b"copy", "text/plain");
        let report = reconcile(
            &store,
            &policy,
            &object("backup-bucket", "src-bucket/k"),
            &apply(),
        )
        .await;
        assert_eq!(report.outcome, Outcome::Skipped, "{report:?}");
        assert!(report.notes[0].contains("backup location"), "{report:?}");
        assert_eq!(store.counts(), Default::default(), "no request at all");
    }

    /// An archived object gets its tags (no restore needed for that) and is reported skipped
    /// for the copies it cannot get, never compliant.
    #[tokio::test]
    async fn archived_objects_get_tags_and_are_skipped_not_compliant() {
        let (store, _) = setup();
        let mut archived = memory(&store).object("src-bucket", "k").unwrap();
        archived.storage_class = StorageClass::Glacier;
        memory(&store).put_object("src-bucket", "k", archived);
        let policy = parse_policy("backup: backup-bucket\ntags: { processed-by: s3pp }").unwrap();
        let report = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(report.outcome, Outcome::Skipped, "{report:?}");
        let names: Vec<&str> = report.actions.iter().map(Action::name).collect();
        assert_eq!(names, ["put_tags"]);
        assert!(
            report.notes.iter().any(|n| n.contains("needs a restore")),
            "{report:?}"
        );
        assert!(
            memory(&store)
                .object("backup-bucket", "src-bucket/k")
                .is_none()
        );
    }

    /// InvalidObjectState at copy time (archived after HEAD): skipped with a note.
    #[tokio::test]
    async fn invalid_object_state_at_copy_time_is_skipped() {
        let (store, policy) = setup();
        store.inner().fail_call(
            Operation::CopyObject,
            1,
            StoreError::InvalidObjectState {
                operation: "CopyObject",
            },
        );
        let report = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
        assert_eq!(report.outcome, Outcome::Skipped, "{report:?}");
        assert!(report.notes[0].contains("InvalidObjectState"), "{report:?}");
    }

    /// The cost guard leaves the object out of IA on purpose: skipped, every time, with why.
    #[tokio::test]
    async fn cost_guard_is_reported_as_skipped() {
        let (store, _) = setup();
        let policy = parse_policy("storage_class: STANDARD_IA").unwrap();
        for _ in 0..2 {
            let report = reconcile(&store, &policy, &object("src-bucket", "k"), &apply()).await;
            assert_eq!(report.outcome, Outcome::Skipped, "{report:?}");
            assert!(report.notes[0].contains("cost guard"), "{report:?}");
        }
        assert_eq!(store.counts().writes(), 0);
    }

    #[tokio::test]
    async fn dry_run_plans_without_writing() {
        let (store, policy) = setup();
        let dry = Options {
            dry_run: true,
            ..apply()
        };
        let report = reconcile(&store, &policy, &object("src-bucket", "k"), &dry).await;
        assert_eq!(report.outcome, Outcome::Planned);
        assert_eq!(report.actions.len(), 2);
        assert_eq!(store.counts().writes(), 0);
    }
}
