//! S3 Batch Operations jobs (invocation schema 1.0 with `s3BucketArn`, 2.0 with `s3Bucket`):
//! each task names one object (a specific version when `s3VersionId` is set).

use serde::Deserialize;
use serde_json::Value;

use super::{EnvelopeKind, EventError, Invocation, RecordItem, Unit, non_empty_version};
use crate::keys::decode_event_key;
use crate::object::{ObjectLocation, ObjectRef};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Task {
    task_id: Option<String>,
    s3_key: Option<String>,
    s3_version_id: Option<String>,
    s3_bucket_arn: Option<String>,
    s3_bucket: Option<String>,
}

/// Parses a Batch Operations invocation; each task is its own unit.
pub fn parse_job(payload: &Value) -> Result<Invocation, EventError> {
    let schema_version = payload["invocationSchemaVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if schema_version != "1.0" && schema_version != "2.0" {
        return Err(EventError::Malformed {
            at: "Batch Operations job".into(),
            message: format!("invocationSchemaVersion {schema_version:?} is not 1.0 or 2.0"),
        });
    }
    let invocation_id = payload["invocationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let tasks = payload["tasks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let units = tasks
        .iter()
        .enumerate()
        .map(|(index, task)| parse_task(index, task))
        .collect();
    Ok(Invocation {
        kind: EnvelopeKind::BatchOperations {
            schema_version,
            invocation_id,
        },
        units,
    })
}

fn parse_task(index: usize, value: &Value) -> Unit {
    let fallback_id = value["taskId"]
        .as_str()
        .map_or_else(|| format!("#{index}"), str::to_owned);
    let task = match Task::deserialize(value) {
        Ok(task) => task,
        Err(e) => return invalid(fallback_id, format!("not a valid task: {e}")),
    };
    let id = task.task_id.unwrap_or(fallback_id);
    let at = format!("task {id}");
    let bucket = task.s3_bucket.or_else(|| {
        task.s3_bucket_arn
            .as_deref()
            .and_then(|arn| arn.rsplit(':').next())
            .map(str::to_owned)
    });
    let (Some(bucket), Some(raw_key)) = (bucket.filter(|b| !b.is_empty()), task.s3_key) else {
        return invalid(
            id,
            format!("{at}: needs s3Key and s3Bucket (2.0) or s3BucketArn (1.0)"),
        );
    };
    let item = match decode_event_key(&raw_key) {
        Ok(key) => RecordItem::Object(ObjectRef {
            location: ObjectLocation {
                bucket,
                version_id: non_empty_version(task.s3_version_id),
                key: key.clone(),
            },
            etag: None,
            size: None,
            sequencer: None,
            event_name: Some("BatchOperations".into()),
            // Manifests may list keys URL-encoded or as they are: try the key as sent too.
            alternate_key: (raw_key != key).then_some(raw_key),
        }),
        Err(source) => RecordItem::Invalid(EventError::BadKey { at, source }),
    };
    Unit {
        id,
        items: vec![item],
    }
}

fn invalid(id: String, message: String) -> Unit {
    Unit {
        items: vec![RecordItem::Invalid(EventError::Malformed {
            at: format!("task {id}"),
            message,
        })],
        id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_invocation;
    use serde_json::json;

    #[test]
    fn both_schema_versions() {
        let v1 = json!({"invocationSchemaVersion": "1.0", "invocationId": "inv", "job": {"id": "j"},
            "tasks": [{"taskId": "t1", "s3Key": "a%20b", "s3VersionId": null, "s3BucketArn": "arn:aws:s3:::src-bucket"}]});
        let v2 = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv", "job": {"id": "j", "userArguments": {}},
            "tasks": [{"taskId": "t2", "s3Key": "k", "s3VersionId": "v9", "s3Bucket": "src-bucket"}, {"taskId": "t3"}]});
        for (payload, id, key, version) in [(v1, "t1", "a b", None), (v2, "t2", "k", Some("v9"))] {
            let invocation = parse_invocation(&payload).unwrap();
            assert!(matches!(
                invocation.kind,
                EnvelopeKind::BatchOperations { .. }
            ));
            assert_eq!(invocation.units[0].id, id);
            let RecordItem::Object(object) = &invocation.units[0].items[0] else {
                panic!()
            };
            assert_eq!(object.location.bucket, "src-bucket");
            assert_eq!(object.location.key, key);
            assert_eq!(object.location.version_id.as_deref(), version);
            if id == "t2" {
                assert!(matches!(
                    invocation.units[1].items[0],
                    RecordItem::Invalid(_)
                ));
            }
        }
    }

    #[test]
    fn unknown_schema_version_is_rejected() {
        let err =
            parse_invocation(&json!({"invocationSchemaVersion": "9", "tasks": []})).unwrap_err();
        assert!(err.to_string().contains("invocationSchemaVersion"), "{err}");
    }
}
