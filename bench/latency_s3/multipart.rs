//! Multipart copies, as the function makes them for objects over its single-copy limit:
//! CreateMultipartUpload, UploadPartCopy (with `x-amz-copy-source-range` and the source
//! conditions), ListParts (pages of at most 1,000 parts), CompleteMultipartUpload (parts in
//! ascending order, every ETag matching, each part but the last at least 5 MiB, the
//! destination conditions and `x-amz-mp-object-size`) and AbortMultipartUpload. Sizes only:
//! a 5 TiB object is 10,000 part records, not bytes.

use std::collections::BTreeMap;
use std::time::SystemTime;

use hyper::StatusCode;

use super::{
    Answer, Object, S3Error, S3Request, Sse, Store, check_destination, element, escape,
    etag_matches, hash_hex, iso8601, parse_tagging_header, quote, sse_from_headers, storage_class,
    user_metadata, write_answer,
};

/// The smallest part S3 accepts, except the last one.
const MIN_PART_BYTES: u64 = 5 << 20;
/// The largest part S3 accepts.
const MAX_PART_BYTES: u64 = 5 << 30;
/// The highest part number.
const MAX_PARTS: i32 = 10_000;

/// One copied part: its size, ETag and what bytes it holds.
#[derive(Debug, Clone)]
struct Part {
    size: u64,
    etag: String,
    content_id: String,
    last_modified: SystemTime,
}

/// An upload in progress: where it completes, the object it will become (less size and ETag),
/// and its parts by number.
#[derive(Debug, Clone)]
pub(super) struct Upload {
    bucket: String,
    key: String,
    template: Object,
    parts: BTreeMap<i32, Part>,
}

fn no_such_upload(upload_id: &str) -> S3Error {
    S3Error::new(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may \
         have been aborted or completed.",
    )
    .with("UploadId", upload_id)
}

/// `bytes=first-last` → (first, last), inclusive.
fn parse_range(range: &str) -> Option<(u64, u64)> {
    let (first, last) = range.strip_prefix("bytes=")?.split_once('-')?;
    let (first, last) = (first.parse().ok()?, last.parse().ok()?);
    (first <= last).then_some((first, last))
}

impl Store {
    fn upload(&self, request: &S3Request) -> Result<&Upload, S3Error> {
        let id = request.query("uploadId").unwrap_or("");
        self.uploads
            .get(id)
            .filter(|u| u.bucket == request.bucket && u.key == request.key)
            .ok_or_else(|| no_such_upload(id))
    }

    pub(super) fn create_multipart_upload(
        &mut self,
        request: &S3Request,
        now: SystemTime,
    ) -> Result<Answer, S3Error> {
        self.bucket(&request.bucket)?;
        let template = Object {
            size: 0,
            content_id: String::new(),
            etag: String::new(),
            last_modified: now,
            content_type: request
                .header("content-type")
                .unwrap_or("binary/octet-stream")
                .to_owned(),
            content_headers: super::content_headers(request),
            metadata: user_metadata(&request.headers),
            storage_class: storage_class(request)?.unwrap_or_else(|| "STANDARD".into()),
            sse: sse_from_headers(request)?.unwrap_or(Sse::Aes256),
            tags: match request.header("x-amz-tagging") {
                Some(text) => parse_tagging_header(text)?,
                None => Vec::new(),
            },
            website_redirect: request
                .header("x-amz-website-redirect-location")
                .map(str::to_owned),
            bytes: None,
        };
        let upload_id = self.random_etag(now);
        let answer = write_answer(
            Answer::xml(format!(
                "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>",
                escape(&request.bucket),
                escape(&request.key)
            )),
            &template,
        );
        self.uploads.insert(
            upload_id,
            Upload {
                bucket: request.bucket.clone(),
                key: request.key.clone(),
                template,
                parts: BTreeMap::new(),
            },
        );
        Ok(answer)
    }

    pub(super) fn upload_part_copy(
        &mut self,
        request: &S3Request,
        now: SystemTime,
    ) -> Result<Answer, S3Error> {
        self.upload(request)?;
        let number: i32 = request
            .query("partNumber")
            .and_then(|n| n.parse().ok())
            .filter(|n| (1..=MAX_PARTS).contains(n))
            .ok_or_else(|| {
                S3Error::invalid_argument("Part number must be an integer between 1 and 10000")
            })?;
        let (_, _, source) = self.copy_source(request)?;
        let (first, last) = match request.header("x-amz-copy-source-range") {
            None => (0, source.size.saturating_sub(1)),
            Some(range) => parse_range(range)
                .filter(|(_, last)| *last < source.size)
                .ok_or_else(|| {
                    S3Error::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidRange",
                        "The requested range is not satisfiable",
                    )
                })?,
        };
        let size = last - first + 1;
        if size > MAX_PART_BYTES {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed object size.",
            ));
        }
        let content_id = hash_hex(&[
            b"range",
            source.content_id.as_bytes(),
            &first.to_le_bytes(),
            &last.to_le_bytes(),
        ]);
        let etag = content_id.clone();
        let id = request.query("uploadId").unwrap_or("").to_owned();
        if let Some(upload) = self.uploads.get_mut(&id) {
            upload.parts.insert(
                number,
                Part {
                    size,
                    etag: etag.clone(),
                    content_id,
                    last_modified: now,
                },
            );
        }
        Ok(Answer::xml(format!(
            "<CopyPartResult><ETag>&quot;{etag}&quot;</ETag><LastModified>{}</LastModified></CopyPartResult>",
            iso8601(now)
        )))
    }

    pub(super) fn list_parts(&self, request: &S3Request) -> Result<Answer, S3Error> {
        let upload = self.upload(request)?;
        let max_parts: usize = match request.query("max-parts") {
            None => 1000,
            Some(text) => text
                .parse::<usize>()
                .map_err(|_| S3Error::invalid_argument("Provided max-parts not an integer"))?
                .min(1000),
        };
        let marker: i32 = match request.query("part-number-marker") {
            None => 0,
            Some(text) => text.parse().map_err(|_| {
                S3Error::invalid_argument("Provided part-number-marker not an integer")
            })?,
        };
        let mut after = upload.parts.range(marker + 1..);
        let page: Vec<(&i32, &Part)> = after.by_ref().take(max_parts).collect();
        let truncated = after.next().is_some();
        let parts: String = page
            .iter()
            .map(|(number, part)| {
                format!(
                    "<Part><PartNumber>{number}</PartNumber><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size></Part>",
                    iso8601(part.last_modified),
                    part.etag,
                    part.size
                )
            })
            .collect();
        let next = page.last().map_or(marker, |(n, _)| **n);
        Ok(Answer::xml(format!(
            "<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId><PartNumberMarker>{marker}</PartNumberMarker><NextPartNumberMarker>{next}</NextPartNumberMarker><MaxParts>{max_parts}</MaxParts><IsTruncated>{truncated}</IsTruncated>{parts}<StorageClass>{}</StorageClass></ListPartsResult>",
            escape(&upload.bucket),
            escape(&upload.key),
            escape(request.query("uploadId").unwrap_or("")),
            upload.template.storage_class
        )))
    }

    pub(super) fn complete_multipart_upload(
        &mut self,
        request: &S3Request,
        now: SystemTime,
    ) -> Result<Answer, S3Error> {
        let upload = self.upload(request)?.clone();
        let named = named_parts(&request.body_text())?;
        let invalid_part = || {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidPart",
                "One or more of the specified parts could not be found. The part may not have \
                 been uploaded, or the specified entity tag may not match the part's entity tag.",
            )
        };
        let mut parts = Vec::with_capacity(named.len());
        for (number, etag) in &named {
            let part = upload.parts.get(number).ok_or_else(invalid_part)?;
            if !etag_matches(etag, &part.etag) {
                return Err(invalid_part());
            }
            parts.push(part);
        }
        if let Some((_, rest)) = parts.split_last()
            && rest.iter().any(|p| p.size < MIN_PART_BYTES)
        {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
            ));
        }
        let size: u64 = parts.iter().map(|p| p.size).sum();
        if let Some(stated) = request.header("x-amz-mp-object-size")
            && stated.parse::<u64>().ok() != Some(size)
        {
            return Err(S3Error::invalid_argument(format!(
                "The provided 'x-amz-mp-object-size' header value {stated} does not match \
                 what was computed: {size}"
            )));
        }
        let existing = self
            .bucket(&request.bucket)?
            .get(&request.key)
            .map(|o| o.etag.clone());
        check_destination(request, existing.as_deref())?;
        let ids: Vec<&[u8]> = parts.iter().map(|p| p.content_id.as_bytes()).collect();
        let content_id = hash_hex(&ids);
        let etag = format!("{}-{}", hash_hex(&[content_id.as_bytes()]), parts.len());
        let object = Object {
            size,
            content_id,
            etag,
            last_modified: now,
            ..upload.template
        };
        let answer = write_answer(
            Answer::xml(format!(
                "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location>/{0}/{1}</Location><Bucket>{0}</Bucket><Key>{1}</Key><ETag>&quot;{2}&quot;</ETag></CompleteMultipartUploadResult>",
                escape(&request.bucket),
                escape(&request.key),
                object.etag
            )),
            &object,
        )
        .header("etag", quote(&object.etag));
        self.uploads.remove(request.query("uploadId").unwrap_or(""));
        self.bucket_mut(&request.bucket)?
            .insert(request.key.clone(), object);
        Ok(answer)
    }

    pub(super) fn abort_multipart_upload(
        &mut self,
        request: &S3Request,
    ) -> Result<Answer, S3Error> {
        self.upload(request)?;
        self.uploads.remove(request.query("uploadId").unwrap_or(""));
        Ok(Answer {
            status: 204,
            ..Answer::default()
        })
    }
}

/// The `(PartNumber, ETag)` pairs of a CompleteMultipartUpload document, checked to ascend.
fn named_parts(document: &str) -> Result<Vec<(i32, String)>, S3Error> {
    let malformed = || {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published \
             schema",
        )
    };
    let mut parts: Vec<(i32, String)> = Vec::new();
    for chunk in document.split("<Part>").skip(1) {
        let number = element(chunk, "PartNumber")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(malformed)?;
        let etag = element(chunk, "ETag")
            .ok_or_else(malformed)?
            .replace("&quot;", "\"");
        if parts.last().is_some_and(|(last, _)| *last >= number) {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidPartOrder",
                "The list of parts was not in ascending order. The parts list must be specified \
                 in order by part number.",
            ));
        }
        parts.push((number, etag));
    }
    if parts.is_empty() {
        return Err(malformed());
    }
    Ok(parts)
}
