//! `s3pp replay`: sends the events in the failure queue (direct delivery) or the dead-letter
//! queue (queue delivery) back to the function — invoking it with each original event, or
//! putting each event back on the event queue — and deletes a message only once its event was
//! handed over (and, when invoked, processed without a failure). A dry run by default: it
//! reads the messages, prints what it would replay, and makes them visible again.
//!
//! Messages are received one at a time when invoking (an invocation may take up to 15
//! minutes, so each message stays hidden for [`INVOKE_VISIBILITY_SECS`]) and ten at a time
//! otherwise. With `--apply`, a message that stays (its event failed again) is kept hidden for
//! the rest of the run (an hour at a time); every message kept is made visible again at the
//! end (or at the first Ctrl-C). A dry run ends when a receive brings nothing new (the queue
//! has gone round), an `--apply` run when the queue has nothing visible left.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_sqs::error::DisplayErrorContext;
use comfy_table::Table;
use futures::FutureExt;
use serde::Serialize;
use serde_json::Value;

use crate::replay::{Replayable, read_message};

use super::CliError;

/// How long a message stays hidden while the function it was sent to runs (Lambda's longest
/// timeout plus a minute).
pub const INVOKE_VISIBILITY_SECS: i32 = 960;
/// How long a message stays hidden while it is sent on or shown.
const MOVE_VISIBILITY_SECS: i32 = 120;
/// How long a message that stays (it failed again) is kept hidden in an `--apply` run, renewed
/// whenever it comes back during the run; the end of the run (or the first Ctrl-C) makes it
/// visible again, and a killed run leaves it hidden at most this long.
const KEEP_HIDDEN_SECS: i32 = 3600;
/// Receives in a row that bring only messages already read before an `--apply` run ends.
const ROUNDS_WITHOUT_NEWS: usize = 3;

/// Where replayed events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Invoke this function (name or ARN) synchronously with each event.
    Function(String),
    /// Send each event to this queue (URL): the stack's event queue in queue delivery.
    Queue(String),
}

/// What happened to one message.
#[derive(Debug, Clone, Serialize)]
pub struct MessageResult {
    /// The SQS message id.
    pub message_id: String,
    /// `bucket/key` of the objects its event names.
    pub objects: Vec<String>,
    /// Why it was in the queue.
    pub origin: String,
    /// `would replay`, `replayed`, or what went wrong.
    pub result: String,
    /// Deleted from the queue (replayed for good).
    pub deleted: bool,
}

/// The SQS and Lambda clients a replay uses.
pub struct Clients {
    /// The queue read from (and, in queue mode, written to).
    pub sqs: aws_sdk_sqs::Client,
    /// The function invoked.
    pub lambda: aws_sdk_lambda::Client,
}

impl Clients {
    /// From the SDK's configuration in the environment (credentials, region,
    /// `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL_LAMBDA`).
    pub async fn from_env() -> Self {
        let sdk_config = crate::setup::sdk_config().await;
        Self {
            sqs: aws_sdk_sqs::Client::new(&sdk_config),
            lambda: aws_sdk_lambda::Client::new(&sdk_config),
        }
    }
}

/// Replays at most `max` messages of `from` to `target`; writes nothing unless `apply`. When
/// `stop` completes (Ctrl-C), no new message is read; kept messages are made visible again.
pub async fn replay(
    clients: &Clients,
    from: &str,
    target: &Target,
    apply: bool,
    max: usize,
    stop: impl Future<Output = ()>,
) -> Result<Vec<MessageResult>, CliError> {
    let (per_receive, visibility) = match target {
        Target::Function(_) if apply => (1, INVOKE_VISIBILITY_SECS),
        _ => (10, MOVE_VISIBILITY_SECS),
    };
    let mut stop = std::pin::pin!(stop);
    let mut results = Vec::new();
    // Each message read and not deleted, by id, with its latest receipt handle.
    let mut kept: HashMap<String, String> = HashMap::new();
    let mut read = HashSet::new();
    let mut rounds_without_news = 0;
    let outcome = async {
        while results.len() < max && stop.as_mut().now_or_never().is_none() {
            let wanted = per_receive.min(max - results.len());
            let received = clients
                .sqs
                .receive_message()
                .queue_url(from)
                .max_number_of_messages(i32::try_from(wanted).unwrap_or(10))
                .visibility_timeout(visibility)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|e| queue_error("receiving from", from, e))?;
            let messages = received.messages();
            let mut new = 0;
            for message in messages {
                let id = message.message_id().unwrap_or_default().to_owned();
                let receipt = message.receipt_handle().unwrap_or_default().to_owned();
                if !read.insert(id.clone()) {
                    // Back after its visibility ran out: not replayed twice in one run, and
                    // hidden again so the run can read the others.
                    if apply {
                        hide_for_the_run(clients, from, &receipt).await;
                    }
                    kept.insert(id, receipt);
                    continue;
                }
                new += 1;
                let result = replay_one(
                    clients,
                    from,
                    target,
                    apply,
                    id.clone(),
                    &receipt,
                    message.body(),
                )
                .await;
                if !result.deleted {
                    if apply {
                        hide_for_the_run(clients, from, &receipt).await;
                    }
                    kept.insert(id, receipt);
                }
                results.push(result);
            }
            // Empty: nothing left to read. Only messages this run has read: a dry run has
            // gone round the queue; an `--apply` run hid them again and goes on, unless that
            // keeps happening.
            if messages.is_empty() {
                break;
            }
            rounds_without_news = if new == 0 { rounds_without_news + 1 } else { 0 };
            if rounds_without_news > 0 && (!apply || rounds_without_news >= ROUNDS_WITHOUT_NEWS) {
                break;
            }
        }
        Ok::<(), CliError>(())
    }
    .await;
    let receipts: Vec<String> = kept.into_values().collect();
    release(clients, from, &receipts).await;
    outcome.map(|()| results)
}

/// Keeps a message that stays in the queue hidden until the run ends (which makes it visible
/// again), so it is not read twice; best effort.
async fn hide_for_the_run(clients: &Clients, from: &str, receipt: &str) {
    let hidden = clients
        .sqs
        .change_message_visibility()
        .queue_url(from)
        .receipt_handle(receipt)
        .visibility_timeout(KEEP_HIDDEN_SECS)
        .send()
        .await;
    if let Err(err) = hidden {
        tracing::debug!(error = %DisplayErrorContext(err), "could not keep a message hidden");
    }
}

/// One message: read it, then (with `apply`) hand its event over and delete it.
async fn replay_one(
    clients: &Clients,
    from: &str,
    target: &Target,
    apply: bool,
    message_id: String,
    receipt: &str,
    body: Option<&str>,
) -> MessageResult {
    let mut result = MessageResult {
        message_id,
        objects: Vec::new(),
        origin: String::new(),
        result: String::new(),
        deleted: false,
    };
    let replayable = match read_message(body.unwrap_or_default()) {
        Ok(replayable) => replayable,
        Err(err) => {
            result.result = err.to_string();
            return result;
        }
    };
    result.objects = replayable.objects.clone();
    result.origin = replayable.origin.describe();
    if !apply {
        result.result = match target {
            Target::Function(name) => format!("would invoke {name}"),
            Target::Queue(url) => format!("would send to {url}"),
        };
        return result;
    }
    match hand_over(clients, target, &replayable).await {
        Ok(done) => {
            let deleted = clients
                .sqs
                .delete_message()
                .queue_url(from)
                .receipt_handle(receipt)
                .send()
                .await;
            match deleted {
                Ok(_) => {
                    result.result = done;
                    result.deleted = true;
                }
                // Replayed, but still in the queue: a later run replays it again, which the
                // function's conditional writes make harmless.
                Err(e) => {
                    result.result = format!(
                        "{done}; deleting the message failed ({}), so it stays and a later run replays it again",
                        DisplayErrorContext(e)
                    );
                }
            }
        }
        Err(why) => result.result = why,
    }
    result
}

/// Sends the event on; `Ok` says what happened, `Err` why the message stays.
async fn hand_over(
    clients: &Clients,
    target: &Target,
    replayable: &Replayable,
) -> Result<String, String> {
    match target {
        Target::Queue(url) => clients
            .sqs
            .send_message()
            .queue_url(url)
            .message_body(&replayable.payload)
            .send()
            .await
            .map(|_| format!("sent to {url}"))
            .map_err(|e| format!("sending to {url} failed: {}", DisplayErrorContext(e))),
        Target::Function(name) => {
            let output = clients
                .lambda
                .invoke()
                .function_name(name)
                .invocation_type(InvocationType::RequestResponse)
                .payload(Blob::new(replayable.payload.as_bytes()))
                .send()
                .await
                .map_err(|e| {
                    let why = e
                        .message()
                        .map(str::to_owned)
                        .unwrap_or_else(|| DisplayErrorContext(&e).to_string());
                    format!("invoking {name} failed: {why}")
                })?;
            judge_invocation(
                output.function_error(),
                output.payload().map(|p| p.as_ref()).unwrap_or_default(),
            )
        }
    }
}

/// Whether a synchronous invocation processed the event: Lambda answers a function error with
/// HTTP 200, `X-Amz-Function-Error` and the error as the payload (Lambda API reference,
/// Invoke); an SQS-shaped answer with `batchItemFailures` failed for those messages.
pub fn judge_invocation(function_error: Option<&str>, payload: &[u8]) -> Result<String, String> {
    let response: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    if let Some(error) = function_error {
        return Err(format!(
            "the function failed again ({error}): {}",
            brief(&response)
        ));
    }
    let unprocessed = response["batchItemFailures"].as_array().map_or(0, Vec::len);
    if unprocessed > 0 {
        return Err(format!(
            "the function failed again for {unprocessed} message(s): {}",
            brief(&response)
        ));
    }
    Ok(format!("replayed: {}", brief(&response)))
}

/// The function's answer in a few words: its summary of outcomes, or its error message.
fn brief(response: &Value) -> String {
    if let Some(summary) = response["summary"].as_object() {
        let parts: Vec<String> = summary.iter().map(|(k, v)| format!("{k} {v}")).collect();
        return parts.join(", ");
    }
    if let Some(message) = response["errorMessage"].as_str() {
        return message.chars().take(300).collect();
    }
    response.to_string().chars().take(300).collect()
}

/// Makes the kept messages visible again (best effort: they reappear on their own anyway).
async fn release(clients: &Clients, from: &str, receipts: &[String]) {
    for receipt in receipts {
        if let Err(err) = clients
            .sqs
            .change_message_visibility()
            .queue_url(from)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
        {
            eprintln!(
                "note: a message stays hidden until its visibility timeout: {}",
                DisplayErrorContext(err)
            );
        }
    }
}

fn queue_error(
    action: &'static str,
    queue: &str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> CliError {
    CliError::Queue {
        action,
        queue: queue.to_owned(),
        message: DisplayErrorContext(err).to_string(),
    }
}

/// The results as a table (one row per message) and a count line.
pub fn table(results: &[MessageResult]) -> String {
    let mut table = Table::new();
    table.set_header(["message", "objects", "why it failed", "result"]);
    for r in results {
        table.add_row([
            r.message_id.as_str(),
            &r.objects.join("\n"),
            &r.origin,
            &r.result,
        ]);
    }
    let deleted = results.iter().filter(|r| r.deleted).count();
    format!(
        "{table}\n{} message(s) read, {deleted} replayed and deleted, {} left in the queue\n",
        results.len(),
        results.len() - deleted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_error_keeps_the_message() {
        let payload = br#"{"errorType":"RecordsFailed","errorMessage":"1 of 1 records failed: b/k: Failed: NoSuchBucket"}"#;
        let why = judge_invocation(Some("Unhandled"), payload).expect_err("failed");
        assert_eq!(
            why,
            "the function failed again (Unhandled): 1 of 1 records failed: b/k: Failed: NoSuchBucket"
        );
    }

    #[test]
    fn a_processed_event_reports_the_outcomes() {
        let payload = br#"{"dry_run":false,"summary":{"applied":1,"compliant":2},"objects":[]}"#;
        assert_eq!(
            judge_invocation(None, payload),
            Ok("replayed: applied 1, compliant 2".to_owned())
        );
    }

    #[test]
    fn unprocessed_messages_in_the_answer_keep_the_message() {
        let payload = br#"{"summary":{"failed":1},"batchItemFailures":[{"itemIdentifier":"m1"}]}"#;
        let why = judge_invocation(None, payload).expect_err("failed");
        assert!(why.contains("for 1 message(s)"), "{why}");
    }
}
