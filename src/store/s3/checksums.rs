//! Every checksum algorithm S3 has, on every request and answer that carries one: CRC64NVME,
//! CRC32, CRC32C, SHA-1, SHA-256, SHA-512, MD5, XXHASH3, XXHASH64 and XXHASH128. Reading one
//! (HEAD, UploadPartCopy, ListParts), restating one (a part on CompleteMultipartUpload), and
//! stating what the completed object must have (a full-object CRC). Which checksum types a
//! multipart upload may have is in [`crate::object::checksum_type_for_multipart`].

use aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::builders::CompletedPartBuilder;
use aws_sdk_s3::types::{ChecksumType, CopyPartResult, Part};

use crate::object::{Checksum, ChecksumKind, checksum_type_for_multipart};

/// The checksum fields of an answer, by algorithm, in the order they are looked at.
fn fields(values: [Option<&str>; 10]) -> impl Iterator<Item = (&'static str, &str)> {
    crate::object::CHECKSUM_ALGORITHMS
        .into_iter()
        .zip(values)
        .filter_map(|(algorithm, value)| value.filter(|v| !v.is_empty()).map(|v| (algorithm, v)))
}

/// The content checksum HEAD reported, with its type when S3 gave one.
pub(super) fn head_checksum(out: &HeadObjectOutput) -> Option<Checksum> {
    let (algorithm, value) = fields([
        out.checksum_crc64_nvme(),
        out.checksum_crc32(),
        out.checksum_crc32_c(),
        out.checksum_sha1(),
        out.checksum_sha256(),
        out.checksum_sha512(),
        out.checksum_md5(),
        out.checksum_xxhash3(),
        out.checksum_xxhash64(),
        out.checksum_xxhash128(),
    ])
    .next()?;
    let found = Checksum::new(algorithm, value);
    Some(match out.checksum_type() {
        Some(ChecksumType::FullObject) => Checksum {
            full_object: true,
            ..found
        },
        Some(ChecksumType::Composite) => Checksum {
            full_object: false,
            ..found
        },
        _ => found,
    })
}

/// The checksum of a copied part, in the upload's algorithm.
pub(super) fn copied_part_checksum(result: &CopyPartResult) -> Option<String> {
    fields([
        result.checksum_crc64_nvme(),
        result.checksum_crc32(),
        result.checksum_crc32_c(),
        result.checksum_sha1(),
        result.checksum_sha256(),
        result.checksum_sha512(),
        result.checksum_md5(),
        result.checksum_xxhash3(),
        result.checksum_xxhash64(),
        result.checksum_xxhash128(),
    ])
    .next()
    .map(|(_, value)| value.to_owned())
}

/// The checksum of a part as ListParts lists it.
pub(super) fn listed_part_checksum(part: &Part) -> Option<String> {
    fields([
        part.checksum_crc64_nvme(),
        part.checksum_crc32(),
        part.checksum_crc32_c(),
        part.checksum_sha1(),
        part.checksum_sha256(),
        part.checksum_sha512(),
        part.checksum_md5(),
        part.checksum_xxhash3(),
        part.checksum_xxhash64(),
        part.checksum_xxhash128(),
    ])
    .next()
    .map(|(_, value)| value.to_owned())
}

/// A part's checksum on the field of the upload's algorithm.
pub(super) fn with_part_checksum(
    part: CompletedPartBuilder,
    algorithm: Option<&str>,
    checksum: Option<&String>,
) -> CompletedPartBuilder {
    let (Some(algorithm), Some(value)) = (algorithm, checksum) else {
        return part;
    };
    match algorithm {
        "CRC64NVME" => part.checksum_crc64_nvme(value),
        "CRC32" => part.checksum_crc32(value),
        "CRC32C" => part.checksum_crc32_c(value),
        "SHA1" => part.checksum_sha1(value),
        "SHA256" => part.checksum_sha256(value),
        "SHA512" => part.checksum_sha512(value),
        "MD5" => part.checksum_md5(value),
        "XXHASH3" => part.checksum_xxhash3(value),
        "XXHASH64" => part.checksum_xxhash64(value),
        "XXHASH128" => part.checksum_xxhash128(value),
        _ => part,
    }
}

/// The checksum type a multipart copy asks for with `algorithm`, as S3's type.
pub(super) fn multipart_checksum_type(algorithm: &str) -> ChecksumType {
    match checksum_type_for_multipart(algorithm) {
        ChecksumKind::FullObject => ChecksumType::FullObject,
        ChecksumKind::Composite => ChecksumType::Composite,
    }
}

/// The full-object checksum S3 must find for the completed upload (`FULL_OBJECT`), on the
/// field of its algorithm; S3 answers `BadDigest` and leaves the upload open when the parts do
/// not add up to it. Only CRCs have full-object multipart checksums: other checksums are not
/// stated (S3 could only compare them with a composite of the parts).
pub(super) fn with_full_object_checksum(
    complete: CompleteMultipartUploadFluentBuilder,
    checksum: &Checksum,
) -> CompleteMultipartUploadFluentBuilder {
    let value = checksum.value.clone();
    let complete = match checksum.algorithm {
        "CRC64NVME" => complete.checksum_crc64_nvme(value),
        "CRC32" => complete.checksum_crc32(value),
        "CRC32C" => complete.checksum_crc32_c(value),
        _ => return complete,
    };
    complete.checksum_type(ChecksumType::FullObject)
}
