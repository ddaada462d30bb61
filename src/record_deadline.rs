//! The per-record deadline: no record may hold an invocation past its Lambda deadline. A
//! multipart copy pauses on its own: it starts no part `CopySettings::deadline_margin` before
//! the deadline, stops waiting for the parts in flight at [`part_cutoff`], and releases its
//! recorded upload for the retry. Anything else still running at the later [`cutoff`] — a
//! single CopyObject of a few GiB, a throttled retry loop — is stopped there and reported as a
//! transient `DeadlineNear` failure, so an SQS batch answers with that record in
//! `batchItemFailures` (and a Batch Operations task as `TemporaryFailure`) instead of the whole
//! batch timing out. Records not yet started at the cut-off are reported the same way.
//!
//! Stopping a record mid-way is safe because every write it makes is conditional or recorded:
//! a copy that lands after the cut-off is found by the retry's HEAD, and a multipart copy's
//! state record names its upload, which the retry takes over once the lease runs out.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::object::ObjectLocation;
use crate::reconcile::{ObjectReport, Outcome};

/// Error code of a record stopped (or never started) at the cut-off; the same code a paused
/// multipart copy reports.
pub const DEADLINE_CODE: &str = "DeadlineNear";

/// The longest the part cut-off comes before the deadline: time to release a paused copy's
/// record, answer and print the metrics.
const MAX_RESPONSE_MARGIN: Duration = Duration::from_secs(1);

/// A tenth of the copy margin, at most [`MAX_RESPONSE_MARGIN`].
fn response_margin(copy_margin: Duration) -> Duration {
    (copy_margin / 10).min(MAX_RESPONSE_MARGIN)
}

/// When a multipart copy stops waiting for the parts in flight and pauses (releasing its
/// record for the retry): the response margin before the deadline.
pub fn part_cutoff(deadline: Option<Instant>, copy_margin: Duration) -> Option<Instant> {
    let margin = response_margin(copy_margin);
    deadline.map(|d| d.checked_sub(margin).unwrap_or(d))
}

/// When records stop: half the response margin before the deadline, after multipart copies
/// have paused cleanly at [`part_cutoff`]. `None` without a deadline (the command line).
pub fn cutoff(deadline: Option<Instant>, copy_margin: Duration) -> Option<Instant> {
    let margin = response_margin(copy_margin) / 2;
    deadline.map(|d| d.checked_sub(margin).unwrap_or(d))
}

/// Runs one record's reconcile unless the cut-off has passed, and stops it there.
pub async fn within<F>(cutoff: Option<Instant>, location: &ObjectLocation, work: F) -> ObjectReport
where
    F: Future<Output = ObjectReport>,
{
    let Some(cutoff) = cutoff else {
        return work.await;
    };
    if Instant::now() >= cutoff {
        return stopped(
            location,
            "not started: the invocation's deadline was near; the retry processes it",
        );
    }
    match tokio::time::timeout_at(tokio::time::Instant::from_std(cutoff), work).await {
        Ok(report) => report,
        Err(_) => stopped(
            location,
            "did not finish before the invocation's deadline and was stopped; its writes are \
             conditional, so the retry picks up where it stopped",
        ),
    }
}

/// A transient `DeadlineNear` failure for `location`.
fn stopped(location: &ObjectLocation, why: &str) -> ObjectReport {
    let mut report = ObjectReport::new(location, Outcome::Failed);
    report.error_code = Some(DEADLINE_CODE.to_owned());
    report.error = Some(why.to_owned());
    report.transient = true;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_leaves_the_copies_their_margin() {
        let deadline = Instant::now() + Duration::from_secs(60);
        let lambda = Duration::from_secs(20);
        assert_eq!(
            part_cutoff(Some(deadline), lambda),
            Some(deadline - Duration::from_secs(1))
        );
        assert_eq!(
            cutoff(Some(deadline), lambda),
            Some(deadline - Duration::from_millis(500))
        );
        let short = Duration::from_secs(1);
        assert_eq!(
            part_cutoff(Some(deadline), short),
            Some(deadline - Duration::from_millis(100))
        );
        assert_eq!(
            cutoff(Some(deadline), short),
            Some(deadline - Duration::from_millis(50))
        );
        assert_eq!(cutoff(None, lambda), None);
    }

    #[tokio::test]
    async fn a_record_past_the_cutoff_is_never_started() {
        let location = ObjectLocation::current("b", "k");
        let past = Instant::now();
        let report = within(Some(past), &location, async {
            panic!("a record past the cut-off must not start")
        })
        .await;
        assert_eq!(report.outcome, Outcome::Failed);
        assert_eq!(report.error_code.as_deref(), Some(DEADLINE_CODE));
        assert!(report.transient);
        assert_eq!((report.bucket.as_str(), report.key.as_str()), ("b", "k"));
    }

    #[tokio::test]
    async fn a_slow_record_is_stopped_at_the_cutoff() {
        let location = ObjectLocation::current("b", "slow");
        let started = Instant::now();
        let cut = started + Duration::from_millis(100);
        let report = within(Some(cut), &location, async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            ObjectReport::new(&ObjectLocation::current("b", "slow"), Outcome::Applied)
        })
        .await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(report.error_code.as_deref(), Some(DEADLINE_CODE));
        assert!(report.transient, "retried, not a permanent failure");
    }
}
