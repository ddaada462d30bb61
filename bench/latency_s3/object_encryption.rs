//! UpdateObjectEncryption (`PUT /{bucket}/{key}?encryption` with an `ObjectEncryption`
//! document): the object's server-side encryption becomes SSE-KMS under the named key ARN, with
//! nothing else changed (ETag, Last-Modified, class, tags), archived objects included, at any
//! size. As the S3 API reference describes it: the source must be SSE-S3 or SSE-KMS, and the key
//! must be named by its ARN.

use hyper::StatusCode;

use super::{Answer, S3Error, S3Request, Sse, Store, element};

impl Store {
    pub(super) fn update_object_encryption(
        &mut self,
        request: &S3Request,
    ) -> Result<Answer, S3Error> {
        let document = request.body_text();
        let key_arn = element(&document, "KMSKeyArn").ok_or_else(|| {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our \
                 published schema",
            )
        })?;
        if !(key_arn.starts_with("arn:") && key_arn.contains(":key/")) {
            return Err(S3Error::invalid_argument(
                "The KMS key must be specified by its key ARN",
            ));
        }
        let bucket_key = element(&document, "BucketKeyEnabled").is_some_and(|v| v.trim() == "true");
        let object = self.object_mut(&request.bucket, &request.key)?;
        if matches!(object.sse, Sse::Kms { dsse: true, .. }) {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "The object's current encryption type cannot be updated",
            ));
        }
        object.sse = Sse::Kms {
            dsse: false,
            key_id: key_arn,
            bucket_key,
        };
        Ok(Answer::ok())
    }
}
