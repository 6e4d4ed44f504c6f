package quarantine

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ReleaseRequest undoes a Move: the quarantined copy goes back to the original bucket and key.
type ReleaseRequest struct {
	FindingID string
	// Object is the original location (its VersionID is the version that was quarantined).
	Object Object
	// Copy is where the Move put it.
	CopyBucket, CopyKey, CopyVersionID string
	// TombstoneVersion, when the Move left one in a versioned bucket, is removed after restoring.
	TombstoneVersion string
	// DroppedTags are the source tags ("key=value") that did not fit on the quarantine copy
	// (S3's limit is 10); they are put back on the restored object.
	DroppedTags []string
	// SourceEncryption is Result.SourceEncryption of the Move: the restored object gets it back.
	// nil: read from the copy's markers; a copy without markers gets the bucket's default.
	SourceEncryption *Encryption
	By               string
}

// Release restores a quarantined object with the same guarantees as Move: the copy back is
// verified before the quarantine version is deleted, other data at the original key is never
// overwritten, and a repeated Release finishes or sees it is done.
func (e *Engine) Release(ctx context.Context, req ReleaseRequest) (*Result, error) {
	o := req.Object
	api, err := e.Clients.S3For(ctx, o.AccountID, o.Region, SessionName(req.FindingID))
	if err != nil {
		return nil, fmt.Errorf("credentials for account %s: %w", o.AccountID, err)
	}
	owner := e.owner(o.AccountID)
	res := &Result{CopyBucket: req.CopyBucket, CopyKey: req.CopyKey, CopyVersionID: req.CopyVersionID, OriginalKey: o.Key}
	tm := timer{now: e.Now, steps: &res.Steps}
	t0 := e.Now()

	// What is at the original key now: nothing, our tombstone, our earlier restore, or other data?
	var tombstoneVersion string
	var restored *copyInfo
	// What the key held when checked; the copy back is conditional on it still holding that.
	ifMatch, ifNoneMatch := (*string)(nil), aws.String("*")
	orig, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.Bucket, Key: &o.Key, ExpectedBucketOwner: owner})
	switch {
	case err == nil && orig.Metadata[MetaReleasedOf] == releaseMarker(req):
		restored = &copyInfo{versionID: aws.ToString(orig.VersionId), size: aws.ToInt64(orig.ContentLength), etag: aws.ToString(orig.ETag)}
	case err == nil && orig.Metadata[MetaFindingID] == req.FindingID:
		tombstoneVersion = aws.ToString(orig.VersionId)
		ifMatch, ifNoneMatch = orig.ETag, nil
	case err == nil:
		return nil, fmt.Errorf("%w: s3://%s/%s was written after the quarantine (ETag %s); the quarantined copy stays at s3://%s/%s — move or rename the new object, then Release again",
			ErrDestinationOccupied, o.Bucket, o.Key, aws.ToString(orig.ETag), req.CopyBucket, req.CopyKey)
	case !isNotFound(err):
		return nil, fmt.Errorf("check original key s3://%s/%s: %w", o.Bucket, o.Key, err)
	}
	// In a versioned bucket the version just older than the restore must be what was newest at
	// this check (our tombstone, or the newest live version under the key's delete marker):
	// anything else was written while the release ran. That is how a server that ignores the
	// conditional headers on the copy is caught.
	newestBefore := ""
	if restored == nil {
		if tombstoneVersion != "" {
			newestBefore = tombstoneVersion
		} else {
			vs, err := listVersions(ctx, api, o.Bucket, o.Key, owner)
			if err != nil {
				return nil, fmt.Errorf("list versions of s3://%s/%s: %w", o.Bucket, o.Key, err)
			}
			if len(vs) > 0 && !vs[0].deleteMarker {
				newestBefore = vs[0].versionID
			}
		}
	}
	if req.TombstoneVersion != "" {
		tombstoneVersion = req.TombstoneVersion
	}

	// The quarantined copy.
	qh, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &req.CopyBucket, Key: &req.CopyKey, VersionId: nonEmpty(req.CopyVersionID),
		ExpectedBucketOwner: owner, ChecksumMode: types.ChecksumModeEnabled})
	tm.step("check", t0)
	if err != nil {
		if isNotFound(err) && restored != nil {
			res.Outcome = AlreadyDone
			return res, e.removeTombstone(ctx, api, o, tombstoneVersion, restored.versionID, owner)
		}
		if isNotFound(err) {
			return nil, fmt.Errorf("%w: the quarantined copy s3://%s/%s (version %s) no longer exists (expired by the retention rule?)",
				ErrObjectGone, req.CopyBucket, req.CopyKey, req.CopyVersionID)
		}
		return nil, fmt.Errorf("check quarantined copy: %w", err)
	}
	src := &source{head: qh, versionID: aws.ToString(qh.VersionId), etag: aws.ToString(qh.ETag), size: aws.ToInt64(qh.ContentLength), checksums: headChecksums(qh)}
	enc := req.SourceEncryption
	if enc == nil {
		enc, _ = fromMarkers(qh.Metadata)
	}
	res.SourceEncryption = enc
	src.versioned = src.versionID != "" && src.versionID != "null"

	if restored == nil {
		if err := checkNullVersionFree(ctx, api, req, owner); err != nil {
			return nil, err
		}
		tagOut, err := api.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &req.CopyBucket, Key: &req.CopyKey, VersionId: nonEmpty(src.versionID), ExpectedBucketOwner: owner})
		if err != nil {
			return nil, fmt.Errorf("read tags of the quarantined copy: %w", err)
		}
		keep := tagOut.TagSet[:0]
		for _, t := range tagOut.TagSet {
			if !isOurTag(aws.ToString(t.Key)) {
				keep = append(keep, t)
			}
		}
		dropped := req.DroppedTags
		if len(dropped) == 0 {
			_, dropped = fromMarkers(qh.Metadata)
		}
		for _, kv := range dropped {
			if k, v, ok := strings.Cut(kv, "="); ok && len(keep) < 10 {
				keep = append(keep, types.Tag{Key: aws.String(k), Value: aws.String(v)})
			}
		}
		spec := transferSpec{checksumAlg: src.checksums.preferred()}
		if enc != nil {
			// Back under the source's own encryption, not the data bucket's default.
			spec.sse = types.ServerSideEncryption(enc.Type)
			if isKMS(spec.sse) {
				spec.kmsKeyID = enc.KMSKeyID
				spec.bucketKey = aws.Bool(enc.BucketKey)
			}
		}
		t0 = e.Now()
		c, err := e.transferOnce(ctx, api, transferSpec{
			srcBucket: req.CopyBucket, srcKey: req.CopyKey, srcVersion: src.versionID, head: qh,
			dstBucket: o.Bucket, dstKey: o.Key, tags: keep, owner: owner,
			sse: spec.sse, kmsKeyID: spec.kmsKeyID, bucketKey: spec.bucketKey, checksumAlg: spec.checksumAlg,
			dstIfMatch: ifMatch, dstIfNoneMatch: ifNoneMatch,
			meta: map[string]string{MetaReleasedOf: releaseMarker(req)},
			landed: func(ctx context.Context) (*copyInfo, error) {
				h, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.Bucket, Key: &o.Key, ExpectedBucketOwner: owner, ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					if isNotFound(err) {
						return nil, nil
					}
					return nil, err
				}
				if h.Metadata[MetaReleasedOf] != releaseMarker(req) {
					return nil, nil
				}
				return copyFromHead(h), nil
			},
		})
		tm.step("copy", t0)
		if err != nil {
			if isStatus(err, http.StatusPreconditionFailed) || isStatus(err, http.StatusConflict) {
				return nil, fmt.Errorf("%w: s3://%s/%s was written while the release ran; the quarantined copy stays at s3://%s/%s — move or rename the new object, then Release again",
					ErrDestinationOccupied, o.Bucket, o.Key, req.CopyBucket, req.CopyKey)
			}
			return nil, fmt.Errorf("restore to s3://%s/%s: %w (the quarantined copy is untouched)", o.Bucket, o.Key, err)
		}
		t0 = e.Now()
		how, err := e.verify(ctx, api, c, src, o.Bucket, o.Key, owner)
		if err != nil {
			return nil, fmt.Errorf("verify restored s3://%s/%s: %w; the quarantined copy was kept", o.Bucket, o.Key, err)
		}
		res.VerifiedBy = how
		tm.step("verify", t0)
		if err := e.checkNothingWrittenUnder(ctx, api, req, c, newestBefore, owner); err != nil {
			return nil, err
		}
		restored = c
	} else if restored.size != src.size {
		return nil, fmt.Errorf("%w: an earlier restore at s3://%s/%s is %d bytes, the quarantined copy %d", ErrCopyMismatch, o.Bucket, o.Key, restored.size, src.size)
	}
	res.SourceVersionID = restored.versionID

	if until, why := lockOf(qh, e.Now()); why != "" {
		res.Outcome, res.SkippedBecause, res.LockedUntil = SourceLocked, "quarantined copy kept: "+why, until
		return res, nil
	}
	t0 = e.Now()
	del := &s3.DeleteObjectInput{Bucket: &req.CopyBucket, Key: &req.CopyKey, VersionId: nonEmpty(src.versionID), ExpectedBucketOwner: owner}
	if _, err := api.DeleteObject(ctx, del); err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("delete the quarantined copy after a verified restore: %w (Release again to finish)", err)
	}
	tm.step("delete", t0)
	res.DeletedVersions = []string{src.versionID}
	res.Outcome = Released
	return res, e.removeTombstone(ctx, api, o, tombstoneVersion, restored.versionID, owner)
}

// checkNothingWrittenUnder is the post-write check of a restore into a versioned bucket: when a
// version other than the one newest at the check sits right under the restore, someone wrote the
// key while the release ran (a server that ignores If-Match/If-None-Match on the copy lets that
// through). The restore is then deleted again, so the new data is current, and the quarantined
// copy stays. In an unversioned bucket nothing can be checked after the fact: only the
// conditional copy protects it.
func (e *Engine) checkNothingWrittenUnder(ctx context.Context, api S3API, req ReleaseRequest, c *copyInfo, newestBefore string, owner *string) error {
	o := req.Object
	if c.versionID == "" || c.versionID == "null" {
		return nil
	}
	vs, err := listVersions(ctx, api, o.Bucket, o.Key, owner)
	if err != nil {
		return fmt.Errorf("list versions of s3://%s/%s after the restore: %w (the quarantined copy is untouched)", o.Bucket, o.Key, err)
	}
	under := ""
	for i, v := range vs {
		if v.versionID == c.versionID {
			if i+1 < len(vs) && !vs[i+1].deleteMarker {
				under = vs[i+1].versionID
			}
			break
		}
	}
	if under == newestBefore {
		return nil
	}
	if _, err := api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &o.Bucket, Key: &o.Key, VersionId: &c.versionID, ExpectedBucketOwner: owner}); err != nil && !isNoSuchVersion(err) {
		return fmt.Errorf("%w: s3://%s/%s was written while the release ran (version %s), and the restore (version %s) on top of it could not be deleted: %v; delete that version by hand; the quarantined copy stays at s3://%s/%s",
			ErrDestinationOccupied, o.Bucket, o.Key, under, c.versionID, err, req.CopyBucket, req.CopyKey)
	}
	return fmt.Errorf("%w: s3://%s/%s was written while the release ran (version %s); the restore was removed again and the quarantined copy stays at s3://%s/%s — move or rename the new object, then Release again",
		ErrDestinationOccupied, o.Bucket, o.Key, under, req.CopyBucket, req.CopyKey)
}

// checkNullVersionFree: in a bucket whose versioning is Suspended a write replaces the key's
// "null" version, so when the key has a null version that is not ours (an object written before
// versioning was enabled, hidden under a delete marker or our tombstone), the restore would
// destroy it. Release then refuses.
func checkNullVersionFree(ctx context.Context, api S3API, req ReleaseRequest, owner *string) error {
	o := req.Object
	vo, err := api.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &o.Bucket, ExpectedBucketOwner: owner})
	if err != nil {
		return fmt.Errorf("read the versioning of s3://%s (the quarantine role needs s3:GetBucketVersioning on it): %w (the quarantined copy is untouched)", o.Bucket, err)
	}
	if vo.Status != types.BucketVersioningStatusSuspended {
		return nil
	}
	h, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.Bucket, Key: &o.Key, VersionId: aws.String("null"), ExpectedBucketOwner: owner})
	if err != nil {
		if isNoSuchVersion(err) || isStatus(err, http.StatusMethodNotAllowed) {
			return nil // no null version (405: it is a delete marker, which holds no data)
		}
		return fmt.Errorf("check the null version of s3://%s/%s (versioning is suspended): %w (the quarantined copy is untouched)", o.Bucket, o.Key, err)
	}
	if h.Metadata[MetaFindingID] == req.FindingID || h.Metadata[MetaReleasedOf] == releaseMarker(req) {
		return nil // our tombstone or our earlier restore
	}
	return fmt.Errorf("%w: versioning of s3://%s is suspended and s3://%s/%s has an older null version (ETag %s) that the restore would replace for good; the quarantined copy stays at s3://%s/%s — copy that version elsewhere or enable versioning, then Release again",
		ErrDestinationOccupied, o.Bucket, o.Bucket, o.Key, aws.ToString(h.ETag), req.CopyBucket, req.CopyKey)
}

// releaseMarker identifies the restore of one quarantined version.
func releaseMarker(req ReleaseRequest) string {
	if req.CopyVersionID != "" {
		return req.CopyVersionID
	}
	return req.FindingID
}

// removeTombstone deletes the tombstone version a Move left in a versioned bucket; in an
// unversioned bucket the restore has already overwritten it.
func (e *Engine) removeTombstone(ctx context.Context, api S3API, o Object, tombstone, restoredVersion string, owner *string) error {
	if tombstone == "" || tombstone == "null" || tombstone == restoredVersion {
		return nil
	}
	_, err := api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &o.Bucket, Key: &o.Key, VersionId: &tombstone, ExpectedBucketOwner: owner})
	if err != nil && !isNoSuchVersion(err) {
		return fmt.Errorf("remove the tombstone version %s of s3://%s/%s: %w (the object itself is restored)", tombstone, o.Bucket, o.Key, err)
	}
	return nil
}
